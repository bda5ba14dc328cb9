"""`relc validate`: check release files and their prompt templates (and, given one, the registry)."""

from __future__ import annotations

import argparse

from compiler.commands.common import validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.registry import REGISTRY_ENV, registry_location

    uri = registry_location(arguments.registry)
    result = validated_releases(
        reporter, arguments.paths, always=True, registry=uri, use_cache=not arguments.no_cache, keep_releases=uri is not None
    )
    if uri is None:
        from compiler.registry.check import count_references

        unchecked = count_references(result.releases)
        if unchecked:
            reporter.note(f"relc: note: {unchecked} registry reference(s) not checked: give --registry URI or set "
                          f"{REGISTRY_ENV} to check them against the registry")  # fmt: skip
    return EXIT_OK if result.ok else EXIT_PROBLEMS
