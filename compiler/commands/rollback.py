"""`relc rollback`: a revert commit of a release to its last known-good revision."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, run_change
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.rollback import plan_rollback

    return run_change(
        arguments, reporter,
        lambda: plan_rollback(ROOT, arguments.name, reason=arguments.reason, trigger=arguments.trigger, to=arguments.to),
    )  # fmt: skip
