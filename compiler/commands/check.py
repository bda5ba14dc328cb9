"""`relc check`: the CI gate. Valid releases, current rendered/ and schema, no bundle
changed in place since `--base`; writes nothing."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.commands.common import ROOT, validated_releases
from compiler.diagnostics import Diagnostic, define, has_errors
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.emit import FileDifference
    from compiler.validate import CheckedRelease


@dataclass
class CheckReport:
    """Every problem the gate found; `differences` carry the diffs of stale files."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    differences: list["FileDifference"] = field(default_factory=list)


RELC601 = define(
    "RELC601",
    title="generated file is stale (rendered/ or the schema)",
    meaning="`rendered/` differs from what the releases produce, or `schemas/release.schema.json` from the "
            "models (`relc check`)",
    fix="run `relc build` (or `relc schema`) and commit the result",
)


def check_generated(
    root: Path,
    releases: list["CheckedRelease"],
    base: str | None = None,
    override: str | None = None,
    cache: "ReleaseCache | None" = None,
) -> CheckReport:
    """Stale rendered/ files and schema as RELC601; against `base`, what the base branch
    refuses (`gate.base_diagnostics`: changed published bundles, rollout moves past the
    gate, release files moved in and edited or switched suffix unseen)."""
    from compiler.fresh import compare_rendered
    from compiler.render import RENDERED_DIR
    from compiler.schema import stale_schema

    report = CheckReport()
    if base:
        from compiler.gate import base_diagnostics

        report.diagnostics += base_diagnostics(root, base, releases, override, cache)
    stale = stale_schema(root, cache)
    if stale is not None:
        report.diagnostics.append(Diagnostic(stale[0], 1, 1, "RELC601", stale[1]))
    report.differences = compare_rendered(root, releases, cache)
    report.diagnostics += [
        Diagnostic(f"{RENDERED_DIR}/{d.path}", 1, 1, "RELC601",
                   f"{RENDERED_DIR}/{d.path} is {d.status}: run `relc build` and commit {RENDERED_DIR}/")  # fmt: skip
        for d in report.differences
    ]
    return report


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.cache import open_cache
    from compiler.render import RENDERED_DIR
    from compiler.schema import SCHEMA_PATH

    result = validated_releases(
        reporter, quiet=True, allow_no_releases=True, base=arguments.base, use_cache=not arguments.no_cache, render=True
    )
    if not result.ok:
        return EXIT_PROBLEMS
    cache = None if arguments.no_cache else open_cache(ROOT)
    report = check_generated(ROOT, result.releases, arguments.base, arguments.override, cache)
    for difference in report.differences:
        reporter.detail(difference.diff)
    reporter.diagnostics(report.diagnostics, always=True)
    if report.differences:
        reporter.note(f"{RENDERED_DIR}/ is stale ({len(report.differences)} file(s)): run `relc build` and commit it")
    if has_errors(report.diagnostics):
        return EXIT_PROBLEMS
    reporter.note(f"{len(result.releases)} release(s) valid; {RENDERED_DIR}/ and {SCHEMA_PATH} are current")
    return EXIT_OK
