"""`relc status`: each release's rollout as Git history tells it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compiler import git
from compiler.history import StepTiming, hold_seconds, step_timings
from compiler.times import format_span, format_utc
from compiler.traffic import TrafficState, traffic_state
from compiler.validate import CheckedRelease

if TYPE_CHECKING:
    from compiler.spec import Release


@dataclass(frozen=True)
class ReleaseStatus:
    name: str
    stable: str
    candidate: str | None
    previous: str | None
    step: str
    split: str
    timing: StepTiming
    history_problem: str | None = None
    # Per live bundle with a registry reference: (version, role, reference, lineage or None).
    lineage: tuple[tuple[str, str, str, dict | None], ...] = ()


def release_statuses(root: Path, checked: list[CheckedRelease]) -> list[ReleaseStatus]:
    """Each release's status; when each step began comes from one walk of history for
    all. Each release is parsed for this and let go at once: ten thousand releases'
    parsed documents would take gigabytes."""
    statuses, holds = [], {}
    for release_checked in checked:
        release = release_checked.release
        statuses.append(release_status(release))
        holds[release.name] = hold_seconds(release)
        release_checked.free()
    try:
        timings, problem = step_timings(root, holds), None
    except git.GitError as error:  # status still shows what the files say
        timings, problem = {}, str(error)
    return [
        dataclasses.replace(status, timing=timings.get(status.name, StepTiming(None, 0)), history_problem=problem)
        for status in statuses
    ]


def release_status(release: "Release") -> ReleaseStatus:
    """What the release file says; when its step began is filled in by `release_statuses`."""
    state = traffic_state(release)
    split = state.split_text + (f" (+{state.mirror_text})" if state.mirror_text else "")
    step = state.step_label
    return ReleaseStatus(
        release.name, release.rollout.stable, release.rollout.candidate, release.rollout.previous, step, split,
        StepTiming(None, 0), None, _lineage(state),
    )  # fmt: skip


def _lineage(state: "TrafficState") -> tuple[tuple[str, str, str, dict | None], ...]:
    """Where each live bundle's model came from, as the release pinned it from the registry."""
    from compiler.registry import reference_of

    found = []
    for live in state.live:
        reference = reference_of(live.bundle)
        if reference is not None:
            pinned = live.bundle.model.registry_lineage
            found.append((live.version, live.role, str(reference), pinned.model_dump() if pinned else None))
    return tuple(found)


def _lineage_lines(status: ReleaseStatus) -> list[str]:
    lines = []
    for version, role, reference, lineage in status.lineage:
        lines.append(f"  lineage:  {version} ({role}): {reference}")
        if lineage is None:
            lines.append("            not pinned yet: `relc pin NAME --registry URI` records run, source and data tags")
            continue
        lines.append(f"            run {lineage['run_id'] or 'none'}, source {lineage['source'] or 'none'}")
        lines += [f"            {key} = {value}" for key, value in lineage["tags"].items()]
    return lines


def format_status(statuses: list[ReleaseStatus], now: float | None = None) -> str:
    moment = time.time() if now is None else now
    lines = []
    for status in statuses:
        lines.append(f"{status.name}")
        roles = f"stable {status.stable}"
        if status.candidate:
            roles += f", candidate {status.candidate}"
        if status.previous:
            roles += f", previous {status.previous}"
        lines.append(f"  bundles:  {roles}")
        lines.append(f"  step:     {status.step}")
        lines.append(f"  traffic:  {status.split}")
        timing = status.timing
        if status.candidate is not None:
            if status.history_problem:
                lines.append(f"  began:    unknown: {status.history_problem}")
            elif timing.began is None:
                lines.append("  began:    not committed yet")
            else:
                lines.append(f"  began:    {format_utc(timing.began.timestamp)} ({git.short(timing.began.sha)} {timing.began.subject})")
                ready = timing.ready_at or 0
                when = "now" if ready <= moment else f"{format_utc(ready)} (in {format_span(ready - moment)})"
                lines.append(f"  promote:  {when}")
        lines += _lineage_lines(status)
    return "\n".join(lines) + "\n"


def status_records(statuses: list[ReleaseStatus]) -> list[dict]:
    """The statuses as JSON-ready records, for `relc status --format json`."""
    return [
        {
            "release": status.name, "stable": status.stable, "candidate": status.candidate,
            "previous": status.previous, "step": status.step, "traffic": status.split,
            "step_began": status.timing.began.sha if status.timing.began else None,
            "step_began_at": status.timing.began.timestamp if status.timing.began else None,
            "promotable_at": status.timing.ready_at,
            "lineage": [{"version": version, "role": role, "registry": reference, "lineage": lineage}
                        for version, role, reference, lineage in status.lineage],
        }  # fmt: skip
        for status in statuses
    ]
