"""Which files of `rendered/` are known to hold what the releases make, without making them.

Making a gateway's files means unpacking every release's fragment and serializing them
all; on a warm `relc check` of a thousand releases that, and reading back a thousand
manifests, is most of the run. So after `check` compares (or `build` writes) rendered/,
a memo in the release cache records each unit (`render.RenderUnit`: a manifest, or a
gateway's files) whose files all matched: a digest of its inputs (with relc's code,
through the cache's salt) and each file's stamp as it was read (`files.settled_stamp`).
Next time, a unit made from the same inputs whose files still bear those stamps is
current: neither made nor read.

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
    from compiler.render import RenderUnit
    from compiler.validate import CheckedRelease

_MEMO = "rendered files known current"
_UNIT = "rendered unit"
# A unit's key, and each of its files' stamps by path.
Memo = dict[str, dict[str, list[int]]]


class RenderedMemo:
    """The memo of one `rendered/` folder, for one run: what it vouched for, and what
    was made, so `remember` can record what this run found."""

    def __init__(self, root: Path, folder: Path, cache: "ReleaseCache") -> None:
        from compiler.files import real_path

        self.root, self.folder, self.cache = root, folder, cache
        self.key = cache.key(_MEMO, real_path(folder))
        self.known = _load(cache, self.key)
        self.vouched: Memo = {}
        self.made: list[tuple[str, list[str]]] = []

    def files(self, releases: "list[CheckedRelease]", never: frozenset[str] = frozenset()) -> Iterator[tuple[str, bytes]]:
        """Every file of `rendered/`, in `render_files`' order: KNOWN_CURRENT for those of
        a unit the memo vouches for, else its bytes. A unit with a file in `never` is
        always made (a file whose bytes the caller needs)."""
        from compiler.gateways import renderers
        from compiler.render import render_units

        units = list(render_units(releases))
        # As `render_files`: first the files each gateway writes first, in the registry's order.
        registry = list(renderers())
        early = sorted((unit for unit in units if unit.write_first), key=lambda unit: registry.index(unit.gateway))
        held = {unit.name: self.unit_files(unit, never) for unit in early}
        for unit in early:
            first = sorted((item for item in held[unit.name] if item[0] in unit.write_first), key=lambda item: item[0])
            # Only the rest waits for the unit's turn: a gateway's first files are its largest.
            held[unit.name] = [item for item in held[unit.name] if item[0] not in unit.write_first]
            yield from handed_over(first)
        for unit in units:
            yield from handed_over(held.pop(unit.name) if unit.name in held else self.unit_files(unit, never))

    def unit_files(self, unit: "RenderUnit", never: frozenset[str]) -> list[tuple[str, bytes]]:
        """A unit's files by path: KNOWN_CURRENT for each when the memo vouches for it, else made."""
        from compiler.emit import KNOWN_CURRENT

        key = self.cache.key(_UNIT, unit.name, *unit.inputs)
        stamps = self.known.get(key)
        if stamps is not None and never.isdisjoint(stamps) and self._still_stamped(stamps):
            self.vouched[key] = stamps
            return [(path, KNOWN_CURRENT) for path in sorted(stamps)]
        files = unit.make()
        self.made.append((key, list(files)))
        return list(files.items())

    def _still_stamped(self, stamps: dict[str, list[int]]) -> bool:
        from compiler.files import still_stamped

        return all(still_stamped(os.path.join(self.folder, path), self.root, stamp) for path, stamp in stamps.items())

    def remember(self, matched: dict[str, os.stat_result]) -> None:
        """Record the units vouched for, and those made whose files were all found equal
        (`matched`: their status as read); written only when that changed."""
        memo = {**self.vouched, **_all_matched(self.made, matched)}
        if memo != self.known:
            self.cache.store(self.key, {"units": memo})


def handed_over(files: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """Each file, let go of here once handed on (the consumer writes or compares it and
    drops it): ten thousand releases make gateway files of tens of MB each."""
    files.reverse()
    while files:
        yield files.pop()


def compare_rendered(root: Path, releases: "list[CheckedRelease]", cache: "ReleaseCache | None") -> list["FileDifference"]:
    """`emit.compare_tree` of `rendered/` against what `releases` make (the same result),
    making and reading only the units the memo does not vouch for."""
    from compiler.emit import compare_tree
    from compiler.render import RENDERED_DIR, render_files

    folder = root / RENDERED_DIR
    if cache is None:
        return compare_tree(folder, render_files(releases), RENDERED_DIR, inside=root)
    memo = RenderedMemo(root, folder, cache)
    matched: dict[str, os.stat_result] = {}
    differences = compare_tree(folder, memo.files(releases), RENDERED_DIR, inside=root, matched=matched)
    memo.remember(matched)
    return differences


def _all_matched(made: list[tuple[str, list[str]]], matched: dict[str, os.stat_result]) -> Memo:
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
