"""`relc promote`: a commit that advances a release's rollout one step."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, run_change
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.promote import plan_promote

    return run_change(arguments, reporter, lambda: plan_promote(ROOT, arguments.name, force=arguments.force))
