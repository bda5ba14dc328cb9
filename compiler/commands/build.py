"""`relc build`: render every release into rendered/, each changed file replaced atomically."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, RelcError
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.emit import TreeChange
    from compiler.validate import CheckedRelease


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.emit import existing_files
    from compiler.gateways import reload_on_move_files
    from compiler.render import RENDERED_DIR

    from compiler.changes import recover_interrupted_change

    recover_interrupted_change(ROOT)  # render HEAD's releases, not a killed promote's half-written file
    result = validated_releases(reporter, quiet=True, allow_no_releases=True, use_cache=not arguments.no_cache, render=True)
    if not result.ok:
        reporter.note("relc: nothing written: fix the errors above, then build again")
        return EXIT_PROBLEMS
    output = ROOT / RENDERED_DIR
    if not result.releases and existing_files(output) and not arguments.allow_empty:
        raise RelcError(
            f"releases/ holds no release, so building would delete everything in {RENDERED_DIR}/ (every gateway's "
            "routes); nothing was written. If every release really is gone, run `relc build --allow-empty`"
        )
    watched = reload_on_move_files()
    change = _write_rendered(output, result.releases, watched, _rewritten_in_place(output, watched), arguments.no_cache)
    _remember_identities(output, watched)
    _refresh_schema(reporter, arguments.no_cache)
    reporter.note(
        f"{RENDERED_DIR}/: {len(change.written)} written, {len(change.removed)} removed, {change.unchanged} unchanged "
        f"({len(result.releases)} release(s))"
    )
    for path in change.written:
        reporter.note(f"  wrote {RENDERED_DIR}/{path}")
    for path in change.removed:
        reporter.note(f"  removed {RENDERED_DIR}/{path}")
    return EXIT_OK


def _write_rendered(
    output: Path, releases: list["CheckedRelease"], watched: frozenset[str], move_anyway: frozenset[str], no_cache: bool
) -> "TreeChange":
    """Write rendered/; with the cache, the units its memo vouches for are neither made
    nor read (`compiler.fresh`), save those holding a file whose bytes the write needs."""
    from compiler.emit import write_tree
    from compiler.render import render_files

    if no_cache:
        return write_tree(output, render_files(releases), move_anyway, inside=ROOT)
    from compiler.cache import open_cache
    from compiler.fresh import RenderedMemo

    memo = RenderedMemo(ROOT, output, open_cache(ROOT))
    matched: dict[str, os.stat_result] = {}
    change = write_tree(output, memo.files(releases, never=watched | move_anyway), move_anyway, inside=ROOT, matched=matched)
    memo.remember(matched)
    return change


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
