"""`relc drill`: rehearse a rollback in a throwaway worktree; exit 0 only if it would work."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.drill import drill

    report = drill(ROOT, arguments.name)
    reporter.result(report.text(), report.record())
    for problem in report.problems:
        reporter.annotation("error", f"relc drill {report.release}: the rollback would fail", problem)
    for check in report.checks:
        if check.outcome == "failed":
            reporter.annotation("error", f"relc drill {report.release}: {check.gateway} refuses the rollback", check.detail)
    return EXIT_OK if report.works else EXIT_PROBLEMS
