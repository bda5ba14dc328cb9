"""`relc schema`: write (or check, or print) the published JSON Schema of release files."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.schema import SCHEMA_PATH, schema_text, stale_schema, write_schema

    if arguments.stdout:
        reporter.out.write(schema_text())
        return EXIT_OK
    if arguments.check:
        if not (ROOT / SCHEMA_PATH).exists():
            reporter.note(f"{SCHEMA_PATH} is missing: run `relc schema` and commit it")
            return EXIT_PROBLEMS
        stale = stale_schema(ROOT)
        if stale is not None:
            reporter.note(stale[1])
            return EXIT_PROBLEMS
        return EXIT_OK
    target = write_schema(ROOT)
    reporter.note(f"wrote {target.as_posix()}")
    return EXIT_OK
