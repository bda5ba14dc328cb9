"""Decide from observations: promote, hold, alert or rollback. Pure: no I/O, no clock.

A trigger is breached when its metric crosses its threshold, absolute or relative to
the stable bundle; with too few samples, no data or an unreachable source it is not
healthy either, and the release holds. Rollback triggers outrank alert triggers; a
release is promoted only when every trigger is healthy and the step's hold has passed.
Every check carries the numbers it rests on, so a decision explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.metrics import Observation
from compiler.spec import METRICS, Release, Trigger
from compiler.statistics import mann_whitney_p

Action = Literal["promote", "hold", "alert", "rollback"]
Outcome = Literal["healthy", "breached", "insufficient", "no_data", "error"]
EXIT_CODES: dict[Action, int] = {"promote": 0, "hold": 3, "alert": 4, "rollback": 5}


@dataclass(frozen=True)
class Reading:
    """What a source answered for one bundle: an observation, or why there is none."""

    observation: Observation | None
    error: str | None = None


@dataclass(frozen=True)
class TriggerCheck:
    trigger: Trigger
    outcome: Outcome
    detail: str
    compared: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Decision:
    release: str
    action: Action
    subject: str | None
    baseline: str | None
    checks: tuple[TriggerCheck, ...]
    reasons: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.action]

    def breached(self, action: str) -> list[TriggerCheck]:
        return [c for c in self.checks if c.outcome == "breached" and c.trigger.action == action]


def _format(metric: str, value: float) -> str:
    if METRICS[metric].unit == "seconds":
        return f"{value:.3g} s"
    if METRICS[metric].unit == "count":
        return f"{value:g}"
    return f"{value:.4g}"


def _threshold_text(trigger: Trigger) -> str:
    bound, value = ("max", trigger.max) if trigger.max is not None else ("min", trigger.min)
    return f"{bound} {value:g}"


def _crossed(trigger: Trigger, value: float) -> bool:
    return (trigger.max is not None and value > trigger.max) or (trigger.min is not None and value < trigger.min)


def _samples_problem(trigger: Trigger, label: str, reading: Reading) -> tuple[Outcome, str] | None:
    if reading.observation is None:
        return "error", f"{label}: {reading.error}"
    observation = reading.observation
    if not observation.has_data:
        return "no_data", f"{label}: no data over {trigger.window} (no data is never healthy)"
    if observation.samples < trigger.min_samples:
        return "insufficient", f"{label}: {observation.samples} samples over {trigger.window}, fewer than min_samples {trigger.min_samples}"
    return None


def check_trigger(trigger: Trigger, subject: str, reading: Reading, baseline: str | None, base_reading: Reading | None) -> TriggerCheck:
    """One trigger against the subject bundle (and the baseline, for relative triggers)."""
    problem = _samples_problem(trigger, subject, reading)
    if problem is None and trigger.relative_to_stable:
        if baseline is None or base_reading is None:
            problem = ("no_data", f"{trigger.metric} is relative to stable, and there is no baseline bundle to compare with")
        else:
            problem = _samples_problem(trigger, f"baseline {baseline}", base_reading)
    if problem is not None:
        return TriggerCheck(trigger, problem[0], f"{trigger.name} ({trigger.metric}): {problem[1]}")
    observed = reading.observation
    assert observed is not None and observed.value is not None
    if not trigger.relative_to_stable:
        value = observed.value
        outcome: Outcome = "breached" if _crossed(trigger, value) else "healthy"
        detail = (f"{trigger.name}: {trigger.metric} of {subject} is {_format(trigger.metric, value)} over {trigger.window} "
                  f"({observed.samples} samples); {_threshold_text(trigger)} -> {outcome}")  # fmt: skip
        return TriggerCheck(trigger, outcome, detail, value)
    base = base_reading.observation if base_reading else None
    assert base is not None and base.value is not None
    if trigger.statistical_test == "mann_whitney":
        return _statistical_check(trigger, subject, observed, baseline or "", base)
    if trigger.relative_mode == "ratio":
        value = observed.value / base.value if base.value else (1.0 if observed.value == 0 else float("inf"))
        comparison = f"{value:.3g}x {baseline}'s"
    else:
        value = observed.value - base.value
        comparison = f"{value:+.4g} against {baseline}"
    outcome = "breached" if _crossed(trigger, value) else "healthy"
    detail = (f"{trigger.name}: {trigger.metric} of {subject} is {_format(trigger.metric, observed.value)}, {comparison} "
              f"({_format(trigger.metric, base.value)}) over {trigger.window} ({observed.samples} vs {base.samples} "
              f"samples); {_threshold_text(trigger)} -> {outcome}")  # fmt: skip
    return TriggerCheck(trigger, outcome, detail, value)


def _statistical_check(trigger: Trigger, subject: str, observed: Observation, baseline: str, base: Observation) -> TriggerCheck:
    """Is the subject worse than baseline + threshold, beyond chance? (Mann-Whitney U)."""
    if len(observed.values) < trigger.min_samples or len(base.values) < trigger.min_samples:
        detail = (f"{trigger.name}: the Mann-Whitney test needs per-request values; have {len(observed.values)} for "
                  f"{subject} and {len(base.values)} for {baseline}, min_samples {trigger.min_samples}")  # fmt: skip
        return TriggerCheck(trigger, "insufficient", detail)
    shift = trigger.max if trigger.max is not None else trigger.min
    assert shift is not None
    shifted = [value + shift for value in base.values]
    direction = "greater" if trigger.max is not None else "less"
    p_value = mann_whitney_p(observed.values, shifted, direction)
    confidence = 1 - p_value
    breached = confidence >= trigger.confidence
    word = "higher" if direction == "greater" else "lower"
    difference = (observed.value or 0) - (base.value or 0)
    detail = (f"{trigger.name}: {trigger.metric} of {subject} is {word} than {baseline} {shift:+g} with "
              f"{confidence:.1%} confidence (Mann-Whitney U, {len(observed.values)} vs {len(base.values)} samples, "
              f"means {_format(trigger.metric, observed.value or 0)} vs {_format(trigger.metric, base.value or 0)}, "
              f"difference {difference:+.4g}); needs {trigger.confidence:.1%} -> {'breached' if breached else 'healthy'}")  # fmt: skip
    return TriggerCheck(trigger, "breached" if breached else "healthy", detail, difference, confidence)


def decide(
    release: Release, subject: str | None, baseline: str | None, checks: list[TriggerCheck], hold_passed: bool, hold_detail: str
) -> Decision:
    """Rollback outranks alert outranks hold; promote needs every trigger healthy and the hold passed."""

    def decision(action: Action, reasons: list[str]) -> Decision:
        return Decision(release.name, action, subject, baseline, tuple(checks), tuple(reasons))

    if subject is None:
        return decision("hold", ["no rollout in progress and no previous bundle: nothing to evaluate"])
    for action in ("rollback", "alert"):
        breached = [check.detail for check in checks if check.outcome == "breached" and check.trigger.action == action]
        if breached:
            return decision(action, breached)  # type: ignore[arg-type]
    unknown = [check.detail for check in checks if check.outcome != "healthy"]
    if unknown:
        return decision("hold", unknown)
    if release.rollout.candidate is None:
        return decision("hold", [f"{subject} is stable and healthy; there is no candidate to promote"])
    if not hold_passed:
        return decision("hold", [hold_detail])
    reasons = ["every trigger is healthy" if checks else "no triggers: promoting on the hold alone", hold_detail]
    return decision("promote", reasons)


def decision_record(decision: Decision) -> dict:
    """The decision as a JSON-ready record, for `--format json` and the watcher's log."""
    return {
        "release": decision.release,
        "decision": decision.action,
        "subject": decision.subject,
        "baseline": decision.baseline,
        "reasons": list(decision.reasons),
        "triggers": [
            {"name": c.trigger.name, "metric": c.trigger.metric, "action": c.trigger.action, "outcome": c.outcome,
             "compared": c.compared, "confidence": c.confidence, "detail": c.detail}  # fmt: skip
            for c in decision.checks
        ],
    }


def decision_text(decision: Decision, source: str) -> str:
    """The decision for a person: the action, what was compared, and each trigger's outcome."""
    against = f" against {decision.baseline}" if decision.baseline else ""
    lines = [f"{decision.release}: {decision.action} ({decision.subject or 'nothing'}{against}, metrics from {source})"]
    lines += [f"  [{check.outcome}] {check.detail}" for check in decision.checks]
    lines += [f"  reason: {reason}" for reason in decision.reasons]
    return "\n".join(lines) + "\n"
