"""The Prometheus placeholders come from the gateway registry: each gateway names the
labels its metrics carry for a bundle, so a new gateway needs no edit in prometheus.py."""

from __future__ import annotations

import ast
from pathlib import Path
from string import Template

import pytest

from compiler.gateways import renderers
from compiler.metrics import MetricError, MetricQuery
from compiler.metrics.prometheus import BUNDLE_PLACEHOLDERS, load_queries, placeholder_names, placeholders, query_sets


def test_the_placeholders_are_the_bundles_then_each_registered_gateways() -> None:
    gateway_names = [name for renderer in renderers().values() if renderer.metric_labels for name in renderer.metric_labels.names]
    assert placeholder_names() == (*BUNDLE_PLACEHOLDERS, *gateway_names)
    assert placeholder_names() == ("window", "release", "version", "envoy_cluster", "litellm_model_ids")
    query = MetricQuery("chat", "v2", "error_rate", 60)
    assert set(placeholders(query)) == {*BUNDLE_PLACEHOLDERS, *gateway_names}


def test_each_gateway_fills_exactly_the_placeholders_it_declares() -> None:
    for name, renderer in renderers().items():
        if renderer.metric_labels is not None:
            assert set(renderer.metric_labels.values("chat", "assistant", "v2")) == set(renderer.metric_labels.names), name


def test_ready_made_queries_use_only_the_bundles_and_their_own_gateways_placeholders() -> None:
    for name, queries in query_sets().items():
        labels = renderers()[name].metric_labels
        own = set(BUNDLE_PLACEHOLDERS) | set(labels.names if labels else ())
        used = {
            match.group("named") or match.group("braced")
            for query in queries.values()
            for text in (query.value, query.samples)
            for match in Template.pattern.finditer(text)
        } - {None}
        assert used <= own, name


def test_the_placeholder_values_are_unchanged_and_escaped_for_promql() -> None:
    query = MetricQuery("support-chat", "v4.1", "error_rate", 600, route_model="support")
    assert placeholders(query) == {
        "release": "support-chat",
        "version": "v4.1",
        "window": "600s",
        "envoy_cluster": "support-chat@v4_1",  # Envoy's stat names have no dots
        "litellm_model_ids": r"support/v4\\.1|support/v4\\.1/mirrored|support@v4\\.1",  # route.model, not the release
    }
    odd = placeholders(MetricQuery('we"ird', "v1", "error_rate", 0.4))
    assert odd["release"] == 'we\\"ird' and odd["envoy_cluster"] == 'we\\"ird@v1' and odd["window"] == "1s"


def test_a_query_file_is_told_every_placeholder_there_is(tmp_path: Path) -> None:
    path = tmp_path / "queries.json"
    path.write_text('{"error_rate": {"value": "rate(x[$windw])", "samples": "vector(1)"}}')
    with pytest.raises(MetricError) as error:
        load_queries(str(path))
    assert "the placeholders are $window, $release, $version, $envoy_cluster, $litellm_model_ids" in str(error.value)


def test_the_prometheus_source_imports_no_gateway_by_name() -> None:
    source = Path(__file__).parents[2] / "compiler" / "metrics" / "prometheus.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    gateways = {f"compiler.gateways.{name}" for name in renderers()}
    assert not imported & gateways
