"""Benchmark: automatic rollback end to end, with real processes on 127.0.0.1.

Run on demand (needs the test extras and Prometheus: `scripts/test` installs them):
    .venv/bin/python benchmarks/rollback_e2e.py [--gateway envoy|litellm] [--json] [--runs 3]

A bare Git remote holds one release, `live`, with its candidate at canary 30 %. The
gateway serves from a folder that `relc watch` (interval 1 s) delivers into: Envoy
reloads the moved files itself; the LiteLLM proxy (under gunicorn) is told by the
watcher's `--after-delivery "kill -HUP <master>"`. A stable and a candidate upstream
answer; Prometheus scrapes the gateway's own metrics every second; a client sends
steady traffic. A second watcher on its own clone races the first for the rollback
commit. At a known moment the candidate starts failing. Figures are medians over the
runs; the targets are issue #10's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.builder import trigger  # noqa: E402
from tests.support import (  # noqa: E402
    LITELLM_MASTER_KEY,
    ChatUpstream,
    Envoy,
    LiteLLMProxy,
    Prometheus,
    Repository,
    write_live_release,
)

TARGETS = {
    "onset_to_no_candidate_s": ("<", 5.0),
    "decision_to_flip_s": ("<", 1.0),
    "decision_to_remote_commit_s": ("<", 2.0),
    "failed_by_flip": ("==", 0),
    "rollback_commits": ("==", 1),
}


ERRORS = trigger("errors", "error_rate", max=0.2, window="5s", min_samples=5, action="rollback")


def write_release(root: Path, ports: dict[str, int], step: int | None, gateway: str) -> None:
    """The tests' live release (step 2 is canary 30%), with a fast error-rate trigger."""
    write_live_release(root, ports, step, [gateway], triggers=[ERRORS])


class TimedUpstream(ChatUpstream):
    """An OpenAI-compatible upstream that remembers when each request arrived (its body
    also says `bundle`, which is what the client reads through Envoy)."""

    def __init__(self, name: str) -> None:
        self.arrivals: list[float] = []
        super().__init__(name)

    def respond(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        self.arrivals.append(time.time())
        status, content_type, content = super().respond(method, body)
        if status == 200:
            content = json.dumps({**json.loads(content), "bundle": self.name}).encode()
        return status, content_type, content


def _bundle(body: bytes) -> str | None:
    """Which bundle answered: Envoy passes the upstream's body on, LiteLLM rebuilds it."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    if "bundle" in answer:
        return answer["bundle"]
    try:
        return answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None


class Client(threading.Thread):
    """Steady traffic through the gateway: one request at a time, each outcome recorded."""

    def __init__(self, url: str, deadline: float) -> None:
        super().__init__(daemon=True)
        self.url, self.deadline = url, deadline
        self.outcomes: list[tuple[float, int, str | None]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        body = json.dumps({"model": "live", "messages": [{"role": "user", "content": "hi"}]}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
        while not self.stop.is_set() and time.time() < self.deadline:
            request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
            started = time.time()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self.outcomes.append((started, response.status, _bundle(response.read())))
            except urllib.error.HTTPError as error:
                self.outcomes.append((started, error.code, _bundle(error.read())))
            except OSError:
                self.outcomes.append((started, 0, None))
            time.sleep(0.01)


def git(*arguments: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True).stdout


def watcher(clone: Path, deploy: Path, metrics: str, queries: str, log: Path, *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "compiler", "watch", "--deploy-dir", str(deploy), "--interval", "1",
         "--metrics", metrics, "--queries", queries, "--timeout", "2", *options],
        cwd=clone, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


class ModelListWatch(threading.Thread):
    """When the LiteLLM proxy started answering from the rolled-back config: the first
    time its model list (`GET /v1/models`, polled every 50 ms) no longer has `live@v2`."""

    def __init__(self, proxy: LiteLLMProxy) -> None:
        super().__init__(daemon=True)
        self.proxy, self.reloaded_at = proxy, None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.reloaded_at is None:
            started = time.time()
            body = self.proxy.get("/v1/models")
            if body is not None and "live@v2" not in {model["id"] for model in json.loads(body)["data"]}:
                self.reloaded_at = started
            time.sleep(0.05)


class Gateway:
    """The gateway under test on the delivered folder: its client URL, its metrics, how it
    is told of a delivery, and how it stops."""

    def __init__(self, name: str, folder: Path, work: Path) -> None:
        self.name = name
        if name == "envoy":
            self.envoy = Envoy(folder)
            self.url = f"http://127.0.0.1:{self.envoy.port}/live/chat/completions"
            self.prometheus = Prometheus(work / "prometheus", [(f"127.0.0.1:{self.envoy.admin_port}", "/stats/prometheus")])
            self.after_delivery: tuple[str, ...] = ()
        else:
            self.proxy = LiteLLMProxy(folder / "rendered" / "litellm" / "config.yaml", work / "litellm.log")
            self.url = f"{self.proxy.url}/chat/completions"
            self.prometheus = Prometheus(work / "prometheus", [(f"127.0.0.1:{self.proxy.port}", "/metrics/")],
                                         bearer=LITELLM_MASTER_KEY)  # fmt: skip
            self.after_delivery = ("--after-delivery", f"kill -HUP {self.proxy.process.pid}")

    def watch_reload(self) -> ModelListWatch | None:
        if self.name == "envoy":
            return None  # Envoy takes the moved files itself: the flip is the file move
        watch = ModelListWatch(self.proxy)
        watch.start()
        return watch

    def stop(self) -> None:
        self.prometheus.stop()
        (self.envoy if self.name == "envoy" else self.proxy).stop()


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def stamp(event: dict[str, Any]) -> float:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc).timestamp()


def one_run(work: Path, gateway_name: str) -> dict[str, Any]:
    stable, candidate = TimedUpstream("v1"), TimedUpstream("v2")
    ports = {"v1": stable.port, "v2": candidate.port}
    bare = work / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    seed = Repository(work / "seed")
    seed.git("remote", "add", "origin", str(bare))
    write_release(seed.root, ports, None, gateway_name)
    seed.commit("Publish live v1 and v2")
    write_release(seed.root, ports, 2, gateway_name)
    seed.commit("Start rollout of live v2")
    seed.git("push", "-q", "origin", "main")
    clones = []
    for name in ("east", "west"):
        git("clone", "-q", str(bare), str(work / name))
        git("config", "user.name", f"relc watch {name}", cwd=work / name)
        git("config", "user.email", f"{name}@example.com", cwd=work / name)
        clones.append(work / name)
    gateway = work / "gateway"
    shutil.copytree(seed.root / "rendered", gateway / "rendered")  # what the watcher delivers on start
    served = Gateway(gateway_name, gateway, work)
    metrics = served.prometheus.url
    logs = [work / "east.log", work / "west.log"]
    processes = [
        watcher(clones[0], gateway / "rendered", metrics, gateway_name, logs[0], *served.after_delivery),
        watcher(clones[1], work / "west-gateway" / "rendered", metrics, gateway_name, logs[1]),
    ]
    client = Client(served.url, time.time() + 120)
    client.start()
    reload = served.watch_reload()
    try:
        warm_until = time.time() + 30
        while time.time() < warm_until and len(candidate.arrivals) < 20:
            time.sleep(0.2)
        time.sleep(3)  # a few scrapes of healthy traffic
        onset = time.time()
        candidate.fail = True
        deadline = time.time() + 40
        while time.time() < deadline and not any(e["event"] == "rollback_on_remote" for log in logs for e in events(log)):
            time.sleep(0.2)
        # Traffic after the flip, to count anything the flip itself broke (LiteLLM: the reload).
        time.sleep(3 if gateway_name == "envoy" else 12)
    finally:
        client.stop.set()
        client.join(timeout=10)
        if reload is not None:
            reload.stop.set()
            reload.join(timeout=10)
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        served.stop()
        stable.close()
        candidate.close()
    everything = [e for log in logs for e in events(log)]
    decision = min((stamp(e) for e in everything if e["event"] == "decision" and e["decision"] == "rollback"), default=None)
    rollback = next((e for e in everything if e["event"] == "rollback"), None)
    on_remote = next((e for e in everything if e["event"] == "rollback_on_remote"), None)
    after_onset = [t for t in candidate.arrivals if t >= onset]
    subjects = git("--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    failed = [o for o in client.outcomes if o[1] != 200]
    return {
        "detection_s": round(decision - onset, 3) if decision else None,
        "onset_to_no_candidate_s": round(max(after_onset) - onset, 3) if after_onset else 0.0,
        "decision_to_flip_s": rollback["decision_to_flip_seconds"] if rollback else None,
        "decision_to_remote_commit_s": on_remote["decision_to_remote_seconds"] if on_remote else None,
        "decision_to_gateway_reloaded_s": (
            round(reload.reloaded_at - decision, 3) if reload is not None and reload.reloaded_at and decision else None
        ),
        "requests_to_failing_candidate": len(after_onset),
        "failed_by_flip": sum(1 for _, status, bundle in failed if not (status == 500 and bundle == "v2")),
        "client_requests": len(client.outcomes),
        "client_errors": len(failed),  # the failing candidate's own answers included
        "rollback_commits": sum(1 for s in subjects if s.startswith(("Revert", "Roll back", "Abort rollout"))),
    }


def median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--gateway", choices=("envoy", "litellm"), default="envoy",
                        help="the gateway the watcher delivers to (default envoy; litellm is the proxy under gunicorn)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON object")
    arguments = parser.parse_args()
    os.environ.pop("RELC_ALERT_WEBHOOK_URL", None)
    runs = []
    for _ in range(arguments.runs):
        with tempfile.TemporaryDirectory(prefix="relc-rollback-e2e-") as folder:
            runs.append(one_run(Path(folder), arguments.gateway))
    result = {key: median([run[key] for run in runs]) for key in runs[0]}
    result["runs"] = arguments.runs
    result["gateway"] = arguments.gateway
    if arguments.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"relc watch rollback, {arguments.gateway} gateway, median of {arguments.runs} run(s) on {os.cpu_count()} cores")
    print(f"{'figure':<32} {'median':>10}  {'target':>8}  runs")
    for key, value in result.items():
        if key in ("runs", "gateway"):
            continue
        relation, bound = TARGETS.get(key, ("", None))
        target = f"{relation} {bound:g}" if bound is not None else ""
        print(f"{key:<32} {value if value is not None else '-':>10}  {target:>8}  {[run[key] for run in runs]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
