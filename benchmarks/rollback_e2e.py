"""Benchmark: automatic rollback end to end, with real processes on 127.0.0.1.

Run on demand (needs the test extra and Prometheus: `scripts/test` installs both):
    .venv/bin/python benchmarks/rollback_e2e.py [--json] [--runs 3]

A bare Git remote holds one release, `live`, with its candidate at canary 30 %. Envoy
serves from a folder that `relc watch` (interval 1 s) delivers into; a stable and a
candidate upstream answer; Prometheus scrapes Envoy every second; a client sends
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

from tests.support import Envoy, Prometheus, Repository, Upstream, write_live_release  # noqa: E402

TARGETS = {
    "onset_to_no_candidate_s": ("<", 5.0),
    "decision_to_flip_s": ("<", 1.0),
    "decision_to_remote_commit_s": ("<", 2.0),
    "failed_by_flip": ("==", 0),
    "rollback_commits": ("==", 1),
}


TRIGGERS = """triggers:
  - {name: errors, metric: error_rate, max: 0.2, window: 5s, min_samples: 5, action: rollback}
"""


def write_release(root: Path, ports: dict[str, int], step: int | None) -> None:
    """The tests' live release (step 2 is canary 30%), with a fast error-rate trigger."""
    path = write_live_release(root, ports, step, gateways="[envoy]")
    path.write_text(path.read_text() + TRIGGERS)


class TimedUpstream(Upstream):
    """An upstream that remembers when each request arrived."""

    def __init__(self, name: str) -> None:
        self.arrivals: list[float] = []
        super().__init__(name)

    def respond(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        self.arrivals.append(time.time())
        return super().respond(method, body)


class Client(threading.Thread):
    """Steady traffic through Envoy: one request at a time, each outcome recorded."""

    def __init__(self, envoy: Envoy, deadline: float) -> None:
        super().__init__(daemon=True)
        self.envoy, self.deadline = envoy, deadline
        self.outcomes: list[tuple[float, int, str | None]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and time.time() < self.deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.envoy.port}/live/chat/completions", data=b"{}", method="POST",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            started = time.time()
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    self.outcomes.append((started, response.status, json.loads(response.read())["bundle"]))
            except urllib.error.HTTPError as error:
                body = error.read()
                try:
                    bundle = json.loads(body).get("bundle")
                except ValueError:
                    bundle = None
                self.outcomes.append((started, error.code, bundle))
            except OSError:
                self.outcomes.append((started, 0, None))
            time.sleep(0.01)


def git(*arguments: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True).stdout


def watcher(clone: Path, deploy: Path, metrics: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "compiler", "watch", "--deploy-dir", str(deploy), "--interval", "1",
         "--metrics", metrics, "--queries", "envoy", "--timeout", "2"],
        cwd=clone, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def stamp(event: dict[str, Any]) -> float:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc).timestamp()


def one_run(work: Path) -> dict[str, Any]:
    stable, candidate = TimedUpstream("v1"), TimedUpstream("v2")
    ports = {"v1": stable.port, "v2": candidate.port}
    bare = work / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    seed = Repository(work / "seed")
    seed.git("remote", "add", "origin", str(bare))
    write_release(seed.root, ports, None)
    seed.commit("Publish live v1 and v2")
    write_release(seed.root, ports, 2)
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
    envoy = Envoy(gateway)
    prometheus = Prometheus(work / "prometheus", [(f"127.0.0.1:{envoy.admin_port}", "/stats/prometheus")])
    logs = [work / "east.log", work / "west.log"]
    processes = [
        watcher(clones[0], gateway / "rendered", prometheus.url, logs[0]),
        watcher(clones[1], work / "west-gateway" / "rendered", prometheus.url, logs[1]),
    ]
    client = Client(envoy, time.time() + 90)
    client.start()
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
        time.sleep(3)  # traffic after the flip, to count anything the flip itself broke
    finally:
        client.stop.set()
        client.join(timeout=10)
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        prometheus.stop()
        envoy.stop()
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
        "requests_to_failing_candidate": len(after_onset),
        "failed_by_flip": sum(1 for _, status, bundle in failed if not (status == 500 and bundle == "v2")),
        "client_requests": len(client.outcomes),
        "rollback_commits": sum(1 for s in subjects if s.startswith(("Revert", "Roll back", "Abort rollout"))),
    }


def median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON object")
    arguments = parser.parse_args()
    os.environ.pop("RELC_ALERT_WEBHOOK_URL", None)
    runs = []
    for _ in range(arguments.runs):
        with tempfile.TemporaryDirectory(prefix="relc-rollback-e2e-") as folder:
            runs.append(one_run(Path(folder)))
    result = {key: median([run[key] for run in runs]) for key in runs[0]}
    result["runs"] = arguments.runs
    if arguments.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(f"relc watch rollback, Envoy gateway, median of {arguments.runs} run(s) on {os.cpu_count()} cores")
    print(f"{'figure':<32} {'median':>10}  {'target':>8}  runs")
    for key, value in result.items():
        if key == "runs":
            continue
        relation, bound = TARGETS.get(key, ("", None))
        target = f"{relation} {bound:g}" if bound is not None else ""
        print(f"{key:<32} {value if value is not None else '-':>10}  {target:>8}  {[run[key] for run in runs]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
