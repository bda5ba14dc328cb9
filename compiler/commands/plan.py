"""`relc plan`: who serves what share before and after, per release and gateway."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler import plan
    from compiler.git import GitError

    result = validated_releases(reporter, quiet=True, allow_no_releases=True)
    if not result.ok:
        return EXIT_PROBLEMS
    try:
        plans = plan.plan_releases(ROOT, result.releases, arguments.base)
    except GitError as error:
        raise UsageError(str(error)) from None
    formatter = plan.format_markdown if arguments.format == "markdown" else plan.format_text
    reporter.result(formatter(plans), plan.plan_records(plans))
    return EXIT_OK
