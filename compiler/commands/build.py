"""`relc build`: render every release into rendered/, each changed file replaced atomically."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, RelcError
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.emit import existing_files, write_tree
    from compiler.render import RENDERED_DIR, render_tree

    result = validated_releases(reporter, quiet=True, allow_no_releases=True)
    if not result.ok:
        reporter.note("relc: nothing written: fix the errors above, then build again")
        return EXIT_PROBLEMS
    output = ROOT / RENDERED_DIR
    if not result.releases and existing_files(output) and not arguments.allow_empty:
        raise RelcError(
            f"releases/ holds no release, so building would delete everything in {RENDERED_DIR}/ (every gateway's "
            "routes); nothing was written. If every release really is gone, run `relc build --allow-empty`"
        )
    change = write_tree(output, render_tree(result.releases, ROOT))
    _refresh_schema(reporter)
    reporter.note(
        f"{RENDERED_DIR}/: {len(change.written)} written, {len(change.removed)} removed, {change.unchanged} unchanged "
        f"({len(result.releases)} release(s))"
    )
    for path in change.written:
        reporter.note(f"  wrote {RENDERED_DIR}/{path}")
    for path in change.removed:
        reporter.note(f"  removed {RENDERED_DIR}/{path}")
    return EXIT_OK


def _refresh_schema(reporter: Reporter) -> None:
    """`relc build` keeps a committed schema current, so `relc check` asks for one command."""
    from compiler.schema import SCHEMA_PATH, schema_is_stale, write_schema

    if schema_is_stale(ROOT):
        write_schema(ROOT)
        reporter.note(f"  wrote {SCHEMA_PATH.as_posix()}")
