"""`relc status`: each release's rollout as the file and Git history tell it."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.history import release_files
    from compiler.status import format_status, release_statuses, status_records

    paths = release_files(ROOT, arguments.name) if arguments.name else []  # both spellings: RELC214
    # From the cache's facts: the scheduled workflow lists the rollouts in progress on every run.
    result = validated_releases(reporter, paths, quiet=True, use_cache=not arguments.no_cache, keep_releases=False)
    if not result.ok:
        return EXIT_PROBLEMS
    checked = sorted(result.releases, key=lambda c: c.name)
    if arguments.in_progress:
        checked = [c for c in checked if c.facts.candidate is not None]
    if arguments.format == "names":
        reporter.result("".join(f"{c.name}\n" for c in checked), None)
        return EXIT_OK
    from compiler.cache import open_cache

    statuses = release_statuses(ROOT, checked, None if arguments.no_cache else open_cache(ROOT))
    reporter.result(format_status(statuses), status_records(statuses))
    return EXIT_OK
