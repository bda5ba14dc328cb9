"""Releases the cache does not hold are checked in worker processes when there are many:
whatever the number of workers, and when a worker fails, the result is the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from compiler import parallel, validate
from compiler.cache import ReleaseCache, open_cache
from compiler.errors import UsageError
from compiler.render import release_fragments, render_tree
from compiler.reporter import format_text
from compiler.validate import validate_paths
from tests.conftest import CASES, REPO, run_relc, snapshot
from tests.support import release_text

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.suffix == ".yaml")


def _many_releases(root: Path, count: int) -> Path:
    """`count` valid releases and every invalid case, side by side in one releases/ folder."""
    shutil.copytree(CASES / "prompts", root / "prompts")
    releases = root / "releases"
    releases.mkdir()
    for index in range(count):
        (releases / f"chat-{index:03d}.yaml").write_text(release_text(f"chat-{index:03d}", ["v1", "v2"], "v1", "v2", 1))
    for case in INVALID:
        shutil.copy(case, releases / case.name)
    return releases


def _compile(releases: Path, jobs: int, cache: ReleaseCache | None) -> tuple[str, list[str], dict[str, bytes]]:
    """What a user sees: the diagnostics, the releases that passed, and their rendered files."""
    result = validate_paths([releases], Path("."), cache=cache, render=release_fragments, jobs=jobs)
    return format_text(result.diagnostics), [c.path for c in result.releases], render_tree(result.releases)


@pytest.fixture
def releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Other tests' HTTP servers may still run threads in this process, and relc then (rightly)
    # forks nothing; these threads hold no lock a worker needs, so the tests fork anyway.
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    folder = _many_releases(tmp_path / "repo", 40)
    monkeypatch.chdir(tmp_path / "repo")
    return folder.relative_to(tmp_path / "repo")


def test_workers_give_the_serial_result_with_and_without_the_cache(releases: Path, tmp_path: Path) -> None:
    serial = _compile(releases, 1, None)
    assert len(serial[1]) == 40 and "RELC105" in serial[0], "the set must hold valid and invalid releases"
    assert _compile(releases, 2, None) == serial
    cache = ReleaseCache(tmp_path / "cache", open_cache(Path(".")).salt)
    assert _compile(releases, 2, cache) == serial, "cold cache, filled by the workers"
    assert _compile(releases, 1, cache) == serial, "the workers' entries, read back"
    (releases / "chat-007.yaml").write_text(release_text("chat-007", ["v1", "v2"], "v1", "v2", 2))
    changed = _compile(releases, 1, None)
    assert changed != serial
    assert _compile(releases, 2, cache) == changed, "one miss among hits"


def test_misses_go_to_the_workers_and_hits_stay_here(releases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    real = parallel.Workers.send

    def counting(self, function, tasks):  # type: ignore[no-untyped-def]
        sent.extend(path.name for path, _ in tasks)
        return real(self, function, tasks)

    monkeypatch.setattr(parallel.Workers, "send", counting)
    cache = ReleaseCache(tmp_path / "cache", open_cache(Path(".")).salt)
    _compile(releases, 2, cache)
    assert len(sent) == 40 + len(INVALID), "cold: every file was checked by a worker"
    sent.clear()
    _compile(releases, 2, cache)
    assert sent == [], "warm: every outcome, valid or not, came from the cache"
    (releases / "chat-011.yaml").write_text(release_text("chat-011", ["v1", "v2"], "v1", "v2", 2))
    sent.clear()
    _compile(releases, 2, cache)
    assert "chat-011.yaml" in sent and not any(name.startswith("chat-") and name != "chat-011.yaml" for name in sent)
    sent.clear()
    monkeypatch.setattr(validate, "PARALLEL_MIN_FILES", 10_000)
    result = validate_paths([releases], Path("."), cache=None, render=release_fragments, jobs=2)
    assert sent == [] and len(result.releases) == 40, "a small repository is checked in this process"


def test_a_failing_worker_leaves_its_files_to_this_process(releases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _compile(releases, 1, None)
    real = validate._check_in_worker

    def failing(tasks):  # type: ignore[no-untyped-def]
        if any(path.name == "chat-020.yaml" for path, _ in tasks):
            raise RuntimeError("a worker failed")
        return real(tasks)

    monkeypatch.setattr(validate, "_check_in_worker", failing)  # forked workers inherit the patch
    assert _compile(releases, 2, None) == serial


def test_no_worker_is_forked_while_another_thread_runs() -> None:
    import threading

    assert parallel.can_fork() == (threading.active_count() == 1)
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(10,))
    thread.start()
    try:
        assert not parallel.can_fork(), "a fork would copy the locks the other thread holds"
    finally:
        release.set()
        thread.join()


def test_a_pool_keeps_working_after_its_first_tasks() -> None:
    """Once its workers are forked, a pool takes more work even though its own threads
    now run (a long history scan sends many rounds): in a fresh process, where nothing
    else runs a thread, every round is worked out by the workers."""
    script = (
        "import os\n"
        "from compiler.parallel import Workers, worked_out_ahead\n"
        "def pids(items): return [os.getpid() for _ in items]\n"
        "with Workers(2) as pool:\n"
        "    rounds = [worked_out_ahead(pool, pids, list(range(8)), 2) for _ in range(3)]\n"
        "print([None if found is None else os.getpid() not in found for found in rounds])\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, True, True]", "each round was answered by worker processes"


def test_jobs_come_from_relc_jobs_or_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELC_JOBS", "3")
    assert parallel.available_jobs() == 3
    monkeypatch.delenv("RELC_JOBS")
    assert 1 <= parallel.available_jobs() <= parallel.DEFAULT_MAX_JOBS
    for bad in ("0", "two", "-1", "65"):
        monkeypatch.setenv("RELC_JOBS", bad)
        with pytest.raises(UsageError, match="RELC_JOBS must be a whole number"):
            parallel.available_jobs()


def test_a_bad_relc_jobs_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copytree(REPO / "releases", tmp_path / "releases")
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    completed = subprocess.run(
        [sys.executable, "-m", "compiler", "validate"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RELC_JOBS": "many"},
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.strip() == "relc: error: RELC_JOBS must be a whole number of processes from 1 to 64, got 'many'"
    assert run_relc("validate", cwd=tmp_path).returncode == 0


def test_each_release_is_handed_on_before_the_workers_are_done(releases: Path) -> None:
    """`relc build` stages a release's files while the workers check the next ones."""
    for case in INVALID:
        (releases / case.name).unlink()
    answered: list[int] = []

    @contextmanager
    def counting(total: int) -> Iterator[Callable[[int], None]]:
        yield lambda done: answered.append(done)

    validation = validate.Validation([releases], Path("."), render=release_fragments, progress=counting, jobs=2)
    handed_on = []
    for checked in validation.releases():
        handed_on.append((checked.path, len(answered)))
    result = validation.finish()
    assert [path for path, _ in handed_on] == [c.path for c in result.releases] == sorted(c.path for c in result.releases)
    assert handed_on[0][1] < 40 // 2, "the first release came before most were answered"
    assert len(answered) == 40
    streamed = format_text(result.diagnostics), [c.path for c in result.releases], render_tree(result.releases)
    assert streamed == _compile(releases, 1, None), "the same result as at once, in one process"


@pytest.mark.parametrize("rendered_before", [True, False], ids=["rendered-kept", "no-rendered"])
def test_a_build_with_workers_writes_nothing_when_a_release_fails(releases: Path, rendered_before: bool) -> None:
    """The valid releases' files are staged as they are checked; one invalid release
    (the last one checked, or one conflicting with another) means none is moved in."""
    for case in INVALID:
        (releases / case.name).unlink()
    root = Path(".").resolve()
    assert run_relc("build", cwd=root).returncode == 0
    if not rendered_before:
        shutil.rmtree(root / "rendered")
    before = snapshot(root)
    last = releases / "chat-039.yaml"
    last.write_text(last.read_text().replace("name: chat-039", "name: chat-039\nsurprise: 1"))
    completed = run_relc("build", cwd=root)
    assert completed.returncode == 1 and "nothing written" in completed.stderr
    assert snapshot(root) == before | {"releases/chat-039.yaml": last.read_bytes()}
    assert (root / "rendered").exists() == rendered_before
