"""The real LiteLLM proxy on the config relc renders: `--queries litellm` reads its own
Prometheus series (scraped by a real Prometheus), `relc evaluate` rolls back on them, and
a reload puts every request back on stable without refusing one."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import run_relc
from tests.builder import trigger
from tests.support import LITELLM_MASTER_KEY, ChatUpstream, LiteLLMProxy, Prometheus, Repository, write_live_release

pytestmark = pytest.mark.live

ERRORS = trigger("errors", "error_rate", max=0.2, window="20s", min_samples=10, action="rollback")


def _write(repository: Repository, ports: dict[str, int], step: int | None) -> None:
    """The tests' live release on LiteLLM alone (step 2 is canary 30%), with an error trigger."""
    write_live_release(repository.root, ports, step, ["litellm"], triggers=[ERRORS])


@pytest.fixture
def servers() -> Iterator[dict[str, ChatUpstream]]:
    running = {name: ChatUpstream(name) for name in ("v1", "v2")}
    yield running
    for server in running.values():
        server.close()


def _send(proxy: LiteLLMProxy, count: int) -> Counter[tuple[int, str | None]]:
    return Counter(proxy.chat() for _ in range(count))


class Traffic(threading.Thread):
    """Requests one after another until stopped, every outcome kept (at most 2,000)."""

    def __init__(self, proxy: LiteLLMProxy) -> None:
        super().__init__(daemon=True)
        self.proxy, self.outcomes = proxy, Counter[tuple[int, str | None]]()
        self.stopped = threading.Event()

    def run(self) -> None:
        for _ in range(2000):
            if self.stopped.is_set():
                return
            self.outcomes[self.proxy.chat()] += 1


def test_the_proxy_falls_back_rolls_back_on_its_own_metrics_and_reloads_without_a_refusal(
    tmp_path: Path, servers: dict[str, ChatUpstream]
) -> None:
    repository = Repository(tmp_path / "repo")
    ports = {name: server.port for name, server in servers.items()}
    _write(repository, ports, None)
    repository.commit("Publish live v1 and v2")
    _write(repository, ports, 2)
    repository.commit("Start rollout of live v2")  # dated long ago: the hold has passed
    proxy = LiteLLMProxy(repository.root / "rendered" / "litellm" / "config.yaml", tmp_path / "litellm.log")
    prometheus = Prometheus(tmp_path / "prometheus", [(f"127.0.0.1:{proxy.port}", "/metrics/")], bearer=LITELLM_MASTER_KEY)
    evaluate = ["evaluate", "live", "--metrics", prometheus.url, "--queries", "litellm"]
    try:
        assert set(_send(proxy, 40)) == {(200, "v1"), (200, "v2")}, "the canary does not split"
        servers["v2"].fail = True

        failing = Traffic(proxy)
        failing.start()
        for _ in range(60):  # bounded: until Prometheus holds min_samples of the failures (about a minute at most)
            decided = run_relc(*evaluate, cwd=repository.root)
            if decided.returncode != 3:  # 3 is hold: too few samples scraped yet
                break
            time.sleep(0.5)
        assert decided.returncode == 5, decided.stdout + decided.stderr  # rollback
        failing.stopped.set()
        failing.join(timeout=60)
        # The rendered fallbacks send a failed candidate request on to stable: clients see none.
        assert set(failing.outcomes) == {(200, "v1")}, failing.outcomes
        decided = run_relc(*evaluate, "--apply", cwd=repository.root)
        assert decided.returncode == 5, decided.stdout + decided.stderr
        assert "[breached] errors: error_rate of v2" in decided.stdout
        assert repository.git("log", "-1", "--format=%s") == 'Revert "Start rollout of live v2"'

        def candidate_untouched() -> bool:
            """40 requests in a row and none reached v2 (at 30% that is 1 in a million by chance)."""
            before = servers["v2"].requests
            return set(_send(proxy, 40)) == {(200, "v1")} and servers["v2"].requests == before

        # LiteLLM cools a failing deployment down for a few seconds by itself: with the candidate
        # healthy again, the old config sends it its share, and only the reload takes that away.
        servers["v2"].fail = False
        proxy.wait_until(lambda: not candidate_untouched(), "the old config never sent the candidate its share", seconds=60)
        traffic = Traffic(proxy)
        traffic.start()
        proxy.reload()  # what `relc watch --after-delivery "systemctl reload litellm"` does
        proxy.wait_until(candidate_untouched, "the reloaded proxy still sends requests to the candidate", seconds=120)
        traffic.stopped.set()
        traffic.join(timeout=60)
        # Nothing refused, nothing failed (until the new worker serves, the old one still
        # sends the now healthy candidate its share).
        assert {status for status, _ in traffic.outcomes} == {200}, traffic.outcomes
    finally:
        prometheus.stop()
        proxy.stop()


class SlowFailure(ChatUpstream):
    """A bundle that fails slowly: 500 after `delay` seconds, as an overloaded server does."""

    delay = 0.8

    def respond(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        if self.fail:
            time.sleep(self.delay)
        return super().respond(method, body)


def test_a_candidate_that_falls_back_is_measured_on_its_own_attempts(tmp_path: Path) -> None:
    """Each bundle's latency is its own attempts': stable, answering after the candidate's slow
    failure, must not look slow, and the candidate's failures count against the candidate."""
    from compiler.metrics import MetricQuery
    from compiler.metrics.prometheus import PrometheusSource, load_queries

    stable, candidate = ChatUpstream("v1"), SlowFailure("v2", fail=True)
    repository = Repository(tmp_path / "repo")
    _write(repository, {"v1": stable.port, "v2": candidate.port}, 2)
    repository.commit("live v2 at canary 30%")
    proxy = LiteLLMProxy(repository.root / "rendered" / "litellm" / "config.yaml", tmp_path / "litellm.log")
    prometheus = Prometheus(tmp_path / "prometheus", [(f"127.0.0.1:{proxy.port}", "/metrics/")], bearer=LITELLM_MASTER_KEY)
    source = PrometheusSource(prometheus.url, load_queries("litellm"))

    def observe(version: str, metric: str) -> tuple[float | None, int]:
        observation = source.observe(MetricQuery("live", version, metric, 60.0, gateways=("litellm",)))
        return observation.value, observation.samples

    try:
        assert set(_send(proxy, 40)) == {(200, "v1")}, "a failed candidate request did not fall back to stable"
        assert candidate.requests >= 5, "the canary sent the candidate nothing"
        for _ in range(60):  # bounded: until Prometheus has scraped both bundles' attempts
            if observe("v2", "error_rate")[1] >= 5 and observe("v1", "latency_p95")[1] >= 20:
                break
            time.sleep(0.5)
        assert observe("v2", "error_rate")[0] == 1.0
        stable_p95, _ = observe("v1", "latency_p95")
        # About a third of stable's answers come after a slow candidate failure: a p95 that
        # counted those attempts would read the candidate's delay.
        assert stable_p95 is not None and stable_p95 < SlowFailure.delay / 2, f"stable's p95 latency read {stable_p95} s"
    finally:
        prometheus.stop()
        proxy.stop()
        stable.close()
        candidate.close()
