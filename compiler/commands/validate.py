"""`relc validate`: check release files and their prompt templates."""

from __future__ import annotations

import argparse

from compiler.commands.common import validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    result = validated_releases(
        reporter, arguments.paths, always=True, use_cache=not arguments.no_cache, keep_releases=False
    )
    return EXIT_OK if result.ok else EXIT_PROBLEMS
