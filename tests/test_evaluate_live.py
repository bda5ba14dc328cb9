"""`relc evaluate` end to end on 127.0.0.1: a real Envoy on the rendered files, two
upstream bundles, a real Prometheus scraping Envoy's `/stats/prometheus`, and the
decision acted on as commits: hold with too few samples, promote when healthy, and
rollback (with traffic back on stable) when the candidate starts failing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.builder import canary, dump, release, self_hosted_bundle, trigger
from tests.conftest import run_relc
from tests.support import Envoy, Prometheus, Repository, Upstream

pytestmark = pytest.mark.live

STEPS = [canary(30, "1m"), canary(60, "1m"), canary(100, "1m")]
ERRORS = trigger("errors", "error_rate", max=0.1, window="20s", min_samples=20, action="rollback")


def _release(ports: dict[str, int], step: int | None) -> str:
    """v1 stable and v2 (candidate while `step` is set) on Envoy, rolled back on errors."""
    bundles = [self_hosted_bundle(version, f"http://127.0.0.1:{port}/v1", name="served") for version, port in ports.items()]
    candidate = "v2" if step is not None else None
    return dump(release("live", bundles, "v1", candidate, step, steps=STEPS, triggers=[ERRORS], gateways=["envoy"]))


def _drive(envoy: Envoy, condition: Any, failure: str, attempts: int = 120) -> None:
    """Send small batches of requests until `condition` holds: at most `attempts` batches (~60 s)."""
    for _ in range(attempts):
        envoy.answers(10)
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(failure)


def test_evaluate_holds_promotes_and_rolls_back_on_live_metrics(tmp_path: Path, servers: dict[str, Upstream]) -> None:
    ports = {name: server.port for name, server in servers.items()}
    repository = Repository(tmp_path / "repo")
    repository.write("live", _release(ports, step=None))
    repository.commit("Publish live v1 and v2")
    repository.write("live", _release(ports, step=1))
    repository.commit("Start rollout of live v2")  # dated long ago: the hold has passed
    envoy = Envoy(repository.root)
    prometheus = Prometheus(tmp_path / "prometheus", [(f"127.0.0.1:{envoy.admin_port}", "/stats/prometheus")])
    metrics = ["evaluate", "live", "--metrics", prometheus.url, "--queries", "envoy"]
    try:
        envoy.wait_until(lambda: envoy.request()[0] == 200, "the route never answered")
        held = run_relc(*metrics, cwd=repository.root)
        assert held.returncode == 3, held.stdout + held.stderr  # hold: too few samples
        assert "[insufficient]" in held.stdout or "[no_data]" in held.stdout

        def candidate_samples() -> float:
            result = prometheus.query('sum(increase(envoy_cluster_upstream_rq_total{envoy_cluster_name="live@v2"}[20s]))')
            return float(result[0]["value"][1]) if result else 0.0

        # Keep traffic flowing until Prometheus has scraped enough of it (its first scrape
        # comes seconds after start, and increase() needs two scrapes around the traffic).
        _drive(envoy, lambda: candidate_samples() >= 25, "Prometheus never saw 25 candidate requests")
        promoted = run_relc(*metrics, "--apply", cwd=repository.root)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert "[healthy] errors: error_rate of v2 is 0" in promoted.stdout
        assert repository.git("log", "-1", "--format=%s") == "Promote live: v2 to step 2 of 3 (canary 60%)"

        servers["v2"].fail = True
        envoy.wait_until(lambda: None in envoy.answers(10), "the candidate never failed")

        def error_rate() -> float:
            result = prometheus.query(
                'sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name="live@v2",envoy_response_code_class="5"}[20s]))'
                ' / sum(rate(envoy_cluster_upstream_rq_total{envoy_cluster_name="live@v2"}[20s]))'
            )
            return float(result[0]["value"][1]) if result else 0.0

        _drive(envoy, lambda: error_rate() > 0.2, "the candidate's errors never showed in Prometheus")
        rolled_back = run_relc(*metrics, "--apply", cwd=repository.root)
        assert rolled_back.returncode == 5, rolled_back.stdout + rolled_back.stderr
        assert "[breached] errors: error_rate of v2" in rolled_back.stdout
        message = repository.git("log", "-1", "--format=%B")
        assert message.startswith("Roll back live: v2 -> v1") and "Relc-Trigger: errors" in message
        assert "Relc-Reason: relc evaluate: errors: error_rate of v2" in message
        assert "candidate" not in repository.read("live")
        envoy.wait_until(lambda: envoy.answers(20) == {"v1": 20}, "traffic did not return to stable", seconds=15)
    finally:
        prometheus.stop()
        envoy.stop()
