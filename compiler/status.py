"""`relc status`: each release's rollout as Git history tells it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import git
from compiler.history import StepTiming, hold_seconds, step_timings
from compiler.times import format_span, format_utc
from compiler.validate import CheckedRelease

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.spec import Release
    from compiler.traffic import TrafficState


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


def release_statuses(root: Path, checked: list[CheckedRelease], cache: "ReleaseCache | None" = None) -> list[ReleaseStatus]:
    """Each release's status; when each step began comes from one walk of history for
    all. Each release is parsed for this and let go at once: ten thousand releases'
    parsed documents would take gigabytes. With the cache, a file whose bytes an earlier
    run read is not parsed at all, nor a revision of history read before."""
    statuses, holds = [], {}
    for status, hold in _file_statuses(checked, cache):
        statuses.append(status)
        holds[status.name] = hold
    if cache is not None:
        cache.flush()
    try:
        timings, problem = step_timings(root, holds, cache), None
    except git.GitError as error:  # status still shows what the files say
        timings, problem = {}, str(error)
    return [
        dataclasses.replace(status, timing=timings.get(status.name, StepTiming(None, 0)), history_problem=problem)
        for status in statuses
    ]


_STATUS_ENTRY = "release file status"


# Files a worker process parses in one task, when a run lacks at least two tasks' worth.
STATUSES_AT_ONCE = 32


def _file_statuses(checked: list[CheckedRelease], cache: "ReleaseCache | None") -> list[tuple[ReleaseStatus, float | None]]:
    """What each file says of its rollout, and its step's hold: both follow from its bytes
    alone, so the cache keeps them by those bytes. The files it lacks are parsed in the
    worker processes when there are many (a first `relc status` of thousands)."""
    from compiler.parallel import Workers, available_jobs, worked_out_ahead

    keys = [cache.key(_STATUS_ENTRY, c.raw) if cache is not None else None for c in checked]
    found = [_status_from_entry(cache.load(key)) if cache is not None and key is not None else None for key in keys]
    missing = [index for index, result in enumerate(found) if result is None]
    if len(missing) >= 2 * STATUSES_AT_ONCE:
        import compiler.traffic  # noqa: F401  (with the models: built once here, not in each worker)
    with Workers(available_jobs()) as pool:
        ahead = worked_out_ahead(pool, _statuses_of_batch, [checked[index] for index in missing], STATUSES_AT_ONCE)
    for position, index in enumerate(missing):
        result = ahead[position] if ahead is not None else _status_of(checked[index])
        found[index] = result
        if cache is not None and keys[index] is not None:
            cache.store_batched(keys[index], _status_entry(*result))  # type: ignore[arg-type]
    return found  # type: ignore[return-value]


def _status_of(checked: CheckedRelease) -> tuple[ReleaseStatus, float | None]:
    """Parsed for this and let go at once: ten thousand parsed releases take gigabytes."""
    release = checked.release
    result = release_status(release), hold_seconds(release)
    checked.free()
    return result


def _statuses_of_batch(checked: list[CheckedRelease]) -> list[tuple[ReleaseStatus, float | None]]:
    return [_status_of(release_checked) for release_checked in checked]


def _status_entry(status: ReleaseStatus, hold: float | None) -> dict[str, Any]:
    return {
        "status": [status.name, status.stable, status.candidate, status.previous, status.step, status.split],
        "lineage": [list(item) for item in status.lineage], "hold": hold,
    }  # fmt: skip


def _status_from_entry(entry: dict[str, Any] | None) -> tuple[ReleaseStatus, float | None] | None:
    """The stored status, or None when there is none or it is not as written."""
    if entry is None:
        return None
    try:
        name, stable, candidate, previous, step, split = entry["status"]
        lineage = tuple((str(v), str(r), str(ref), found if isinstance(found, dict) else None) for v, r, ref, found in entry["lineage"])
        hold = entry["hold"]
    except (KeyError, TypeError, ValueError):
        return None
    texts, optional = (name, stable, step, split), (candidate, previous)
    if not all(type(text) is str for text in texts) or not all(text is None or type(text) is str for text in optional):
        return None
    if not (hold is None or type(hold) in (int, float)):
        return None
    status = ReleaseStatus(name, stable, candidate, previous, step, split, StepTiming(None, 0), None, lineage)
    return status, None if hold is None else float(hold)


def release_status(release: "Release") -> ReleaseStatus:
    """What the release file says; when its step began is filled in by `release_statuses`."""
    from compiler.traffic import traffic_state  # with the models: a second run needs neither

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
