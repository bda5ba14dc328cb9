"""`relc plan`: who serves what share before and after, per release and gateway."""

from __future__ import annotations

import argparse

from typing import TYPE_CHECKING

from compiler.commands.common import ROOT, validated_releases
from compiler.diagnostics import Severity
from compiler.errors import EXIT_OK, EXIT_PROBLEMS, UsageError
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic


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
    if arguments.override and arguments.base is None:
        raise UsageError("--override lets moves past the gate through; the gate compares with --base REV: give both")
    gated = _gate_problems(result.releases, arguments.base, arguments.no_cache, arguments.override)
    overridden = [d for d in gated if d.severity is not Severity.ERROR]
    banner = "".join(_banner_line(d, arguments.format == "markdown") for d in gated)
    refused = [f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}" for d in gated if d.severity is Severity.ERROR]
    records = {"plan": plan.plan_records(plans), "overrides": [d.message for d in overridden], "refused": refused}
    reporter.result(banner + formatter(plans), records)
    return EXIT_OK


def _banner_line(diagnostic: "Diagnostic", markdown: bool) -> str:
    """A gate problem above the plan: refused (the gate will fail the pull request) or overridden."""
    if diagnostic.severity is Severity.ERROR:
        label = "REFUSED BY THE GATE"
        text = f"{diagnostic.code} {diagnostic.message}"
    else:
        label, text = "OVERRIDE", diagnostic.message
    return f"> **{label}** `{diagnostic.path}`: {text}\n\n" if markdown else f"{label} {diagnostic.path}: {text}\n"


def _gate_problems(releases: list, base: str | None, no_cache: bool, override: str | None) -> list["Diagnostic"]:
    """What `relc check --base` refuses against the base branch (it fails the pull request
    on them) and the moves an override let through: the plan shows them first, refused
    ones first."""
    if base is None:
        return []
    from compiler.cache import open_cache
    from compiler.gate import base_diagnostics

    cache = None if no_cache else open_cache(ROOT)
    diagnostics = base_diagnostics(ROOT, base, releases, override, cache)
    return sorted(diagnostics, key=lambda d: (d.severity is not Severity.ERROR, d.path, d.line, d.column))
