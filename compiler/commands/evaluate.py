"""`relc evaluate`: read metrics, check the triggers, decide; with --apply, act on it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from compiler.commands.common import ROOT, metric_source, sync_registry_after
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.alert import AlertLedger


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.evaluate import act, evaluate, would_do
    from compiler.triggers import decision_record, decision_text

    registry = None
    if arguments.sync_registry and arguments.apply:
        from compiler.registry.sync import registry_for_sync

        registry = registry_for_sync(arguments.registry)  # a missing URI refuses before anything is done
    source = metric_source(arguments.metrics, arguments.queries, arguments.timeout)
    decision = evaluate(ROOT, arguments.name, source)
    for problem in _unmatched_rows(source):
        reporter.note(f"relc: warning: {problem}")
    reporter.result(decision_text(decision, source.description), decision_record(decision))
    level = {"rollback": "error", "alert": "warning"}.get(decision.action, "notice")
    reporter.annotation(level, f"relc evaluate {decision.release}: {decision.action}", "; ".join(decision.reasons))
    if arguments.apply:
        reporter.note(act(ROOT, decision, arguments.webhook_env, _ledger(arguments.alert_state)))
        if registry is not None and decision.action in ("rollback", "promote"):
            sync_registry_after(decision.release, registry, reporter)  # after the commit: never blocks it
    elif not reporter.json:
        reporter.note(f"dry run: {would_do(decision)}")
    return decision.exit_code


def _ledger(path: str | None) -> "AlertLedger":
    """Where posted incidents are kept: --alert-state, else inside .git (never the tree)."""
    from pathlib import Path

    from compiler import git
    from compiler.alert import AlertLedger

    return AlertLedger(Path(path) if path else git.git_dir(ROOT) / "relc-alerts.json")


def _unmatched_rows(source: object) -> list[str]:
    """Snapshot rows that match no release or bundle here, from every snapshot in `source`."""
    from compiler.metrics.snapshot import SnapshotSource
    from compiler.validate import validate_paths

    snapshots = [source] if isinstance(source, SnapshotSource) else [
        inner for _, route in getattr(source, "routes", []) for inner in [route(())[1]] if isinstance(inner, SnapshotSource)
    ]
    if not snapshots:
        return []
    from compiler.cache import open_cache

    releases = validate_paths([ROOT / "releases"], ROOT, cache=open_cache(ROOT), keep_releases=False).releases
    versions = {c.name: {version for version, _, _ in c.facts.bundles} for c in releases}
    return [problem for snapshot in snapshots for problem in snapshot.unmatched(versions)]
