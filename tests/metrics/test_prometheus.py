"""The Prometheus source against a real Prometheus server (Debian's package) on 127.0.0.1,
scraping a small exporter every second."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from compiler.metrics import MetricError, MetricQuery
from compiler.metrics.prometheus import PrometheusSource, load_queries
from tests.support import Exporter, Prometheus

pytestmark = pytest.mark.live


class Counters:
    """Envoy-shaped counters that grow in a background thread while the test runs."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.ticks = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while self.running and self.ticks < 2000:  # bounded: at most ~400 s
            self.ticks += 1
            t = self.ticks
            self.exporter.text = (
                f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="chat@v2"}} {10 * t}\n'
                f'envoy_cluster_upstream_rq_xx{{envoy_cluster_name="chat@v2",envoy_response_code_class="5"}} {t}\n'
                f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="chat@v1"}} {20 * t}\n'
                'envoy_cluster_upstream_rq_total{envoy_cluster_name="chat@idle"} 0\n'
                # LiteLLM names deployments after route.model (`support`), not the release (`support-chat`).
                f'litellm_deployment_total_requests_total{{model_id="support/v2"}} {10 * t}\n'
                f'litellm_deployment_failure_responses_total{{model_id="support/v2"}} {2 * t}\n'
            )
            time.sleep(0.2)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusSource]:
    exporter = Exporter()
    counters = Counters(exporter)
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [(exporter.target, "/metrics")])
    try:
        source = PrometheusSource(server.url, load_queries("envoy"))
        server.wait_until(
            lambda: source.observe(MetricQuery("chat", "v2", "error_rate", 10)).has_data, "no rate data within 40 s"
        )
        yield source
    finally:
        counters.running = False
        server.stop()
        exporter.close()


def test_error_rate_and_samples_per_bundle(prometheus: PrometheusSource) -> None:
    observation = prometheus.observe(MetricQuery("chat", "v2", "error_rate", 10))
    assert observation.value == pytest.approx(0.1, abs=0.03)
    assert observation.samples > 0


def test_a_bundle_without_errors_has_a_zero_error_rate_not_no_data(prometheus: PrometheusSource) -> None:
    observation = prometheus.observe(MetricQuery("chat", "v1", "error_rate", 10))
    assert observation.value == 0.0 and observation.samples > 0


def test_no_traffic_and_unknown_bundles_are_no_data(prometheus: PrometheusSource) -> None:
    idle = prometheus.observe(MetricQuery("chat", "idle", "error_rate", 10))  # 0/0 is NaN
    assert not idle.has_data and idle.samples == 0
    unknown = prometheus.observe(MetricQuery("chat", "v9", "error_rate", 10))  # empty result
    assert unknown.value is None and unknown.samples == 0


def test_bad_promql_and_many_series_are_explicit_errors(prometheus: PrometheusSource, tmp_path: Path) -> None:
    queries = tmp_path / "queries.yaml"
    queries.write_text('error_rate: {value: "sum(rate(x[$window]", samples: "vector(1)"}\n'
                       'timeout_rate: {value: "envoy_cluster_upstream_rq_total", samples: "vector(1)"}\n')  # fmt: skip
    custom = PrometheusSource(prometheus.url, load_queries(str(queries)))
    with pytest.raises(MetricError, match="bad_data"):
        custom.observe(MetricQuery("chat", "v2", "error_rate", 10))
    with pytest.raises(MetricError, match="returned 3 series"):
        custom.observe(MetricQuery("chat", "v2", "timeout_rate", 10))
    with pytest.raises(MetricError, match="no Prometheus query for metric `eval_score`"):
        custom.observe(MetricQuery("chat", "v2", "eval_score", 10))


def test_an_unreachable_or_silent_server_is_an_error_not_health() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(MetricError, match="cannot reach Prometheus"):
        PrometheusSource(f"http://127.0.0.1:{port}", load_queries("envoy")).observe(MetricQuery("c", "v", "error_rate", 60))
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        source = PrometheusSource(f"http://127.0.0.1:{silent.getsockname()[1]}", load_queries("envoy"), timeout=0.5)
        with pytest.raises(MetricError, match="cannot reach Prometheus"):
            source.observe(MetricQuery("c", "v", "error_rate", 60))


@pytest.mark.parametrize(
    ("query", "words"),
    [('up{job=~"a$"}', "a lone `$`"), ("rate(x[$windw])", "$windw"), ("rate(x[${versions}])", "$versions")],
)
def test_query_files_with_unknown_placeholders_are_refused_when_loaded(tmp_path: Path, query: str, words: str) -> None:
    path = tmp_path / "queries.json"
    path.write_text('{"error_rate": {"value": ' + __import__("json").dumps(query) + ', "samples": "vector(1)"}}')
    with pytest.raises(MetricError) as error:
        load_queries(str(path))
    assert words in str(error.value) and "$$" in str(error.value)


def test_infinite_sample_counts_are_no_samples(tmp_path: Path) -> None:
    from tests.support import LocalServer

    answer = b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]}}'
    server = LocalServer(lambda method, body: (200, "application/json", answer))
    try:
        observation = PrometheusSource(f"http://127.0.0.1:{server.port}", load_queries("envoy")).observe(
            MetricQuery("chat", "v2", "error_rate", 60)
        )
    finally:
        server.close()
    assert observation.samples == 0


def test_litellm_series_are_matched_by_the_public_model_name_not_the_release(prometheus: PrometheusSource) -> None:
    litellm = PrometheusSource(prometheus.url, load_queries("litellm"))
    observation = litellm.observe(MetricQuery("support-chat", "v2", "error_rate", 10, route_model="support"))
    assert observation.has_data and observation.value == pytest.approx(0.2, abs=0.02)
    assert not litellm.observe(MetricQuery("support-chat", "v2", "error_rate", 10)).has_data


def test_a_fresh_burst_of_errors_in_a_newborn_series_is_read_as_failing(tmp_path: Path) -> None:
    """Envoy creates the 5xx series at its first error, and `increase()` ignores a series'
    first sample: a candidate that starts failing must not read 0 (it did, before)."""
    exporter = Exporter()
    total = 'envoy_cluster_upstream_rq_total{envoy_cluster_name="fresh@v2"}'
    exporter.text = f"{total} 100\n"
    server = Prometheus(tmp_path / "prometheus", [(exporter.target, "/metrics")])
    try:
        source = PrometheusSource(server.url, load_queries("envoy"))
        query = MetricQuery("fresh", "v2", "error_rate", 5)
        # The total must be older than the 5 s window, as a candidate's is during a rollout.
        server.wait_until(lambda: server.query(f"{total} offset 6s") != [], "the total was not scraped 6 s ago")
        # 30 of the next 330 requests fail: the error series is born with the value 30.
        exporter.text = f'{total} 430\nenvoy_cluster_upstream_rq_xx{{envoy_cluster_name="fresh@v2",envoy_response_code_class="5"}} 30\n'
        server.wait_until(lambda: len(server.query('envoy_cluster_upstream_rq_xx[1m]')[0]["values"] if server.query('envoy_cluster_upstream_rq_xx[1m]') else []) >= 2,
                          "the error series was not scraped twice")  # fmt: skip
        raw_increase = server.query('sum(increase(envoy_cluster_upstream_rq_xx{envoy_cluster_name="fresh@v2"}[5s]))')
        assert float(raw_increase[0]["value"][1]) == 0.0, "the trap this test guards against: increase() reads 0"
        observation = source.observe(query)
        # increase() extrapolates the old total to the window's edges (about 5/4 of 330 here).
        assert 330 <= observation.samples <= 450 and observation.value == pytest.approx(30 / 330, rel=0.3)
    finally:
        server.stop()
        exporter.close()
