"""`relc build`: render every release into rendered/, each changed file replaced atomically."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from compiler.commands.common import ROOT
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, RelcError
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.fresh import RenderedMemo
    from compiler.render import RenderUnit
    from compiler.validate import Validation


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.changes import recover_interrupted_change
    from compiler.commands.common import start_validation
    from compiler.emit import write_tree
    from compiler.files import forget_real_folders
    from compiler.gateways import reload_on_move_files
    from compiler.render import RENDERED_DIR

    recover_interrupted_change(ROOT)  # render HEAD's releases, not a killed promote's half-written file
    forget_real_folders()  # rendered/ is checked before the releases are read: a run starts afresh
    output = ROOT / RENDERED_DIR
    watched = reload_on_move_files()
    move_anyway = _rewritten_in_place(output, watched)
    memo = None
    if not arguments.no_cache:
        from compiler.cache import open_cache
        from compiler.fresh import RenderedMemo

        memo = RenderedMemo(ROOT, output, open_cache(ROOT))
    validation = start_validation(allow_no_releases=True, use_cache=not arguments.no_cache, render=True)
    stream = _RenderedStream(validation, reporter, memo, watched | move_anyway, arguments.allow_empty)
    made_folder = not output.exists()
    matched: dict[str, os.stat_result] = {}
    try:
        change = write_tree(output, stream.files(output), move_anyway, inside=ROOT, matched=matched)
    except _NotBuilt:
        if made_folder:
            _remove_if_empty(output)
        reporter.note("relc: nothing written: fix the errors above, then build again")
        return EXIT_PROBLEMS
    if memo is not None:
        memo.remember(matched)
    _remember_identities(output, watched)
    _refresh_schema(reporter, arguments.no_cache)
    reporter.note(
        f"{RENDERED_DIR}/: {len(change.written)} written, {len(change.removed)} removed, {change.unchanged} unchanged "
        f"({stream.releases} release(s))"
    )
    for path in change.written:
        reporter.note(f"  wrote {RENDERED_DIR}/{path}")
    for path in change.removed:
        reporter.note(f"  removed {RENDERED_DIR}/{path}")
    return EXIT_OK


class _NotBuilt(Exception):
    """A release has errors (reported): `write_tree` moves nothing when its stream raises."""


class _RenderedStream:
    """The files of `rendered/` as the releases are checked: each release's manifest is
    staged while the workers check the next ones, and the gateway files, which need
    every release, once all passed. A release with errors ends the stream with
    `_NotBuilt`, so nothing is moved into place. With the memo, the units it vouches
    for are neither made nor read (`compiler.fresh`), save those holding a file whose
    bytes the write needs (`never`)."""

    def __init__(
        self, validation: "Validation", reporter: Reporter, memo: "RenderedMemo | None", never: frozenset[str], allow_empty: bool
    ) -> None:
        self.validation, self.reporter, self.memo, self.never, self.allow_empty = validation, reporter, memo, never, allow_empty
        self.releases = 0

    def files(self, output: Path) -> Iterator[tuple[str, bytes]]:
        from compiler.commands.common import reported
        from compiler.emit import existing_files
        from compiler.render import RENDERED_DIR, gateway_units, manifest_unit

        for checked in self.validation.releases():
            yield from self._unit_files(manifest_unit(checked))
        result = reported(self.reporter, self.validation.finish(), quiet=True)
        if not result.ok:
            raise _NotBuilt()
        if not result.releases and existing_files(output) and not self.allow_empty:
            raise RelcError(
                f"releases/ holds no release, so building would delete everything in {RENDERED_DIR}/ (every gateway's "
                "routes); nothing was written. If every release really is gone, run `relc build --allow-empty`"
            )
        self.releases = len(result.releases)
        for unit in gateway_units(result.releases):
            yield from self._unit_files(unit)

    def _unit_files(self, unit: "RenderUnit") -> Iterator[tuple[str, bytes]]:
        from compiler.fresh import handed_over

        if self.memo is None:
            yield from unit.make().items()
        else:
            yield from handed_over(self.memo.unit_files(unit, self.never))


def _remove_if_empty(folder: Path) -> None:
    """The folder `write_tree` made for a build that wrote nothing: as it was, absent."""
    try:
        folder.rmdir()
    except OSError:
        pass  # something else stands there now


IDENTITIES_FILE = "relc-rendered-identities.json"


def _identities_path() -> Path | None:
    """Kept under .git/, never in the tree; None outside a repository."""
    from compiler import git

    try:
        return git.git_dir(ROOT) / IDENTITIES_FILE
    except git.GitError:
        return None


def _rewritten_in_place(output: Path, watched: frozenset[str]) -> frozenset[str]:
    """Files a gateway reloads only on a move that someone else rewrote since our build
    (`git revert`, `git checkout`): they are moved into place again."""
    import json

    from compiler.emit import rewritten_since

    path = _identities_path()
    if path is None:
        return frozenset()  # outside a repository no git rewrites files behind our back
    try:
        left = json.loads(path.read_text())
    except (OSError, ValueError):
        left = None
    return rewritten_since(output, watched, left if isinstance(left, dict) else None)


def _remember_identities(output: Path, watched: frozenset[str]) -> None:
    import json

    from compiler.emit import file_identities, write_atomically

    path = _identities_path()
    if path is not None:
        write_atomically(path, json.dumps(file_identities(output, watched), sort_keys=True).encode())


def _refresh_schema(reporter: Reporter, no_cache: bool) -> None:
    """`relc build` keeps a committed schema current, so `relc check` asks for one command."""
    from compiler.cache import open_cache
    from compiler.schema import SCHEMA_PATH, schema_is_stale, write_schema

    if schema_is_stale(ROOT, None if no_cache else open_cache(ROOT)):
        write_schema(ROOT)
        reporter.note(f"  wrote {SCHEMA_PATH.as_posix()}")
