"""The real Portkey gateway, `@portkey-ai/gateway` from tests/portkey/, splits, falls back
and rolls back as the release says, in front of two OpenAI-compatible upstreams on
127.0.0.1, and refuses what the vendored schema refuses (test_portkey.py checks the
schema without the gateway)."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import REPO
from tests.gateways.test_portkey import REFUSED, build_config, canary_release, leaf, sample_config, schema_errors
from tests.support import LocalServer, Repository, Upstream, free_port, missing_tool, relc, stop_process, wait_while_running

pytestmark = pytest.mark.live

PORTKEY_DIR = REPO / "tests" / "portkey"
START_SERVER = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"


class Portkey:
    """The real `@portkey-ai/gateway` (start-server) on 127.0.0.1, on a port of its own."""

    def __init__(self, work: Path) -> None:
        node = shutil.which("node")
        if node is None:
            missing_tool("`node` is not installed: scripts/test installs it (Debian package nodejs)")
        if not START_SERVER.is_file():
            missing_tool("the Portkey gateway is not installed: run tests/portkey/install (scripts/test does)")
        self.port = free_port()
        self.log = open(work / "portkey.log", "w")
        # loopback.mjs keeps start-server, which passes no host to listen(), on 127.0.0.1.
        self.process = subprocess.Popen(
            [str(node), "--import", (PORTKEY_DIR / "loopback.mjs").as_uri(), str(START_SERVER), f"--port={self.port}", "--headless"],
            cwd=work, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_while_running(self.process, self.log, self._ready, "Portkey did not start", seconds=30, pause=0.1)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def call(self, config: dict[str, Any]) -> tuple[int, Any]:
        """One chat completion for the public model, with `config` as x-portkey-config."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/chat/completions",
            data=json.dumps({"model": "live", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json", "x-portkey-config": json.dumps(config, separators=(",", ":"))},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def answers(self, config: dict[str, Any], count: int) -> Counter[str | None]:
        answers: Counter[str | None] = Counter()
        for _ in range(count):
            status, body = self.call(config)
            answers[body.get("bundle") if status == 200 and isinstance(body, dict) else f"HTTP {status}"] += 1
        return answers

    def stop(self) -> None:
        stop_process(self.process, self.log)


@pytest.fixture(scope="module")
def portkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portkey]:
    gateway = Portkey(tmp_path_factory.mktemp("portkey"))
    try:
        yield gateway
    finally:
        gateway.stop()


def _within_five_sigma(count: int, total: int, share: float) -> bool:
    return abs(count - total * share) <= 5 * math.sqrt(total * share * (1 - share))


def test_live_portkey_splits_400_requests_as_the_step_says(tmp_path: Path, portkey: Portkey, servers: dict[str, Upstream]) -> None:
    canary_release(tmp_path, {name: server.port for name, server in servers.items()}, 2)
    answers = portkey.answers(build_config(tmp_path), 400)
    assert set(answers) == {"v1", "v2"} and sum(answers.values()) == 400, answers
    assert _within_five_sigma(answers["v2"], 400, 0.30), answers
    # Each call reached exactly one upstream: no retries, no mirroring.
    assert (servers["v1"].requests, servers["v2"].requests) == (answers["v1"], answers["v2"])


def test_live_portkey_falls_back_from_a_failing_candidate_to_stable(tmp_path: Path, portkey: Portkey, servers: dict[str, Upstream]) -> None:
    servers["v2"].fail = True
    canary_release(tmp_path, {name: server.port for name, server in servers.items()}, 2)
    answers = portkey.answers(build_config(tmp_path), 200)
    assert answers == Counter({"v1": 200}), answers
    assert _within_five_sigma(servers["v2"].requests, 200, 0.30), servers["v2"].requests  # tried, then fell back
    assert servers["v1"].requests == 200


def test_live_portkey_sends_everything_to_stable_after_relc_rollback(tmp_path: Path, portkey: Portkey, servers: dict[str, Upstream]) -> None:
    repository = Repository(tmp_path / "repo")
    ports = {name: server.port for name, server in servers.items()}
    canary_release(repository.root, {"v1": ports["v1"]}, None)
    repository.commit("Publish live v1")
    canary_release(repository.root, ports, 2)
    repository.commit("Roll out live v2: canary 30%")
    during = portkey.answers(build_config(repository.root), 100)
    assert during["v2"] > 0 and during["v1"] + during["v2"] == 100, during

    assert relc(repository.root, "rollback", "live", "--reason", "candidate misbehaves") == 0
    assert "Relc-Rolled-Back: v2" in repository.git("log", "-1", "--format=%B")
    config = build_config(repository.root)  # relc build after the rollback commit changes nothing
    assert repository.git("status", "--porcelain") == ""
    assert config["targets"] == [{"weight": 10000, **leaf("v1", ports["v1"])}]
    served_before = servers["v2"].requests
    assert portkey.answers(config, 200) == Counter({"v1": 200})
    assert servers["v2"].requests == served_before


@pytest.mark.parametrize(("what", "mutation"), REFUSED, ids=[case[0] for case in REFUSED])
def test_live_portkey_refuses_what_the_schema_refuses(portkey: Portkey, what: str, mutation: Any) -> None:
    """The schema's rules are Portkey's: each bad config gets a 400 from the gateway itself."""
    config = sample_config()
    mutation(config)
    status, body = portkey.call(config)
    assert status == 400 and "config" in json.dumps(body), (what, status, body)


def test_live_portkey_ignores_unknown_fields_which_is_why_the_schema_refuses_them(
    tmp_path: Path, portkey: Portkey, servers: dict[str, Upstream]
) -> None:
    config = {"strategy": {"mode": "loadbalance"}, "targets": [{"weight": 1, **leaf("v2", servers["v2"].port)}]}
    config["targets"][0]["overide_params"] = config["targets"][0].pop("override_params")  # misspelt
    assert schema_errors(config)
    assert portkey.call(config) == (200, {"bundle": "v2"})  # served, the parameters silently dropped


def test_live_portkey_times_out_a_slow_candidate_and_falls_back(tmp_path: Path, portkey: Portkey) -> None:
    slow = LocalServer(lambda method, body: (time.sleep(1.5), (200, "application/json", b'{"bundle": "v2"}'))[1])
    try:
        with contextlib.closing(Upstream("v1")) as stable:
            path = canary_release(tmp_path, {"v1": stable.port, "v2": slow.port}, 3)  # the candidate serves 100%
            path.write_text(path.read_text().replace("timeout: 5s", "timeout: 300ms"))
            config = build_config(tmp_path)
            for _ in range(3):
                started = time.monotonic()
                assert portkey.call(config) == (200, {"bundle": "v1"})
                assert time.monotonic() - started < 1.4  # cut at 300 ms (408), not waited out
    finally:
        slow.close()


def test_live_portkey_accepts_every_config_rendered_here(tmp_path: Path, portkey: Portkey, servers: dict[str, Upstream]) -> None:
    """Every shape relc renders (steady, with previous, each canary step) is served by the real gateway."""
    ports = {name: server.port for name, server in servers.items()}
    shapes = [(None, None), (None, "v2"), (1, None), (2, None), (3, None)]
    for step, previous in shapes:
        folder = tmp_path / f"step-{step}-{previous}"
        canary_release(folder, ports, step, previous)
        config = build_config(folder)
        status, body = portkey.call(config)
        assert status == 200 and body["bundle"] in ("v1", "v2"), (step, previous, status, body)
