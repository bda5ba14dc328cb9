"""Promote as a commit: advance the rollout one step, or make the candidate stable."""

from __future__ import annotations

import time
from pathlib import Path

from compiler import git
from compiler.changes import ReleaseChange, RolloutError, current_release, trailer_lines
from compiler.history import release_file, step_timing
from compiler.spec import Release
from compiler.times import format_span, format_utc
from compiler.traffic import step_position, step_text


def _describe_step(release: Release, number: int) -> str:
    step = release.rollout.steps[number - 1]
    return f"{step_position(number, len(release.rollout.steps))} ({step_text(step.kind, step.percent)})"


def plan_promote(
    root: Path, name: str, force: bool = False, now: float | None = None, evidence: tuple[str, ...] = ()
) -> ReleaseChange:
    """Advance the rollout one step; at the last step the candidate becomes stable."""
    from compiler.cache import open_cache
    from compiler.edit import edit_rollout

    cache = open_cache(root)  # one for the release's checks and its step's start (the memo status and the watch read)
    release, current = current_release(root, name, cache)
    rollout = release.rollout
    if rollout.candidate is None or rollout.current_step is None:
        raise RolloutError(f"{name} has no rollout in progress: set rollout.candidate to start one")
    timing = step_timing(root, release, cache=cache)
    moment = time.time() if now is None else now
    if timing.began is None:
        raise RolloutError(f"the current step of {name} is not committed yet: commit it, then promote after its hold")
    if not force and timing.ready_at is not None and moment < timing.ready_at:
        remaining = timing.ready_at - moment
        raise RolloutError(
            f"{name} entered {_describe_step(release, rollout.current_step)} in {git.short(timing.began.sha)} at "
            f"{format_utc(timing.began.timestamp)}; its hold ends at {format_utc(timing.ready_at)} (in {format_span(remaining)}). "
            "Promote then, or now with --force"
        )
    number = rollout.current_step
    if number < len(rollout.steps):
        changes: dict[str, object] = {"step": number + 1}
        subject = f"Promote {name}: {rollout.candidate} to {_describe_step(release, number + 1)}"
    else:
        changes = {"stable": rollout.candidate, "candidate": None, "previous": rollout.stable, "step": None}
        subject = f"Promote {name}: {rollout.candidate} is stable ({rollout.stable} kept as previous)"
    forced = "true" if force and timing.ready_at and moment < timing.ready_at else None
    trailers = trailer_lines(evidence, Relc_Release=name, Relc_Forced=forced)
    after = edit_rollout(current, changes)
    return ReleaseChange(name, release_file(root, name), current, after, f"{subject}\n\n{trailers}\n")
