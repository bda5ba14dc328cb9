"""`relc promote`: a commit that advances a release's rollout one step."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, carry_out, sync_registry_after
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    registry = None
    if arguments.sync_registry:
        from compiler.registry.sync import registry_for_sync

        registry = registry_for_sync(arguments.registry)  # a missing URI refuses before anything is done
    if not arguments.dry_run:
        from compiler import git
        from compiler.changes import recover_interrupted_change

        recover_interrupted_change(ROOT)  # a killed promote or rollback left files half-written
        git.require_committable(ROOT)  # before planning: a dirty tree would be planned on
    from compiler.promote import plan_promote

    status = carry_out(plan_promote(ROOT, arguments.name, force=arguments.force), arguments.dry_run, reporter)
    if registry is not None and not arguments.dry_run:
        sync_registry_after(arguments.name, registry, reporter)
    return status
