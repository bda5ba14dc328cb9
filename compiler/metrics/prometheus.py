"""Metrics from Prometheus' HTTP API (`/api/v1/query`), by PromQL templates per metric.

Each metric has two queries: its value over the window and the number of samples it
rests on. Templates use `$window` (seconds, e.g. `600s`), `$release`, `$version`, and
the labels each gateway's metrics carry for the bundle, which the gateway supplies
(`metric_labels`: `$envoy_cluster`, and `$litellm_model_ids`, a regular expression).
Ready-made sets, each supplied by its gateway module (`promql()` in gateways/envoy.py and
litellm.py), read Envoy's and LiteLLM's own metrics for the configs relc renders.
Errors, empty results and NaN are explicit: no data is never healthy.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template

from compiler.metrics import MetricError, MetricQuery, Observation


@dataclass(frozen=True)
class QueryTemplate:
    value: str
    samples: str


def counted(series: str, by: str = "") -> str:
    """The increase of a counter over the window, counting series born inside it.

    `increase()` ignores a series' first sample, and Envoy and LiteLLM create an error
    series at its first error: a candidate that starts failing is exactly a new series,
    and `increase()` alone would read its burst as 0. A series with no sample a window
    ago counts with its whole value (all of it happened inside the window); older ones
    with `increase()`, which also survives counter resets. `by` keeps labels apart (a
    histogram's `le`).
    """
    young = f"({series} unless {series} offset $window)"
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping}((increase({series}[$window]) unless {young}) or {young})"


def ratio(failures: str, total: str) -> QueryTemplate:
    """failures / total over the window, 0 when nothing failed, no data when nothing ran."""
    return QueryTemplate(value=f"({counted(failures)} or vector(0)) / {counted(total)}", samples=counted(total))


def latency(quantile: str, bucket: str, count: str, scale: str = "") -> QueryTemplate:
    """A quantile of the requests inside the window, from a histogram's buckets; the
    buckets of a series born inside the window count too (see `counted`)."""
    return QueryTemplate(
        value=f"histogram_quantile({quantile}, {counted(bucket, by='le')}){scale}",
        samples=counted(count),
    )


def query_sets() -> dict[str, dict[str, QueryTemplate]]:
    """The ready-made PromQL sets, each supplied by the gateway whose metrics it reads."""
    from compiler.gateways import renderers

    return {name: renderer.promql() for name, renderer in renderers().items() if renderer.promql is not None}


def load_queries(name_or_path: str, inside: Path | None = None) -> dict[str, QueryTemplate]:
    """A ready-made set by name, or a JSON/YAML file `{metric: {value: PROMQL, samples: PROMQL}}`
    (with `inside`, a file of that repository, named relative to it, that no link may lead out of)."""
    sets = query_sets()
    if name_or_path in sets:
        return sets[name_or_path]
    from compiler.load import load_file

    document, diagnostics = load_file(Path(name_or_path) if inside is None else inside / name_or_path, name_or_path, inside)
    if document is None:
        raise MetricError(f"cannot read query file {name_or_path}: {diagnostics[0].message if diagnostics else ''}")
    if not isinstance(document.data, dict):
        raise MetricError(f"{name_or_path}: expected a mapping of metric names to {{value, samples}} queries")
    queries = {}
    for metric, entry in document.data.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("value", "samples")):
            raise MetricError(f"{name_or_path}: `{metric}` needs string `value` and `samples` queries")
        for part in ("value", "samples"):
            unknown = _unknown_placeholders(entry[part])
            if unknown:
                raise MetricError(
                    f"{name_or_path}: `{metric}.{part}` uses {', '.join(unknown)}; the placeholders are "
                    f"{', '.join('$' + p for p in placeholder_names())} (write $$ for a literal $)"
                )
        queries[metric] = QueryTemplate(entry["value"], entry["samples"])
    return queries


# Filled for every bundle whatever the gateway; each gateway adds the labels its metrics carry.
BUNDLE_PLACEHOLDERS = ("window", "release", "version")


def placeholder_names() -> tuple[str, ...]:
    """Every placeholder a template may use: the bundle's, then each gateway's."""
    from compiler.gateways import metric_labels

    return BUNDLE_PLACEHOLDERS + tuple(name for labels in metric_labels().values() for name in labels.names)


def _unknown_placeholders(text: str) -> list[str]:
    """`$name`s a template would not fill, and a `$` followed by nothing it can read."""
    known = placeholder_names()
    unknown = []
    for match in Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name is not None and name not in known:
            unknown.append("$" + name)
        elif match.group("invalid") is not None:
            unknown.append(f"a lone `$` at offset {match.start()}")
    return unknown


def _promql_string(text: str) -> str:
    """Text safe inside a double-quoted PromQL string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def placeholders(query: MetricQuery) -> dict[str, str]:
    """The labels each gateway's metrics carry for the bundle, as each gateway names them."""
    from compiler.gateways import metric_labels

    values = {
        "release": _promql_string(query.release),
        "version": _promql_string(query.version),
        "window": f"{max(int(query.window_seconds), 1)}s",
    }
    for labels in metric_labels().values():
        gateway_values = labels.values(query.release, query.public_model, query.version)
        values.update({name: _promql_string(gateway_values[name]) for name in labels.names})
    return values


class PrometheusSource:
    def __init__(self, url: str, queries: dict[str, QueryTemplate], timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.queries = queries
        self.timeout = timeout
        self.description = f"Prometheus at {self.url}"

    def answers(self) -> set[str]:
        return set(self.queries)

    def observe(self, query: MetricQuery) -> Observation:
        template = self.queries.get(query.metric)
        if template is None:
            raise MetricError(f"no Prometheus query for metric `{query.metric}`; add one with --queries FILE")
        values = placeholders(query)
        value = self.scalar(Template(template.value).substitute(values))
        samples = self.scalar(Template(template.samples).substitute(values))
        count = int(round(samples)) if samples is not None and math.isfinite(samples) else 0
        if value is None or math.isnan(value):
            return Observation(None, count)
        return Observation(value, count)

    def scalar(self, promql: str) -> float | None:
        """One number from an instant query; None for an empty result; an error otherwise."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise MetricError(f"Prometheus refused `{promql}`: {_error_text(error.read(), error.code)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise MetricError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        try:
            document = json.loads(body)
        except json.JSONDecodeError:
            raise MetricError(f"Prometheus at {self.url} did not answer with JSON") from None
        if document.get("status") != "success":
            raise MetricError(f"Prometheus refused `{promql}`: {document.get('errorType')}: {document.get('error')}")
        data = document.get("data", {})
        if data.get("resultType") == "scalar":
            return float(data["result"][1])
        result = data.get("result", [])
        if not result:
            return None
        if len(result) > 1:
            raise MetricError(f"`{promql}` returned {len(result)} series; a trigger needs one: aggregate with sum()")
        return float(result[0]["value"][1])


def _error_text(body: bytes, status: int) -> str:
    try:
        document = json.loads(body)
        return f"{document.get('errorType')}: {document.get('error')} (HTTP {status})"
    except (json.JSONDecodeError, AttributeError):
        return f"HTTP {status}"
