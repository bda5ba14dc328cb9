"""Compare `rendered/` with what the releases make, skipping the files known current.

Making a gateway's files means unpacking every release's fragment and serializing them
all; on a warm `relc check` of a thousand releases that, and reading back a thousand
manifests, is most of the run. So after a comparison, a memo in the release cache
records each unit (`render.RenderUnit`: a manifest, or a gateway's files) whose files
all matched: a digest of its inputs (with relc's code, through the cache's salt) and each
file's stamp as it was read (`files.settled_stamp`). Next time, a unit made from the same
inputs whose files still bear those stamps is current: neither made nor read.

Like the rest of the cache this is an optimisation only. A file rewritten since (even
with the same size) has another stamp, a stamp too recent to tell a rewrite apart is not
recorded, and a missing, damaged or foreign memo is simply not used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.emit import FileDifference
    from compiler.validate import CheckedRelease

_MEMO = "rendered files known current"
_UNIT = "rendered unit"
# A unit's key, and each of its files' stamps by path.
Memo = dict[str, dict[str, list[int]]]


def compare_rendered(root: Path, releases: "list[CheckedRelease]", cache: "ReleaseCache | None") -> list["FileDifference"]:
    """`emit.compare_tree` of `rendered/` against what `releases` make (the same result),
    making and reading only the units the memo does not vouch for."""
    from compiler.emit import compare_tree
    from compiler.render import RENDERED_DIR, render_files

    folder = root / RENDERED_DIR
    if cache is None:
        return compare_tree(folder, render_files(releases), RENDERED_DIR, inside=root)
    from compiler.files import real_path

    memo_key = cache.key(_MEMO, real_path(folder))
    known = _load(cache, memo_key)
    vouched: Memo = {}
    made: list[tuple[str, list[str]]] = []
    matched: dict[str, os.stat_result] = {}
    stream = _files_not_vouched_for(root, folder, releases, cache, known, vouched, made)
    differences = compare_tree(folder, stream, RENDERED_DIR, inside=root, matched=matched)
    memo = {**vouched, **_newly_current(made, matched)}
    if memo != known:
        cache.store(memo_key, {"units": memo})
    return differences


def _files_not_vouched_for(
    root: Path, folder: Path, releases: "list[CheckedRelease]", cache: "ReleaseCache",
    known: Memo, vouched: Memo, made: list[tuple[str, list[str]]],
) -> Iterator[tuple[str, bytes]]:
    """Every file of `rendered/`: KNOWN_CURRENT for those of a unit the memo vouches for
    (added to `vouched`), else its bytes (its unit added to `made`)."""
    from compiler.emit import KNOWN_CURRENT
    from compiler.files import still_stamped
    from compiler.render import render_units

    for unit in render_units(releases):
        key = cache.key(_UNIT, unit.name, *unit.inputs)
        stamps = known.get(key)
        if stamps is not None and all(still_stamped(os.path.join(folder, path), root, stamp) for path, stamp in stamps.items()):
            vouched[key] = stamps
            yield from ((path, KNOWN_CURRENT) for path in stamps)
            continue
        files = unit.make()
        made.append((key, list(files)))
        yield from files.items()


def _newly_current(made: list[tuple[str, list[str]]], matched: dict[str, os.stat_result]) -> Memo:
    """The units whose files were all found equal, each file stamped as it was read;
    a unit with a file too recently written to stamp is left out."""
    from compiler.files import settled_stamp

    memo: Memo = {}
    for key, paths in made:
        stamps = {path: settled_stamp(matched[path]) if path in matched else None for path in paths}
        if all(stamp is not None for stamp in stamps.values()):
            memo[key] = stamps  # type: ignore[assignment]  # no None left
    return memo


def _load(cache: "ReleaseCache", key: str) -> Memo:
    """The memo stored under `key`, or an empty one when it is missing or not as written."""
    entry = cache.load(key)
    units: Any = entry.get("units") if entry is not None else None
    if not isinstance(units, dict):
        return {}
    memo: Memo = {}
    for unit, stamps in units.items():
        if not isinstance(stamps, dict) or not all(_is_stamp(stamp) for stamp in stamps.values()):
            return {}
        memo[unit] = stamps
    return memo


def _is_stamp(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 5 and all(type(part) is int for part in value)
