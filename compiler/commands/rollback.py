"""`relc rollback`: a revert commit of a release to its last known-good revision."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, carry_out
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    if not arguments.dry_run:
        from compiler import git
        from compiler.changes import recover_interrupted_change

        recover_interrupted_change(ROOT)  # a killed promote or rollback left files half-written
        git.require_committable(ROOT)  # before planning: a dirty tree would be planned on
    from compiler.rollback import plan_rollback

    change = plan_rollback(ROOT, arguments.name, reason=arguments.reason, trigger=arguments.trigger, to=arguments.to)
    return carry_out(change, arguments.dry_run, reporter)
