"""`compiler.emit` directly: deterministic YAML and JSON, atomic writes, and the tree of
rendered files (what is written, removed, left alone, and who may write it)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import emit
from compiler.emit import (
    STAGING_PREFIX,
    FileDifference,
    TreeChange,
    compare_tree,
    file_identities,
    format_float,
    rewritten_since,
    to_json,
    to_yaml,
    write_atomically,
    write_tree,
)


def test_to_yaml_sorts_keys_and_nests_blocks() -> None:
    data = {"zeta": 1, "alpha": {"b": [1, {"y": 2, "x": "text"}], "a": {}}, "mid": [], "list": [[1, 2], "s"]}
    assert to_yaml(data) == (
        "alpha:\n"
        "  a: {}\n"
        "  b:\n"
        "  - 1\n"
        "  - x: text\n"
        '    "y": 2\n'  # `y` is a boolean to a YAML 1.1 reader
        "list:\n"
        "- - 1\n"
        "  - 2\n"
        "- s\n"
        "mid: []\n"
        "zeta: 1\n"
    )
    assert yaml.safe_load(to_yaml(data)) == data


def test_to_yaml_does_not_depend_on_insertion_order() -> None:
    one = {"b": {"d": 1, "c": 2}, "a": [3]}
    other = {"a": [3], "b": {"c": 2, "d": 1}}
    assert to_yaml(one) == to_yaml(other)
    assert to_json(one) == to_json(other)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("a/b:c", "a/b:c"),
        ("yes", '"yes"'),
        ("no", '"no"'),
        ("on", '"on"'),
        ("null", '"null"'),
        ("~", '"~"'),
        ("1.0", '"1.0"'),
        ("010", '"010"'),
        ("", '""'),
        ("has space", '"has space"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("trailing\n", '"trailing\\n"'),
        ("a: b", '"a: b"'),
        ("#comment", '"#comment"'),
        ("tab\there", '"tab\\there"'),
        ("\u2028", '"\\u2028"'),
        ("é", '"é"'),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (0.5, "0.5"),
    ],
)
def test_to_yaml_quotes_every_string_a_reader_could_misread(value: object, text: str) -> None:
    assert to_yaml({"key": value}) == f"key: {text}\n"
    assert yaml.safe_load(to_yaml({"key": value})) == {"key": value}


def test_to_yaml_refuses_what_it_cannot_emit() -> None:
    with pytest.raises(TypeError, match="cannot emit set as YAML"):
        to_yaml({"key": {1, 2}})
    with pytest.raises(ValueError, match="non-finite"):
        to_yaml({"key": float("nan")})


def test_to_yaml_keys_that_read_as_other_types_are_quoted() -> None:
    assert to_yaml({"1": "a", "true": "b", "n": "c"}) == '"1": a\n"n": c\n"true": b\n'


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1.0"), (0.1, "0.1"), (-2.5, "-2.5"), (1e-7, "0.0000001"), (1e20, "100000000000000000000.0"), (3.0e16, "30000000000000000.0"), (-0.0, "-0.0")],
)
def test_format_float_is_fixed_notation_with_a_point(value: float, text: str) -> None:
    assert format_float(value) == text
    assert yaml.safe_load(text) == value


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_format_float_refuses_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_float(value)


def test_to_json_is_sorted_indented_and_ends_with_a_newline() -> None:
    assert to_json({"b": 1, "a": ["é", {"d": None, "c": True}]}) == (
        '{\n  "a": [\n    "é",\n    {\n      "c": true,\n      "d": null\n    }\n  ],\n  "b": 1\n}\n'
    )
    with pytest.raises(ValueError):
        to_json({"a": float("inf")})


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_to_json_writes_the_bytes_json_dumps_writes(value: object) -> None:
    """The fast path must never change a rendered byte: any plain data, any text."""
    assert to_json(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_to_yaml_bytes_are_to_yaml_encoded(value: object) -> None:
    """Gateway files are written from the streaming form: it must be the same bytes."""
    assert emit.to_yaml_bytes(value) == emit.to_yaml(value).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_to_yaml_reads_back_as_the_same_data_in_yaml_1_1_and_1_2(value: object) -> None:
    """Whatever the data, every gateway's YAML reader (1.1: PyYAML; 1.2: ruamel) gets it back."""
    from ruamel.yaml import YAML

    text = to_yaml(value)
    assert yaml.safe_load(text) == value
    assert YAML(typ="safe", pure=True).load(text) == value


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {None: 1}}, [{"a": float("nan")}], {"a": (1, 2)}, {"a": set()}])
def test_to_json_gives_what_json_dumps_gives_for_data_it_does_not_expect(value: object) -> None:
    try:
        expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error)):
            to_json(value)
    else:
        assert to_json(value) == expected


def test_write_atomically_writes_the_content_and_makes_folders(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "file.yaml"
    write_atomically(target, b"one\n")
    assert target.read_bytes() == b"one\n"
    write_atomically(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["file.yaml"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_atomically_honours_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        write_atomically(tmp_path / "file", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "file").stat().st_mode) == mode


def test_write_atomically_leaves_no_temporary_file_and_the_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["file"]


def test_write_atomically_into_a_folder_target_fails_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "taken", b"x")
    assert [path.name for path in tmp_path.iterdir()] == ["taken"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_write_tree_reports_written_removed_and_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    first = write_tree(folder, {"a.yaml": b"a\n", "sub/b.yaml": b"b\n", "old/c.yaml": b"c\n"})
    assert first == TreeChange(("a.yaml", "sub/b.yaml", "old/c.yaml"), (), 0)
    second = write_tree(folder, {"a.yaml": b"a\n", "sub/b.yaml": b"B\n", "new.yaml": b"n\n"})
    assert second == TreeChange(("sub/b.yaml", "new.yaml"), ("old/c.yaml",), 1)
    assert _tree(folder) == {"a.yaml": b"a\n", "new.yaml": b"n\n", "sub/b.yaml": b"B\n"}
    assert not (folder / "old").exists(), "an emptied folder is removed"
    assert not list(folder.glob(STAGING_PREFIX + "*"))


def test_write_tree_leaves_unchanged_files_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b\n"})
    before = file_identities(folder, frozenset({"a.yaml", "b.yaml"}))
    change = write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b2\n"})
    after = file_identities(folder, frozenset({"a.yaml", "b.yaml"}))
    assert change == TreeChange(("b.yaml",), (), 1)
    assert after["a.yaml"] == before["a.yaml"]
    assert after["b.yaml"][0] != before["b.yaml"][0], "a changed file is a new inode, moved into place"


def test_write_tree_move_anyway_replaces_identical_files(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b\n"})
    before = file_identities(folder, frozenset({"a.yaml", "b.yaml"}))
    change = write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b\n"}, move_anyway=frozenset({"a.yaml"}))
    after = file_identities(folder, frozenset({"a.yaml", "b.yaml"}))
    assert change == TreeChange((), (), 2)  # the bytes did not change
    assert after["a.yaml"][0] != before["a.yaml"][0], "moved into place again, so a file watch fires"
    assert after["b.yaml"] == before["b.yaml"]
    assert (folder / "a.yaml").read_bytes() == b"a\n"


def test_write_tree_removes_a_leftover_staging_folder_and_empty_folders(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    (folder / f"{STAGING_PREFIX}crashed" / "x").mkdir(parents=True)
    (folder / f"{STAGING_PREFIX}crashed" / "x" / "half.yaml").write_bytes(b"ha")
    (folder / "empty" / "nested").mkdir(parents=True)
    change = write_tree(folder, {"a.yaml": b"a\n"})
    assert change == TreeChange(("a.yaml",), (), 0), "files in a staging folder are not the tree's"
    assert sorted(path.name for path in folder.iterdir()) == ["a.yaml"]


def test_write_tree_empty_removes_everything_but_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"x/y/z.yaml": b"z\n"})
    assert write_tree(folder, {}) == TreeChange((), ("x/y/z.yaml",), 0)
    assert folder.is_dir() and not any(folder.iterdir())


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_write_tree_files_honour_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        write_tree(tmp_path / "rendered", {"a.yaml": b"a\n"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "rendered" / "a.yaml").stat().st_mode) == 0o666 & ~umask


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_file_that_cannot_be_synced_fails_the_write_and_moves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staged files are synced by threads: a disk error there (the 40th of 100 files)
    still reaches the caller, nothing moves, and no file is left open."""
    folder = tmp_path / "rendered"
    write_tree(folder, {"old.yaml": b"old\n"})
    before = _open_descriptors()
    synced = []
    real_fsync = os.fsync

    def failing_fsync(descriptor: int) -> None:
        synced.append(descriptor)
        if len(synced) == 40:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(descriptor)

    monkeypatch.setattr(emit.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        write_tree(folder, {f"bundles/{n:03}.json": b"{}\n" for n in range(100)})
    monkeypatch.undo()
    assert _tree(folder) == {"old.yaml": b"old\n"}, "nothing moved into place, nothing removed"
    assert not list(folder.glob(STAGING_PREFIX + "*"))
    assert _open_descriptors() == before


def test_compare_tree_names_missing_stale_and_extra_files_with_diffs(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"same.yaml": b"s\n", "stale.yaml": b"old\n", "extra.yaml": b"e\n"})
    differences = compare_tree(folder, {"same.yaml": b"s\n", "stale.yaml": b"new\n", "missing.yaml": b"m\n"}, "rendered")
    assert [(d.path, d.status) for d in differences] == [("extra.yaml", "extra"), ("missing.yaml", "missing"), ("stale.yaml", "stale")]
    stale = differences[2]
    assert stale.diff == "--- a/rendered/stale.yaml\n+++ b/rendered/stale.yaml\n@@ -1 +1 @@\n-old\n+new\n"
    assert "+m\n" in differences[1].diff and "-e\n" in differences[0].diff


def test_compare_tree_without_diffs_names_the_same_files_and_makes_no_diff(tmp_path: Path) -> None:
    """A preview only lists what would change: it must list exactly what the diffs would."""
    folder = tmp_path / "rendered"
    write_tree(folder, {"same.yaml": b"s\n", "stale.yaml": b"old\n", "extra.yaml": b"e\n"})
    expected = {"same.yaml": b"s\n", "stale.yaml": b"new\n", "missing.yaml": b"m\n"}
    with_diffs = compare_tree(folder, expected, "rendered")
    without = compare_tree(folder, expected, "rendered", with_diffs=False)
    assert [(d.path, d.status) for d in without] == [(d.path, d.status) for d in with_diffs]
    assert [d.diff for d in without] == ["", "", ""] and all(d.diff for d in with_diffs)


def test_compare_tree_of_a_missing_folder_lists_every_file_missing(tmp_path: Path) -> None:
    assert compare_tree(tmp_path / "absent", {"a": b"a\n"}, "rendered") == [
        FileDifference("a", "missing", "--- a/rendered/a\n+++ b/rendered/a\n@@ -0,0 +1 @@\n+a\n")
    ]
    assert compare_tree(tmp_path / "absent", {}, "rendered") == []


def test_compare_tree_reports_links_and_pipes_without_opening_them(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"same.yaml": b"s\n"})
    (tmp_path / "secret").write_bytes(b"s\n")  # the same bytes: still not relc's file
    os.mkfifo(tmp_path / "pipe")
    (folder / "linked.yaml").symlink_to(tmp_path / "secret")
    (folder / "to-a-pipe.yaml").symlink_to(tmp_path / "pipe")  # opening it would block forever
    os.mkfifo(folder / "pipe.yaml")
    differences = compare_tree(folder, {"same.yaml": b"s\n", "linked.yaml": b"s\n", "to-a-pipe.yaml": b"p\n"}, "rendered")
    assert [(d.path, d.status) for d in differences] == [
        ("linked.yaml", "a symbolic link"), ("pipe.yaml", "not a regular file"), ("to-a-pipe.yaml", "a symbolic link")
    ]
    assert differences[0].diff.startswith("--- a/rendered/linked.yaml (a symbolic link, not read)\n+++ b/rendered/linked.yaml\n")


def test_write_tree_replaces_links_and_pipes_with_files_and_never_writes_through_a_linked_folder(tmp_path: Path) -> None:
    folder, outside = tmp_path / "rendered", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"keep\n")
    folder.mkdir()
    (folder / "a.yaml").symlink_to(outside / "secret")
    (folder / "sub").symlink_to(outside)
    os.mkfifo(folder / "gone.yaml")
    change = write_tree(folder, {"a.yaml": b"keep\n", "sub/secret": b"new\n"})
    assert change == TreeChange(("a.yaml", "sub/secret"), ("gone.yaml",), 0)
    assert (outside / "secret").read_bytes() == b"keep\n" and sorted(os.listdir(outside)) == ["secret"]
    assert not (folder / "a.yaml").is_symlink() and not (folder / "sub").is_symlink()
    assert (folder / "sub" / "secret").read_bytes() == b"new\n" and not (folder / "gone.yaml").exists()


def test_a_tree_folder_linked_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    from compiler.files import FileReadError

    repository, outside = tmp_path / "repo", tmp_path / "outside"
    repository.mkdir()
    outside.mkdir()
    (outside / "keep").write_bytes(b"k\n")
    (repository / "rendered").symlink_to(outside)
    with pytest.raises(FileReadError, match="rendered/ resolves outside the repository"):
        write_tree(repository / "rendered", {"a.yaml": b"a\n"}, inside=repository)
    with pytest.raises(FileReadError, match="rendered/ resolves outside the repository"):
        compare_tree(repository / "rendered", {"a.yaml": b"a\n"}, "rendered", inside=repository)
    assert os.listdir(outside) == ["keep"]


def test_rewritten_since_tells_an_in_place_rewrite_from_relc_own_move(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    paths = frozenset({"a.yaml", "b.yaml", "gone.yaml"})
    write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b\n"})
    left = file_identities(folder, paths)
    assert set(left) == {"a.yaml", "b.yaml"}, "a missing file has no identity"
    assert rewritten_since(folder, paths, left) == frozenset()
    # git checkout writes in place: same bytes, same inode, a new mtime.
    status = (folder / "a.yaml").stat()
    with open(folder / "a.yaml", "wb") as stream:
        stream.write(b"a\n")
    os.utime(folder / "a.yaml", ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert (folder / "a.yaml").stat().st_ino == status.st_ino
    assert rewritten_since(folder, paths, left) == frozenset({"a.yaml"})
    # relc's own move after that: its identity is the one left now.
    write_tree(folder, {"a.yaml": b"a\n", "b.yaml": b"b\n"}, move_anyway=frozenset({"a.yaml"}))
    left = file_identities(folder, paths)
    assert rewritten_since(folder, paths, left) == frozenset()


def test_rewritten_since_with_nothing_known_is_every_present_file(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"a.yaml": b"a\n"})
    assert rewritten_since(folder, frozenset({"a.yaml", "missing.yaml"}), None) == frozenset({"a.yaml"})


def test_a_replaced_file_has_another_identity_even_with_the_same_mtime(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    write_tree(folder, {"a.yaml": b"a\n"})
    left = file_identities(folder, frozenset({"a.yaml"}))
    status = (folder / "a.yaml").stat()
    (folder / "a.new").write_bytes(b"a\n")
    os.utime(folder / "a.new", ns=(status.st_atime_ns, status.st_mtime_ns))
    os.replace(folder / "a.new", folder / "a.yaml")
    assert rewritten_since(folder, frozenset({"a.yaml"}), left) == frozenset({"a.yaml"})


def test_the_folder_lock_refuses_a_second_writer(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    folder.mkdir()
    with emit._folder_lock(folder):
        other = os.open(folder, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError) as caught:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert caught.value.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        finally:
            os.close(other)
    other = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on leaving
    finally:
        os.close(other)


def test_a_second_write_tree_waits_for_the_first_writer(tmp_path: Path) -> None:
    folder = tmp_path / "rendered"
    folder.mkdir()
    results: list[TreeChange] = []
    with emit._folder_lock(folder):
        writer = threading.Thread(target=lambda: results.append(write_tree(folder, {"a.yaml": b"a\n"})))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive(), "the second writer went ahead while the folder was locked"
        assert not (folder / "a.yaml").exists()
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert results == [TreeChange(("a.yaml",), (), 0)]
    assert _tree(folder) == {"a.yaml": b"a\n"}
