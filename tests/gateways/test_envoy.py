"""Envoy: every rendered config passes `envoy --mode validate`, and the real Envoy on
127.0.0.1 splits, mirrors and reloads traffic the way the release says."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.support import Envoy, Upstream, relc, validate_with_envoy, write_live_release

pytestmark = pytest.mark.live


def _within(observed: int, trials: int, share: float, sigmas: float = 5.0) -> bool:
    """Is `observed` a plausible binomial count? Five sigmas: a false alarm is ~1 in 10^6."""
    spread = sigmas * math.sqrt(trials * share * (1 - share))
    return abs(observed - trials * share) <= spread


def test_the_committed_example_configs_pass_envoy_validate(tmp_path: Path) -> None:
    result = validate_with_envoy(REPO / "rendered", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize("step", [None, 1, 2, 3])
def test_every_rollout_step_renders_a_config_envoy_accepts(tmp_path: Path, step: int | None) -> None:
    write_live_release(tmp_path, {"v1": 18001, "v2": 18002}, step)
    assert relc(tmp_path, "build") == 0
    result = validate_with_envoy(tmp_path / "rendered", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _settled(upstream: Upstream, seconds: float = 5) -> int:
    """The upstream's request count once mirrored requests stop arriving."""
    deadline = time.monotonic() + seconds
    last = -1
    while time.monotonic() < deadline and upstream.requests != last:
        last = upstream.requests
        time.sleep(0.3)
    return upstream.requests


def test_live_envoy_splits_mirrors_and_reloads_without_restart(tmp_path: Path, servers: dict[str, Upstream]) -> None:
    ports = {name: server.port for name, server in servers.items()}
    write_live_release(tmp_path, ports, step=1)  # shadow 50%
    assert relc(tmp_path, "build") == 0
    envoy = Envoy(tmp_path)
    try:
        envoy.wait_until(lambda: envoy.request()[0] == 200, "the route never answered")
        servers["v1"].requests = servers["v2"].requests = 0

        answers = envoy.answers(200)
        assert answers == {"v1": 200}, "clients must only get the stable answer during shadow"
        mirrored = _settled(servers["v2"])
        assert _within(mirrored, 200, 0.5), f"{mirrored} of 200 requests mirrored, expected about 100"

        process_id = envoy.process.pid
        write_live_release(tmp_path, ports, step=2)  # canary 30%
        assert relc(tmp_path, "build") == 0
        envoy.wait_until(lambda: envoy.request()[1] == "v2", "Envoy did not pick up the new render", seconds=20)
        answers = envoy.answers(400)
        assert set(answers) == {"v1", "v2"}
        assert _within(answers["v2"], 400, 0.3), f"candidate answered {answers['v2']} of 400, expected about 120"

        write_live_release(tmp_path, ports, step=3)  # canary 100%
        assert relc(tmp_path, "build") == 0
        envoy.wait_until(lambda: envoy.answers(20) == {"v2": 20}, "Envoy did not move all traffic to the candidate")
        assert envoy.process.pid == process_id and envoy.process.poll() is None, "Envoy was restarted"
    finally:
        envoy.stop()


def test_https_upstreams_are_verified_and_envoy_accepts_the_config(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 443, "v2": 8443}, 2, gateways=["envoy"])
    release = tmp_path / "releases" / "live.yaml"
    release.write_text(release.read_text().replace("http://127.0.0.1:443", "https://a.models.example.com")
                       .replace("http://127.0.0.1:8443", "https://b.models.example.com:8443"))  # fmt: skip
    assert relc(tmp_path, "build") == 0
    clusters = {c["name"]: c for c in yaml.safe_load((tmp_path / "rendered" / "envoy" / "cds.yaml").read_text())["resources"]}
    tls = clusters["live@v2"]["transport_socket"]["typed_config"]
    assert tls["sni"] == "b.models.example.com"
    assert tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "b.models.example.com"}}
    ]
    routes = yaml.safe_load((tmp_path / "rendered" / "envoy" / "rds.yaml").read_text())["resources"][0]
    weighted = routes["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert [c["host_rewrite_literal"] for c in weighted] == ["a.models.example.com", "b.models.example.com:8443"]
    result = validate_with_envoy(tmp_path / "rendered", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_plain_git_revert_then_relc_build_puts_envoy_back_on_stable(tmp_path: Path, servers: dict[str, Upstream]) -> None:
    """git rewrites files in place and Envoy reloads only on a move; `relc build` found the
    bytes already right and wrote nothing, so Envoy kept the canary. Now it moves them."""
    from tests.support import Repository

    ports = {name: server.port for name, server in servers.items()}
    repository = Repository(tmp_path / "repo")
    write_live_release(repository.root, ports, step=None)
    repository.commit("Publish live")
    write_live_release(repository.root, ports, step=3)  # canary 100%
    repository.commit("Canary live v2 at 100%")
    envoy = Envoy(repository.root)
    try:
        envoy.wait_until(lambda: envoy.answers(10) == {"v2": 10}, "the canary was not served")
        repository.git("revert", "--no-edit", "HEAD")  # rendered/ is rewritten in place
        time.sleep(1.5)
        assert envoy.answers(10) == {"v2": 10}, "the trap this test guards against: Envoy ignores in-place writes"
        assert relc(repository.root, "build") == 0
        envoy.wait_until(lambda: envoy.answers(10) == {"v1": 10}, "the revert never reached Envoy")
        assert repository.git("status", "--porcelain", "--untracked-files=no") == "", "the build changed no byte"
    finally:
        envoy.stop()


def test_the_error_rate_counts_client_requests_not_retried_attempts(tmp_path: Path, servers: dict[str, Upstream]) -> None:
    """40 requests that all failed, each retried once: Envoy counts 80 attempts but 40 final
    5xx, and the old query read 0.5. Per client request it is 1.0 over 40 samples."""
    from compiler.metrics import MetricQuery
    from compiler.metrics.prometheus import PrometheusSource, load_queries
    from tests.support import Prometheus

    ports = {name: server.port for name, server in servers.items()}
    release = write_live_release(tmp_path, ports, step=3)  # canary 100%: every request to v2
    release.write_text(release.read_text().replace("retries: 0", "retries: 1"))
    assert relc(tmp_path, "build") == 0
    servers["v2"].fail = True
    envoy = Envoy(tmp_path)
    prometheus = Prometheus(tmp_path / "prometheus", [(f"127.0.0.1:{envoy.admin_port}", "/stats/prometheus")])
    try:
        envoy.wait_until(lambda: envoy.request()[0] == 500, "the failing candidate never answered")
        first = servers["v2"].requests
        for _ in range(39):
            assert envoy.request()[0] == 500
        assert servers["v2"].requests - first == 78, "each request was tried twice"
        source = PrometheusSource(prometheus.url, load_queries("envoy"))
        query = MetricQuery("live", "v2", "error_rate", 60)
        prometheus.wait_until(lambda: source.observe(query).samples == 40, "Prometheus never saw the 40 requests")
        observation = source.observe(query)
        attempts = prometheus.query('envoy_cluster_upstream_rq_total{envoy_cluster_name="live@v2"}')
        assert float(attempts[0]["value"][1]) == 80, "Envoy counts each attempt"
        assert observation.value == pytest.approx(1.0)
    finally:
        prometheus.stop()
        envoy.stop()


def test_mirrored_requests_carry_the_shadow_bundles_host_and_retries_have_a_budget(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, step=1, gateways=["envoy"])  # shadow 50%
    assert relc(tmp_path, "build") == 0
    route = yaml.safe_load((tmp_path / "rendered" / "envoy" / "rds.yaml").read_text())["resources"][0]
    mirror = route["virtual_hosts"][0]["routes"][0]["route"]["request_mirror_policies"][0]
    assert mirror["cluster"] == "live@v2" and mirror["host_rewrite_literal"] == "127.0.0.1:9002"
    clusters = yaml.safe_load((tmp_path / "rendered" / "envoy" / "cds.yaml").read_text())["resources"]
    budgets = {c["name"]: c["circuit_breakers"]["thresholds"][0]["retry_budget"] for c in clusters}
    assert budgets["live@v1"] == {"budget_percent": {"value": 100.0}, "min_retry_concurrency": 10}
    assert validate_with_envoy(tmp_path / "rendered", tmp_path).returncode == 0
