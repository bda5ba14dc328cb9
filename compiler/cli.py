"""The `relc` command line: parse arguments, call the core, print, set the exit code.

Exit status: 0 when everything checked is valid, 1 when any problem was found, 2 for
usage errors. Heavy modules are imported inside the commands that need them, so that
`relc --help` and `relc validate` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from compiler import __version__

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
FORMATS = ("text", "json", "github")

DESCRIPTION = """\
relc compiles LLM release specs (releases/<name>.yaml) into gateway configs.
A release declares immutable serving bundles, a rollout (shadow, canary steps)
and triggers; Git holds all state, and rollback is a revert commit.
"""

EPILOG = """\
exit status: 0 valid, 1 problems found, 2 usage error.
docs: README.md and docs/diagnostics.md (every diagnostic code).
"""


class _UsageError(Exception):
    """A mistake in how relc was called, reported with exit status 2."""


def _validate(arguments: argparse.Namespace) -> int:
    from compiler.diagnostics import FORMATTERS
    from compiler.validate import validate_paths

    paths = [Path(p) for p in arguments.paths] or [Path("releases")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise _UsageError(f"no such file or folder: {', '.join(str(p) for p in missing)}")
    result = validate_paths(paths, root=Path("."))
    sys.stdout.write(FORMATTERS[arguments.format](result.diagnostics))
    if arguments.format == "text":
        errors = sum(1 for d in result.diagnostics if d.severity.value == "error")
        checked = len(result.releases)
        summary = f"{checked} release(s) valid" if result.ok else f"{errors} error(s)"
        print(summary, file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def _schema(arguments: argparse.Namespace) -> int:
    from compiler.schema import SCHEMA_PATH, schema_text, write_schema

    if arguments.stdout:
        sys.stdout.write(schema_text())
        return EXIT_OK
    if arguments.check:
        target = Path(".") / SCHEMA_PATH
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != schema_text():
            print(f"{SCHEMA_PATH} is stale: run `relc schema` and commit it", file=sys.stderr)
            return EXIT_PROBLEMS
        return EXIT_OK
    target = write_schema(Path("."))
    print(f"wrote {target.as_posix()}", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relc", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"relc {__version__}")
    parser.add_argument(
        "-C", dest="directory", metavar="DIR", help="run as if started in DIR (the repository root); default: here"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check release files and their prompt templates",
        description="Check release files: YAML safety, the spec, rollout and trigger rules, prompt templates "
        "(path, sha256, sandbox) and literal secrets. Reports every problem, one line each, as "
        "FILE:LINE:COL: SEVERITY CODE: MESSAGE.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="release files or folders (default: releases/)")
    validate.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json, or github (workflow annotations that show on pull request lines)",
    )
    validate.set_defaults(run=_validate)

    schema = commands.add_parser(
        "schema",
        help="write schemas/release.schema.json from the spec",
        description="Regenerate the published JSON Schema of release files from the spec models.",
    )
    mode = schema.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed schema is stale; write nothing")
    mode.add_argument("--stdout", action="store_true", help="print the schema instead of writing it")
    schema.set_defaults(run=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if arguments.directory:
            try:
                os.chdir(arguments.directory)
            except OSError as error:
                raise _UsageError(f"cannot change to {arguments.directory}: {error.strerror}") from None
        return arguments.run(arguments)
    except _UsageError as error:
        print(f"relc: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug in relc, never in the input: say so briefly
        if os.environ.get("RELC_DEBUG"):
            raise
        print(f"relc: internal error: {type(error).__name__}: {error} (set RELC_DEBUG=1 for the traceback)", file=sys.stderr)
        return 70
