"""`check --base` remembers the history scan by the last commit it read: the results are
the scan's from scratch, after new commits, a rewritten history and out-of-order dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import git
from compiler.cache import ReleaseCache, open_cache
from compiler.history import published_bundles
from tests.conftest import run_relc
from tests.support import Repository, release_text


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The revisions `git log` is asked to read, in order."""
    seen: list[str] = []
    original = git.changes_under

    def recording(root: Path, revision: str, folder: str) -> list[git.FileChange]:
        seen.append(revision)
        return original(root, revision, folder)

    monkeypatch.setattr(git, "changes_under", recording)
    return seen


def _same_as_from_scratch(repository: Repository, cache: ReleaseCache) -> None:
    remembered = published_bundles(repository.root, "HEAD", cache)
    fresh = published_bundles(repository.root, "HEAD", None)
    assert remembered == fresh
    assert {key: p.path for key, p in remembered.items()} == {key: p.path for key, p in fresh.items()}


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1"], "v1"))
    repository.commit("Publish v1", build=False)
    repository.write("chat", release_text("chat", ["v1", "v2"], "v1", candidate="v2", step=1))
    repository.commit("Start v2", build=False)
    return repository


def test_new_commits_are_the_only_ones_read(repository: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = open_cache(repository.root)
    scans = _scans(monkeypatch)
    first = repository.head()
    _same_as_from_scratch(repository, cache)
    assert scans[0] == first
    scans.clear()
    assert published_bundles(repository.root, "HEAD", cache) == published_bundles(repository.root, "HEAD", None)
    assert scans == [first], "the same commit again: nothing read from the remembered scan"
    repository.write("chat", release_text("chat", ["v1", "v2", "v3"], "v2", candidate="v3", step=1, previous="v1"))
    repository.commit("Start v3", build=False)
    repository.write("chat", release_text("chat", ["v1", "v2", "v3"], "v2", candidate="v3", step=1, previous="v1",
                                          temperature={"v1": 0.9}))  # fmt: skip
    repository.commit("Edit v1 in place", build=False)
    scans.clear()
    _same_as_from_scratch(repository, cache)
    assert scans[0] == f"{first}..{repository.head()}"
    published = published_bundles(repository.root, "HEAD", cache)
    assert published[("chat", "v1")].commit != repository.head(), "v1's first publication stays the first"


def test_a_rewritten_history_is_scanned_afresh(repository: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = open_cache(repository.root)
    _same_as_from_scratch(repository, cache)
    rewritten = repository.head()
    repository.git("reset", "-q", "--hard", "HEAD~1")
    repository.write("chat", release_text("chat", ["v1", "v2"], "v1", candidate="v2", step=1, temperature={"v2": 0.7}))
    repository.commit("Start another v2", build=False)
    scans = _scans(monkeypatch)
    _same_as_from_scratch(repository, cache)
    assert scans[0] == repository.head(), "the remembered commit is gone from history: a full scan"
    assert published_bundles(repository.root, "HEAD", cache)[("chat", "v2")].commit == repository.head() != rewritten


def test_a_new_commit_dated_before_the_newest_read_is_scanned_afresh(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = open_cache(repository.root)
    _same_as_from_scratch(repository, cache)
    repository.write("chat", release_text("chat", ["v1", "v2", "v3"], "v2", candidate="v3", step=1))
    repository.commit("Start v3 with a clock behind", build=False, when=1_700_000_000)
    scans = _scans(monkeypatch)
    _same_as_from_scratch(repository, cache)
    assert repository.head() in scans, "dates out of order: git's log order may interleave, so a full scan"


def test_check_base_says_the_same_with_and_without_the_remembered_scan(repository: Repository) -> None:
    root = repository.root
    base = repository.head()
    repository.write("chat", release_text("chat", ["v1", "v2"], "v1", candidate="v2", step=1, temperature={"v1": 0.5}))
    assert run_relc("build", cwd=root).returncode == 0
    for _ in range(2):  # a cold scan, then the remembered one
        cached = run_relc("check", "--base", base, cwd=root)
        uncached = run_relc("check", "--base", base, "--no-cache", cwd=root)
        assert (cached.returncode, cached.stdout, cached.stderr) == (uncached.returncode, uncached.stdout, uncached.stderr)
        assert cached.returncode == 1 and "RELC701" in cached.stdout + cached.stderr


def test_history_read_a_few_files_at_a_time_gives_the_same_publications(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large histories are read in chunks; a publication seen in a later chunk is still
    the first sighting, as in one read."""
    from compiler import history

    for version in ("v3", "v4"):
        repository.write("chat", release_text("chat", ["v1", "v2", version], "v1", candidate=version, step=1))
        repository.commit(f"Start {version}", build=False)
    whole = published_bundles(repository.root, "HEAD", None)
    monkeypatch.setattr(history, "BLOBS_AT_ONCE", 1)
    chunked = published_bundles(repository.root, "HEAD", None)
    assert chunked == whole and len(whole) == 4
    assert {key: (p.commit, p.path) for key, p in chunked.items()} == {key: (p.commit, p.path) for key, p in whole.items()}
