"""`relc evaluate`: read the metrics each trigger needs, decide, and optionally act.

The decision itself is `triggers.decide`, pure; this module only gathers its inputs
(metrics, the step's start from Git) and carries out the result (a rollback or promote
commit, or an alert), so a live loop or a test can drive either half alone.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from compiler import git
from compiler.metrics import MetricError, MetricQuery, MetricSource
from compiler.changes import apply, current_release
from compiler.history import step_timing
from compiler.promote import plan_promote
from compiler.rollback import plan_rollback
from compiler.times import format_span, format_utc
from compiler.spec import Release, duration_seconds
from compiler.triggers import Decision, Reading, TriggerCheck, check_trigger, decide

DEFAULT_WEBHOOK_ENV = "RELC_ALERT_WEBHOOK_URL"

if TYPE_CHECKING:
    from compiler.alert import AlertLedger
    from compiler.cache import ReleaseCache
    from compiler.validate import CheckedRelease


def subject_and_baseline(release: Release) -> tuple[str | None, str | None]:
    """The bundle under evaluation and the one it is compared with."""
    rollout = release.rollout
    if rollout.candidate is not None:
        return rollout.candidate, rollout.stable
    if rollout.previous is not None:
        return rollout.stable, rollout.previous  # a just-promoted stable, still baking
    return None, None


def _read(source: MetricSource, query: MetricQuery) -> Reading:
    try:
        return Reading(source.observe(query))
    except MetricError as error:
        return Reading(None, str(error))


def _hold(
    root: Path, release: Release, now: float, began: "Mapping[str, git.Commit | None] | None", cache: "ReleaseCache"
) -> tuple[bool, str]:
    if release.rollout.candidate is None:
        return False, "no candidate"
    try:
        timing = step_timing(root, release, began, cache)
    except git.GitError as error:
        return False, f"cannot tell when the step began: {error}"
    if timing.began is None or timing.ready_at is None:
        return False, "the current step is not committed yet"
    if now < timing.ready_at:
        return False, f"the step's hold ends at {format_utc(timing.ready_at)} (in {format_span(timing.ready_at - now)})"
    return True, f"the step's hold ended at {format_utc(timing.ready_at)}"


def evaluate(
    root: Path, name: str, source: MetricSource, now: float | None = None, began: "Mapping[str, git.Commit | None] | None" = None,
    cache: "ReleaseCache | None" = None, checked: "CheckedRelease | None" = None,
) -> Decision:
    """Read the metrics, check the triggers and the hold, decide. `began` (where each step
    began, from `steps_began`) spares `relc watch` a walk of history per release a tick;
    `cache`, opened once for the tick, spares it opening the cache's packs for each release;
    `checked`, the release file as the tick's check of the folder found it (nothing has
    changed the worktree since), spares checking the file again."""
    from compiler.cache import open_cache

    cache = cache if cache is not None else open_cache(root)
    release, _ = current_release(root, name, cache, checked)
    subject, baseline = subject_and_baseline(release)
    checks: list[TriggerCheck] = []
    if subject is not None:
        for trigger in release.triggers:
            window = duration_seconds(trigger.window)
            query = MetricQuery(name, subject, trigger.metric, window, release.route.model, tuple(release.route.gateways))
            reading = _read(source, query)
            base_reading = None
            if trigger.relative_to_stable and baseline is not None:
                base_reading = _read(source, replace(query, version=baseline))
            checks.append(check_trigger(trigger, subject, reading, baseline, base_reading))
    hold_passed, hold_detail = _hold(root, release, time.time() if now is None else now, began, cache)
    return decide(release, subject, baseline, checks, hold_passed, hold_detail)


def evidence(decision: Decision) -> tuple[str, ...]:
    """Each trigger's outcome with its numbers, for the commit that acts on the decision."""
    return tuple(f"[{check.outcome}] {check.detail}" for check in decision.checks)


def act(root: Path, decision: Decision, webhook_env: str = DEFAULT_WEBHOOK_ENV, ledger: "AlertLedger | None" = None) -> str:
    """Carry out a decision: the commit for rollback or promote, the webhook for alert
    (once per incident when a `ledger` remembers what was posted)."""
    if ledger is not None and decision.action != "alert":
        ledger.close_incidents(decision.release)
    if decision.action == "rollback":
        fired = decision.breached("rollback")
        change = plan_rollback(root, decision.release, reason=f"relc evaluate: {fired[0].detail}",
                               trigger=fired[0].trigger.name, evidence=evidence(decision))  # fmt: skip
        return f"committed {apply(root, change)[:12]}: {change.message.splitlines()[0]}"
    if decision.action == "promote":
        change = plan_promote(root, decision.release, evidence=evidence(decision))
        return f"committed {apply(root, change)[:12]}: {change.message.splitlines()[0]}"
    if decision.action == "alert":
        from compiler.alert import post_alert

        url = os.environ.get(webhook_env)
        if not url:
            raise MetricError(f"the decision is alert, but ${webhook_env} (the webhook URL) is not set; nothing was sent")
        posted_at = ledger.posted_at(decision) if ledger is not None else None
        if posted_at is not None:
            return f"alert not posted again: this incident was posted at {posted_at} (relc keeps it in {ledger.path})"
        post_alert(url, decision)
        if ledger is not None:
            ledger.record(decision, format_utc(time.time()))
        return f"alert posted to the webhook in ${webhook_env}"
    return "hold: nothing to do"


def would_do(decision: Decision) -> str:
    return {
        "rollback": f"--apply would commit `relc rollback {decision.release}`",
        "promote": f"--apply would commit `relc promote {decision.release}`",
        "alert": "--apply would post an alert to the webhook",
        "hold": "nothing to do",
    }[decision.action]
