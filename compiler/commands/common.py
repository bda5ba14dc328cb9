"""What several commands share: validating the releases and carrying out a release change."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from compiler.errors import UsageError
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.changes import ReleaseChange
    from compiler.metrics import MetricSource
    from compiler.registry import Registry
    from compiler.validate import Validation, ValidationResult

ROOT = Path(".")


def validated_releases(
    reporter: Reporter,
    paths: Sequence[str] = (),
    quiet: bool = False,
    allow_no_releases: bool = False,
    always: bool = False,
    base: str | None = None,
    registry: str | None = None,
    use_cache: bool = False,
    render: bool = False,
    keep_releases: bool = True,
) -> "ValidationResult":
    """Validate release files (default: releases/), report their diagnostics, return the result.

    `quiet` drops the summary line when all is well; `always` prints an empty JSON list
    too, for commands whose only output is the diagnostics. `registry`, an MLflow URI,
    also resolves every registry reference there. `use_cache` reads and fills the release
    cache; `render` makes each release's rendered fragments as it is checked.
    """
    validation = start_validation(paths, allow_no_releases, base, use_cache, render, keep_releases)
    for _ in validation.releases():
        pass
    return reported(reporter, validation.finish(), quiet, always, registry)


def start_validation(
    paths: Sequence[str] = (),
    allow_no_releases: bool = False,
    base: str | None = None,
    use_cache: bool = False,
    render: bool = False,
    keep_releases: bool = True,
) -> "Validation":
    """`validated_releases`, to be taken a release at a time: iterate `releases()`, then
    give `finish()`'s result to `reported`."""
    from compiler.validate import Validation

    release_paths = [Path(p) for p in paths] or [Path("releases")]
    if not paths and allow_no_releases and not release_paths[0].exists():
        release_paths = []  # every release was deleted (git keeps no empty folder): nothing to render
    missing = [p for p in release_paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(str(p) for p in missing)}")
    cache = None
    if use_cache:
        from compiler.cache import open_cache

        cache = open_cache(ROOT)
    from functools import partial

    from compiler.parallel import available_jobs
    from compiler.progress import progress

    return Validation(
        release_paths, root=ROOT, touched=lambda: _touched_files(base), cache=cache, render=_renderer() if render else None,
        progress=partial(progress, label="checking releases", unit="release"), keep_releases=keep_releases,
        jobs=available_jobs(),
    )  # fmt: skip


def reported(
    reporter: Reporter, result: "ValidationResult", quiet: bool = False, always: bool = False, registry: str | None = None
) -> "ValidationResult":
    """`result` once the checks that need every release (metric sources, `registry`) are
    added, its diagnostics reported."""
    _check_metric_sources(result)
    if registry:
        _check_registry(result, registry)
    reporter.diagnostics(result.diagnostics, always=always)
    if reporter.format == "text" and not (quiet and result.ok):
        errors = sum(1 for d in result.diagnostics if d.severity.value == "error")
        reporter.note(f"{len(result.releases)} release(s) valid" if result.ok else f"{errors} error(s)")
    return result


def _renderer():  # type: ignore[no-untyped-def]
    from compiler.render import release_fragments

    return release_fragments


def _touched_files(base: str | None) -> frozenset[str]:
    """Release files changed in the working tree (or untracked) and, with `base` (a pull
    request's base), changed since it; empty outside a repository."""
    from compiler import git

    try:
        touched = set(git.changed_release_files(ROOT))
        if base:
            touched |= set(git.changed_release_names_between(ROOT, base))
    except git.GitError:
        return frozenset()
    return frozenset(touched)


def _check_metric_sources(result: "ValidationResult") -> None:
    """relc.yaml's own problems, and triggers no source it names can answer."""
    if not (ROOT / "relc.yaml").exists():
        return  # no metric sources named (and pydantic's import spared)
    from compiler.config import load_config, unfed_triggers

    config, diagnostics = load_config(ROOT)
    if config is not None:
        diagnostics = unfed_triggers(config, result.releases, ROOT)
        failed = {d.path for d in diagnostics}
        result.releases = [c for c in result.releases if c.path not in failed]
    result.diagnostics = sorted(set(result.diagnostics) | set(diagnostics), key=lambda d: (d.path, d.line, d.column, d.code))


def _check_registry(result: "ValidationResult", uri: str) -> None:
    """Registry references that are missing, archived or drifted fail their release."""
    from compiler.registry import open_registry
    from compiler.registry.check import registry_diagnostics

    diagnostics = registry_diagnostics(result.releases, open_registry(uri))
    failed = {d.path for d in diagnostics}
    result.releases = [c for c in result.releases if c.path not in failed]
    result.diagnostics = sorted(set(result.diagnostics) | set(diagnostics), key=lambda d: (d.path, d.line, d.column, d.code))


def run_change(arguments: argparse.Namespace, reporter: Reporter, plan: Callable[[], "ReleaseChange"]) -> int:
    """The body of `relc promote` and `relc rollback`: check, plan, commit (or show), then
    move the registry's aliases with --sync-registry."""
    registry = None
    if arguments.sync_registry:
        from compiler.registry.sync import registry_for_sync

        registry = registry_for_sync(arguments.registry)  # a missing URI refuses before anything is done
    if not arguments.dry_run:
        from compiler import git
        from compiler.changes import recover_interrupted_change

        recover_interrupted_change(ROOT)  # a killed promote or rollback left files half-written
        git.require_committable(ROOT)  # before planning: a dirty tree would be planned on
    status = carry_out(plan(), arguments.dry_run, reporter)
    if registry is not None and not arguments.dry_run:
        sync_registry_after(arguments.name, registry, reporter)  # after the commit: a registry down never blocks it
    return status


def carry_out(change: "ReleaseChange", dry_run: bool, reporter: Reporter) -> int:
    """Commit a promote or rollback, or with `dry_run` show its diff, message and effect."""
    from compiler.changes import apply, preview

    for warning in change.warnings:
        reporter.note(f"relc: warning: {warning}")
    if dry_run:
        shown = preview(ROOT, change)
        reporter.result(
            f"{shown.diff}\ncommit message:\n{change.message}\nplan:\n{shown.plan}"
            f"rendered files that would change: {', '.join(shown.rendered) or 'none'}\n",
            {"release": change.name, "diff": shown.diff, "message": change.message, "plan": shown.plan,
             "rendered_changes": shown.rendered},
        )  # fmt: skip
        reporter.note("dry run: nothing written")
        return 0
    commit = apply(ROOT, change)
    reporter.result(
        "", {"release": change.name, "commit": commit, "message": change.message}
    )
    reporter.note(f"committed {commit[:12]}: {change.message.splitlines()[0]}")
    return 0


def sync_registry_after(name: str, registry: "Registry", reporter: Reporter) -> bool:
    """After a promote or rollback is committed: move the registry's aliases. A registry that
    fails never undoes the commit; it is reported, with how to retry. True when synced."""
    from compiler.registry import RegistryError
    from compiler.registry.sync import sync_committed

    try:
        moves = sync_committed(ROOT, name, registry)
    except RegistryError as error:
        reporter.note(f"relc: warning: the commit stands, but the registry was not synced: {error}. Retry with "
                      f"`relc sync-registry {name}` (relc watch --sync-registry retries by itself)")  # fmt: skip
        return False
    done = "; ".join(str(move) for move in moves) or "aliases already in step"
    reporter.note(f"registry {registry.location}: {done}")
    return True


def metric_source(locations: list[str] | None, queries: str | None, timeout: float) -> "MetricSource":
    """The sources named with --metrics, or else those relc.yaml names."""
    from compiler.metrics import open_configured, open_sources

    if locations:
        return open_sources(locations, queries, timeout)
    from compiler.config import CONFIG_FILE, load_config

    config, diagnostics = load_config(ROOT)
    if diagnostics:
        raise UsageError(f"{CONFIG_FILE} is not valid; fix it first", diagnostics)
    if config is None or not config.metrics:
        raise UsageError(f"say where metrics come from: --metrics SOURCE, or metric sources in {CONFIG_FILE}")
    if queries:
        raise UsageError(f"--queries goes with --metrics; sources from {CONFIG_FILE} name their own queries")
    return open_configured(config, ROOT, timeout)
