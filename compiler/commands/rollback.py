"""`relc rollback`: a revert commit of a release to its last known-good revision."""

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
    from compiler.rollback import plan_rollback

    change = plan_rollback(ROOT, arguments.name, reason=arguments.reason, trigger=arguments.trigger, to=arguments.to)
    status = carry_out(change, arguments.dry_run, reporter)
    if registry is not None and not arguments.dry_run:
        sync_registry_after(arguments.name, registry, reporter)  # after the commit: a registry down never blocks it
    return status
