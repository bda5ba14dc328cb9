"""Releases the cache does not hold are checked in worker processes when there are many:
whatever the number of workers, and when a worker fails, the result is the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import parallel, validate
from compiler.cache import ReleaseCache, open_cache
from compiler.errors import UsageError
from compiler.render import release_fragments, render_tree
from compiler.reporter import format_text
from compiler.validate import validate_paths
from tests.conftest import CASES, REPO, run_relc
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


def test_workers_really_run_when_there_are_enough_misses(releases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[int] = []
    real = parallel.map_in_workers

    def counting(function, items, jobs, chunk):  # type: ignore[no-untyped-def]
        tasks = list(items)
        used.append(len(tasks))
        return real(function, tasks, jobs, chunk)

    monkeypatch.setattr(parallel, "map_in_workers", counting)
    _compile(releases, 2, None)
    assert used == [40 + len(INVALID) - 1], "every miss but the first (checked in the parent) went to the workers"
    used.clear()
    monkeypatch.setattr(validate, "PARALLEL_MIN_MISSES", 10_000)
    _compile(releases, 2, None)
    assert used == [], "too few misses: checked in this process"


def test_a_failing_worker_leaves_the_rest_to_this_process(releases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _compile(releases, 1, None)
    real = validate._check_in_worker

    def failing(task):  # type: ignore[no-untyped-def]
        if task[0].name == "chat-020.yaml":
            raise RuntimeError("a worker failed")
        return real(task)

    monkeypatch.setattr(validate, "_check_in_worker", failing)  # forked workers inherit the patch
    assert _compile(releases, 2, None) == serial


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
