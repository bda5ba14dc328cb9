"""`relc init`: scaffold a valid release and its prompt template, pinned."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.init import init_release

    written = init_release(ROOT, arguments.name)
    for path in written:
        reporter.note(f"wrote {path.relative_to(ROOT)}")
    result = validated_releases(reporter, [str(written[-1].relative_to(ROOT))])
    return EXIT_OK if result.ok else EXIT_PROBLEMS
