"""`relc sync-registry`: move the registry's aliases to what a release's rollout says now."""

from __future__ import annotations

import argparse

from compiler.commands.common import sync_registry_after
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.registry.sync import registry_for_sync

    registry = registry_for_sync(arguments.registry)
    return EXIT_OK if sync_registry_after(arguments.name, registry, reporter) else EXIT_PROBLEMS
