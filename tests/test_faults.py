"""Fault injection on real processes: `relc build` killed with SIGKILL at random points
must leave every state a gateway can read whole and consistent (Envoy's routes never
name a cluster its CDS lacks); a second run then completes."""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.builder import canary, dump, release, self_hosted_bundle
from tests.conftest import CASES

pytestmark = pytest.mark.live

RELEASES = 300
KILLS = 50


@functools.cache  # a state is written a hundred times: serialize each release once
def _release(index: int, rolling_out: bool) -> str:
    """Release `index`: v1 stable; while rolling out, v2 at canary 30% (its own cluster)."""
    bundles = [
        self_hosted_bundle(version, f"http://10.{index // 250}.{index % 250}.{octet}:8000/v1", name="m",
                           tokenizer={"name": "t", "revision": "1"}, serving={"temperature": 0.0, "max_tokens": 16, "timeout": "5s"})
        for version, octet in (("v1", 1), ("v2", 2))
    ]  # fmt: skip
    candidate, step = ("v2", 1) if rolling_out else (None, None)
    return dump(release(f"r{index:03d}", bundles, "v1", candidate, step, steps=[canary(30, "1m")], gateways=["envoy"]))


def _write_state(root: Path, rolling_out: bool) -> None:
    for index in range(RELEASES):
        (root / "releases" / f"r{index:03d}.yaml").write_text(_release(index, rolling_out))


def _consistent(root: Path) -> str | None:
    """None when Envoy's files, as they are now, are whole and every route names a known cluster."""
    cds_file, rds_file = root / "rendered" / "envoy" / "cds.yaml", root / "rendered" / "envoy" / "rds.yaml"
    if not cds_file.exists() and not rds_file.exists():
        return None  # nothing written yet
    clusters = {cluster["name"] for cluster in yaml.safe_load(cds_file.read_text())["resources"]}
    routes = yaml.safe_load(rds_file.read_text())["resources"][0]["virtual_hosts"][0]["routes"]
    for route in routes:
        action = route["route"]
        named = [c["name"] for c in action.get("weighted_clusters", {}).get("clusters", [])]
        named += [m["cluster"] for m in action.get("request_mirror_policies", [])]
        if action.get("cluster"):
            named.append(action["cluster"])
        missing = set(named) - clusters
        if missing:
            return f"route {route.get('name')} names clusters CDS lacks: {sorted(missing)[:3]}"
    return None


def _build(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "compiler", "build"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def test_builds_killed_at_random_points_leave_envoy_consistent(tmp_path: Path) -> None:
    root = tmp_path
    (root / "prompts").mkdir()
    shutil.copy(CASES / "prompts" / "basic.j2", root / "prompts" / "basic.j2")
    (root / "releases").mkdir()
    _write_state(root, rolling_out=True)
    durations = []
    for rolling in (True, False, True):  # each rewrites every release's clusters: a full build
        _write_state(root, rolling)
        started = time.monotonic()
        assert _build(root).wait(timeout=300) == 0
        durations.append(time.monotonic() - started)
    generator = random.Random(20261125)
    rolling_out, kills, attempts = False, 0, 0
    while kills < KILLS and attempts < 2 * KILLS:  # bounded: a build that ends first is retried
        attempts += 1
        _write_state(root, rolling_out)  # every build changes every release's clusters
        # A point inside the build, as long as recent builds on this shared machine take.
        deadline = time.monotonic() + generator.uniform(0.05, 0.95) * statistics.median(durations[-5:])
        started = time.monotonic()
        process = _build(root)
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        else:
            durations.append(time.monotonic() - started)  # it ended first: builds are quicker now
        process.wait(timeout=60)
        problem = _consistent(root)
        assert problem is None, f"after attempt {attempts} ({kills} kills): {problem}"
        rolling_out = not rolling_out
    assert kills == KILLS, f"only {kills} of {attempts} builds were still running at their kill point"
    assert _build(root).wait(timeout=300) == 0, "a build after the kills completes"
    check = subprocess.run([sys.executable, "-m", "compiler", "check"], cwd=root, capture_output=True, timeout=300)
    assert check.returncode == 0, check.stderr


CHANGE_KILLS = 20


def _relc(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compiler", *arguments], cwd=root, capture_output=True, text=True, timeout=120)


def _git(root: Path, *arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def _whole_commit(root: Path, commit: str) -> str | None:
    """None when `commit`'s release files and rendered/ agree (`relc check` in a clean
    worktree of it): a commit is never made of half a change."""
    worktree = root.parent / f"check-{commit[:12]}"
    _git(root, "worktree", "add", "--quiet", "--detach", str(worktree), commit)
    try:
        checked = _relc(worktree, "check")
        return None if checked.returncode == 0 else checked.stdout + checked.stderr
    finally:
        _git(root, "worktree", "remove", "--force", str(worktree))


@pytest.mark.parametrize("command", ["rollback", "promote"])
def test_rollback_and_promote_killed_at_random_points_leave_head_or_the_whole_commit(tmp_path: Path, command: str) -> None:
    """SIGKILL of the whole process group (relc and the git it runs), as a crash or the
    OOM killer would: HEAD is the old commit or a whole new one, the next `relc build`
    renders HEAD and leaves the tree clean, and a rerun completes."""
    from tests.conftest import CHAT_TRIGGERS
    from tests.support import Repository, release_text

    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1") + CHAT_TRIGGERS)
    repository.commit("Publish chat v2")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + CHAT_TRIGGERS)
    start = repository.commit("Start rollout of chat v2")
    root = repository.root
    arguments = (command, "chat", "--reason", "fault test") if command == "rollback" else (command, "chat")
    started = time.monotonic()
    assert _relc(root, *arguments).returncode == 0
    duration = time.monotonic() - started
    generator = random.Random(f"{command}-20261125")
    outcomes = {"killed": 0, "finished": 0, "committed": 0, "git lock": 0}
    for kill in range(CHANGE_KILLS):
        _git(root, "reset", "--quiet", "--hard", start)
        process = subprocess.Popen([sys.executable, "-m", "compiler", *arguments], cwd=root, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(generator.uniform(0.1, 0.9) * duration)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            outcomes["killed"] += 1
        else:
            outcomes["finished"] += 1
        process.wait(timeout=60)
        head = _git(root, "rev-parse", "HEAD")
        if head != start:
            outcomes["committed"] += 1
            assert _git(root, "rev-parse", "HEAD~1") == start, f"kill {kill + 1}: one commit, on top of the start"
            assert _whole_commit(root, head) is None, f"kill {kill + 1}: a half-made commit"
        git_locks = [root / ".git" / name for name in ("index.lock", "HEAD.lock", "refs/heads/main.lock")]
        owed = (root / ".git" / "relc.lock").exists()  # relc's record of a change it had begun
        build = _relc(root, "build")
        left = [lock for lock in git_locks if lock.exists()]
        if left:
            # git itself was killed. While relc's record says a change is owed, relc says so,
            # names the locks and writes nothing. With nothing owed the lock is a git command's
            # from before the change began (CI met HEAD's, the branch's, and the index.lock
            # `git status` takes to refresh the index), and the build rightly goes ahead.
            outcomes["git lock"] += 1
            assert "Traceback" not in build.stderr, build.stderr
            if build.returncode != 0 or owed:
                assert build.returncode == 1 and all(lock.name in build.stderr for lock in left), build.stderr
            for lock in left:
                lock.unlink()  # as the message asks, once no git runs
            build = _relc(root, "build")
        assert build.returncode == 0, f"kill {kill + 1}: {build.stderr}"
        assert _git(root, "status", "--porcelain", "--untracked-files=all") == "", f"kill {kill + 1}: rendered/ or the release differs from HEAD"
        assert not (root / ".git" / "relc.lock").exists()
        if head == start:
            rerun = _relc(root, *arguments)
            assert rerun.returncode == 0, f"kill {kill + 1}: the rerun failed: {rerun.stderr}"
            assert _whole_commit(root, _git(root, "rev-parse", "HEAD")) is None
    print(f"relc {command}: {outcomes}")
    assert outcomes["killed"] >= CHANGE_KILLS // 3, outcomes
