"""`relc plan`: who serves what share before and after, per release and gateway."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, validated_releases
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler import plan
    from compiler.git import GitError

    result = validated_releases(
        reporter, quiet=True, allow_no_releases=True, base=arguments.base, use_cache=not arguments.no_cache, render=True
    )
    if not result.ok:
        return EXIT_PROBLEMS
    try:
        plans = plan.plan_releases(ROOT, result.releases, arguments.base)
    except GitError as error:
        raise UsageError(str(error)) from None
    formatter = plan.format_markdown if arguments.format == "markdown" else plan.format_text
    overridden = _overridden(result.releases, arguments.base, arguments.no_cache)
    banner = "".join(
        (f"> **OVERRIDE** `{d.path}`: {d.message}\n\n" if arguments.format == "markdown" else f"OVERRIDE {d.path}: {d.message}\n")
        for d in overridden
    )
    reporter.result(banner + formatter(plans), {"plan": plan.plan_records(plans), "overrides": [d.message for d in overridden]})
    return EXIT_OK


def _overridden(releases: list, base: str | None, no_cache: bool) -> list:
    """Rollout moves past the gate that an override let through: the plan shows them first."""
    if base is None:
        return []
    import time

    from compiler.cache import open_cache
    from compiler.diagnostics import Severity
    from compiler.gate import gate_diagnostics, overrides_in

    cache = None if no_cache else open_cache(ROOT)
    diagnostics = gate_diagnostics(ROOT, base, releases, time.time(), overrides_in(ROOT, base), cache)
    return [d for d in diagnostics if d.severity is Severity.WARNING]
