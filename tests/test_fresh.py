"""`relc check` skips the rendered/ files its memo vouches for, and only those: whatever
happens to rendered/, the releases or the memo, it reports what a comparison without
the cache reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from compiler import files
from compiler.cache import ReleaseCache, open_cache
from compiler.emit import TreeChange, write_tree
from compiler.fresh import RenderedMemo, compare_rendered
from compiler.gateways import reload_on_move_files, renderers
from compiler.render import release_fragments, render_files
from compiler.validate import CheckedRelease, validate_paths

LITELLM = Path("rendered/litellm/config.yaml")
AN_HOUR_AGO = 3600


def _checked() -> list[CheckedRelease]:
    files.forget_real_folders()  # a new run, as every command starts
    result = validate_paths([Path("releases")], Path("."), render=release_fragments)
    assert result.ok
    return result.releases


def _differences(releases: list[CheckedRelease], cache: ReleaseCache | None) -> list[tuple[str, str, str]]:
    files.forget_real_folders()
    return [(d.path, d.status, d.diff) for d in compare_rendered(Path("."), releases, cache)]


def _age(folder: Path) -> None:
    """Date every file back, as a build long ago: a rewrite now gives another mtime
    even on a clock that ticks in milliseconds."""
    past = os.stat(folder).st_mtime - AN_HOUR_AGO
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (past, past))


@pytest.fixture
def built(example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[CheckedRelease]:
    """The example releases, built into rendered/, with stamps trusted at once."""
    monkeypatch.chdir(example_repo)
    monkeypatch.setattr("compiler.files.SETTLED_AFTER_NS", 0)
    releases = _checked()
    write_tree(Path("rendered"), render_files(releases))
    _age(Path("rendered"))
    return releases


@pytest.fixture
def cache(tmp_path: Path) -> ReleaseCache:
    return ReleaseCache(tmp_path / "cache", open_cache(Path(".")).salt)


def test_a_warm_check_makes_and_reads_no_file_the_memo_vouches_for(
    built: list[CheckedRelease], cache: ReleaseCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _differences(built, None) == []
    assert _differences(built, cache) == []  # compared in full, and remembered

    def refuse(*arguments: object) -> None:
        raise AssertionError("a file the memo vouches for was made or read")

    monkeypatch.setattr("compiler.render._assembled", refuse)
    monkeypatch.setattr("compiler.emit._status_if_same", refuse)
    monkeypatch.setattr("compiler.render.ReleaseFragments.manifest_text", refuse)
    assert _differences(built, cache) == []


def _rewrite_in_place(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    text = LITELLM.read_bytes()
    changed = text.replace(b"simple-shuffle", b"simple-shufflE")
    assert changed != text and len(changed) == len(text)
    with open(LITELLM, "r+b") as stream:  # the same inode, the same size
        stream.write(changed)
    return releases


def _replace_by_a_link(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    copy = LITELLM.with_name("elsewhere.yaml")
    copy.write_bytes(LITELLM.read_bytes())
    LITELLM.unlink()
    LITELLM.symlink_to(copy.name)  # the same bytes, through a link
    return releases


def _remove(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    next(Path("rendered/bundles").iterdir()).unlink()
    return releases


def _add_a_file(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    Path("rendered/bundles/stray.json").write_text("{}\n")
    return releases


def _change_a_release(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    release = Path("releases/support-chat.yaml")
    release.write_text(release.read_text().replace("step: 2", "step: 3"))
    return _checked()


def _remove_a_release(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    Path("releases/support-chat.yaml").unlink()
    return _checked()


def _rebuild(releases: list[CheckedRelease]) -> list[CheckedRelease]:
    """A rebuild after a release changed: the files are current again, under new stamps."""
    releases = _change_a_release(releases)
    write_tree(Path("rendered"), render_files(releases))
    return releases


@pytest.mark.parametrize(
    "change",
    [_rewrite_in_place, _replace_by_a_link, _remove, _add_a_file, _change_a_release, _remove_a_release, _rebuild],
)
def test_whatever_changed_since_the_memo_the_result_is_the_uncached_one(
    built: list[CheckedRelease], cache: ReleaseCache, change: Callable[[list[CheckedRelease]], list[CheckedRelease]]
) -> None:
    assert _differences(built, cache) == []
    releases = change(built)
    expected = _differences(releases, None)
    assert (expected == []) == (change is _rebuild), "the change shows without the cache"
    assert _differences(releases, cache) == expected
    assert _differences(releases, cache) == expected, "and again, with the memo that run left"


def test_a_damaged_memo_is_not_used(built: list[CheckedRelease], cache: ReleaseCache) -> None:
    assert _differences(built, cache) == []
    (memo,) = cache.folder.rglob("*.json")  # the only entry: the releases were checked without the cache
    memo.write_bytes(memo.read_bytes()[:-20])
    _rewrite_in_place(built)
    expected = _differences(built, None)
    assert expected and _differences(built, cache) == expected


def test_files_written_moments_ago_are_not_vouched_for(
    example_repo: Path, cache: ReleaseCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file rewritten within the clock's tick could keep its stamp: it is compared until it settles."""
    monkeypatch.chdir(example_repo)
    releases = _checked()
    write_tree(Path("rendered"), render_files(releases))
    made: list[str] = []
    from compiler import render

    assemble = render._assembled

    def counted(name: str, pieces: list[render.ReleaseFragments]) -> dict[str, bytes]:
        made.append(name)
        return assemble(name, pieces)

    monkeypatch.setattr("compiler.render._assembled", counted)
    for _ in range(2):
        assert _differences(releases, cache) == []
    assert sorted(made) == sorted([*renderers()] * 2), "every gateway made on both runs"


def _build(releases: list[CheckedRelease], cache: ReleaseCache) -> tuple[TreeChange, list[str]]:
    """What `relc build` writes with the memo, and the gateways it had to assemble."""
    from compiler import render

    made: list[str] = []
    assemble = render._assembled

    def counted(name: str, pieces: list[render.ReleaseFragments]) -> dict[str, bytes]:
        made.append(name)
        return assemble(name, pieces)

    files.forget_real_folders()
    memo = RenderedMemo(Path("."), Path("rendered"), cache)
    matched: dict[str, os.stat_result] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("compiler.render._assembled", counted)
        change = write_tree(Path("rendered"), memo.files(releases, never=reload_on_move_files()), inside=Path("."), matched=matched)
    memo.remember(matched)
    return change, made


def _tree() -> dict[str, bytes]:
    return {path.as_posix(): path.read_bytes() for path in sorted(Path("rendered").rglob("*")) if path.is_file()}


def test_a_warm_build_makes_only_the_files_a_gateway_reloads(built: list[CheckedRelease], cache: ReleaseCache) -> None:
    before = _tree()
    assert _differences(built, cache) == []  # check remembers every unit
    change, made = _build(built, cache)
    assert not change.written and not change.removed and change.unchanged == len(before)
    assert made == ["envoy"], "Envoy's files are compared for its transition; every other unit is vouched for"
    assert _tree() == before


def test_a_build_with_the_memo_writes_what_one_without_it_writes(built: list[CheckedRelease], cache: ReleaseCache) -> None:
    assert _differences(built, cache) == []
    releases = _change_a_release(built)
    _rewrite_in_place(releases)
    change, _ = _build(releases, cache)
    assert "litellm/config.yaml" in change.written
    assert _differences(releases, None) == [], "rendered/ is what the changed releases make"


def test_a_file_a_gateway_reloads_is_never_taken_as_known(built: list[CheckedRelease], tmp_path: Path) -> None:
    from compiler.emit import KNOWN_CURRENT

    (watched, *_) = sorted(reload_on_move_files())
    with pytest.raises(ValueError, match="needed"):
        write_tree(Path("rendered"), [(watched, KNOWN_CURRENT)], inside=Path("."))
    assert (Path("rendered") / watched).is_file(), "nothing was written or removed"


def test_the_files_come_in_the_order_render_files_gives_them(built: list[CheckedRelease], cache: ReleaseCache) -> None:
    """`build` reports what it wrote in this order, with the cache as without it."""
    expected = [path for path, _ in render_files(built)]
    cold = RenderedMemo(Path("."), Path("rendered"), cache)
    assert [path for path, _ in cold.files(built)] == expected
    assert _differences(built, cache) == []
    files.forget_real_folders()
    warm = RenderedMemo(Path("."), Path("rendered"), cache)
    assert [path for path, _ in warm.files(built)] == expected
    assert warm.vouched, "the second time, units were vouched for"
