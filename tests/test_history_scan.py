"""`check --base` remembers the history scan by the last commit it read: the results are
the scan's from scratch, after new commits, a rewritten history and out-of-order dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import git
from compiler.cache import ReleaseCache, open_cache
from compiler.history import published_bundles
from tests.conftest import run_relc
from tests.support import Repository, release_text, workers_answers


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


_BUNDLES = "bundles:\n  - version: v1\n    model: {provider: openai, name: m1}\n"
_OTHER_BUNDLES = "bundles:\n  - version: v1\n    model: {provider: openai, name: m2}\n"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Dashes at the left edge: the block goes on after the first `- ` line.
        ("name: a\nbundles:\n- version: v1\n  model: m1\nrollout: {}\n", "name: a\nbundles:\n- version: v1\n  model: m2\nrollout: {}\n"),
        # A multi-line string holding a `bundles:` line at the left edge, then the real block.
        ('notes: "x\nbundles: []\n"\n' + _BUNDLES, 'notes: "x\nbundles: []\n"\n' + _OTHER_BUNDLES),
        # A flow sequence whose lines start at the left edge.
        ("bundles: [\n{version: v1, model: m1}\n]\nrollout: {}\n", "bundles: [\n{version: v1, model: m2}\n]\nrollout: {}\n"),
        # A quoted string in the bundles that goes on at the left edge, looking like a key.
        ('bundles:\n  - version: v1\n    notes: "a\nrollout: x"\n    model: m1\nrollout: {}\n',
         'bundles:\n  - version: v1\n    notes: "a\nrollout: x"\n    model: m2\nrollout: {}\n'),
        # An alias into the bundles, its anchor outside them.
        ("base: &m m1\n" + "bundles:\n  - {version: v1, model: *m}\n", "base: &m m2\n" + "bundles:\n  - {version: v1, model: *m}\n"),
    ],
)
def test_file_versions_with_other_bundles_never_share_a_key(first: str, second: str) -> None:
    """Versions that share a key are parsed once: they must have the same bundles."""
    from compiler.history import _bundles_key

    assert _bundles_key(first.encode()) != _bundles_key(second.encode())


def test_the_plain_layout_shortcut_finds_the_text_the_parser_finds() -> None:
    """Most files take the shortcut; where it applies it must agree with the parser."""
    from compiler.history import _bundles_span, _plain_bundles_block
    from tests.conftest import REPO

    files = [*REPO.glob("releases/*.yaml"), *REPO.glob("tests/cases/**/*.yaml")]
    compared = 0
    for path in files:
        content = path.read_bytes()
        parsed, plain = _bundles_span(content), _plain_bundles_block(content)
        if plain is not None and parsed is not None:
            assert plain == parsed, path
            compared += 1
    assert compared >= 20


def test_file_versions_that_differ_outside_the_bundles_share_a_key() -> None:
    from compiler.history import _bundles_key

    first = "name: a\nowners: [x]\n" + _BUNDLES + "rollout: {step: 1}\n"
    second = "name: a\nowners: [y, z]\n" + _BUNDLES + "rollout: {step: 2}\n"
    assert _bundles_key(first.encode()) == _bundles_key(second.encode())
    assert _bundles_key(first.encode()).endswith(_BUNDLES.encode()), "the key is the bundles' own text"


def test_a_version_that_does_not_load_hides_no_later_publication(tmp_path: Path) -> None:
    """The first version with these bundles does not load (a key twice); the next one
    does, so its bundles are published there, and changing one in place is caught."""
    repository = Repository(tmp_path / "repo")
    valid = release_text("chat", ["v1"], stable="v1")
    repository.write("chat", valid.replace("owners: [tests]\n", "owners: [tests]\nowners: [tests]\n"))
    repository.commit("Publish chat v1 (with a key twice)", build=False)
    repository.write("chat", valid)
    repository.commit("Fix the key")
    repository.git("switch", "-q", "-c", "change")
    repository.write("chat", release_text("chat", ["v1"], stable="v1", temperature={"v1": 0.9}))
    repository.commit("Change v1 in place")
    result = run_relc("check", "--base", "main", "--no-cache", cwd=repository.root)
    assert result.returncode == 1 and "RELC701" in result.stdout and "bundle `v1`" in result.stdout, result.stdout


def test_bundles_parsed_ahead_in_workers_give_the_same_publications(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold scan of a long history parses the bundle blocks new to each chunk in worker
    processes: the publications (first sightings, commits, digests) are the walk's own,
    a version that does not load included."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    valid = release_text("chat", ["v1"], stable="v1")
    repository.write("chat", valid.replace("owners: [tests]\n", "owners: [tests]\nowners: [tests]\n"))
    repository.commit("Publish chat v1 (with a key twice)", build=False)
    for name in ("talk", "voice", "mail"):
        repository.write(name, release_text(name, ["v1"], stable="v1"))
    repository.write("chat", valid)
    repository.commit("Three more, and chat's key fixed", build=False)
    for version in ("v2", "v3"):
        for number, name in enumerate(("chat", "talk", "voice")):  # each its own bundles
            temperature = {version: number / 10}
            repository.write(name, release_text(name, ["v1", version], "v1", candidate=version, step=1, temperature=temperature))
        repository.commit(f"Start {version}", build=False)

    monkeypatch.setenv("RELC_JOBS", "1")
    walked = published_bundles(repository.root, "HEAD", None)
    ahead_of_the_walk = workers_answers(monkeypatch)
    monkeypatch.setattr(history, "DIGESTS_AT_ONCE", 1)
    for chunk in (1000, 4):  # all in one chunk; or a few, some with bundles parsed ahead
        monkeypatch.setattr(history, "BLOBS_AT_ONCE", chunk)
        ahead_of_the_walk.clear()
        assert published_bundles(repository.root, "HEAD", None) == walked, chunk
        assert ahead_of_the_walk and max(ahead_of_the_walk) >= 2, "some bundles were parsed by the workers"
    assert walked[("chat", "v1")].commit == repository.git("rev-parse", "HEAD~2"), "the version that did not load published nothing"
    assert len(walked) == 10
