"""Every decision path of `triggers.decide`, on readings given directly (no source)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from compiler.metrics import Observation
from compiler.spec import Release, Trigger
from compiler.triggers import Reading, check_trigger, decide, decision_record
from tests.support import release_text


def _trigger(**fields: Any) -> Trigger:
    base = {"name": "t", "metric": "error_rate", "max": 0.02, "window": "10m", "min_samples": 100, "action": "rollback"}
    return Trigger.model_validate({**base, **fields})


def _release(candidate: bool = True, previous: bool = False) -> Release:
    import yaml

    text = release_text("chat", ["v1", "v2"], stable="v1", candidate="v2" if candidate else None,
                        step=1 if candidate else None, previous=None)  # fmt: skip
    data = yaml.safe_load(text)
    if previous:
        data["rollout"] = {"stable": "v2", "previous": "v1", "steps": data["rollout"]["steps"]}
    return Release.model_validate(data)


def _ok(value: float, samples: int = 1000, values: tuple[float, ...] = ()) -> Reading:
    return Reading(Observation(value, samples, values))


def test_an_absolute_threshold_breached_rolls_back() -> None:
    check = check_trigger(_trigger(), "v2", _ok(0.05), None, None)
    assert check.outcome == "breached" and check.compared == 0.05
    assert "error_rate of v2 is 0.05 over 10m (1000 samples); max 0.02 -> breached" in check.detail
    decision = decide(_release(), "v2", "v1", [check], hold_passed=True, hold_detail="")
    assert decision.action == "rollback" and decision.exit_code == 5


def test_rollback_outranks_alert_and_alert_outranks_hold() -> None:
    rollback = check_trigger(_trigger(name="errors"), "v2", _ok(0.05), None, None)
    alert = check_trigger(_trigger(name="thumbs", metric="thumbs_down_rate", max=0.1, action="alert"), "v2", _ok(0.2), None, None)
    unknown = check_trigger(_trigger(name="slow", metric="latency_p95", max=2.0), "v2", _ok(1.0, samples=3), None, None)
    assert decide(_release(), "v2", "v1", [alert, rollback, unknown], True, "").action == "rollback"
    alerting = decide(_release(), "v2", "v1", [alert, unknown], True, "")
    assert alerting.action == "alert" and alerting.exit_code == 4
    assert decide(_release(), "v2", "v1", [unknown], True, "").action == "hold"


def test_all_healthy_promotes_only_after_the_hold() -> None:
    healthy = check_trigger(_trigger(), "v2", _ok(0.01), None, None)
    early = decide(_release(), "v2", "v1", [healthy], hold_passed=False, hold_detail="the step's hold ends at noon")
    assert early.action == "hold" and early.reasons == ("the step's hold ends at noon",)
    ready = decide(_release(), "v2", "v1", [healthy], hold_passed=True, hold_detail="the hold ended")
    assert ready.action == "promote" and ready.exit_code == 0


@pytest.mark.parametrize(
    ("reading", "outcome", "words"),
    [
        (Reading(Observation(0.01, 99)), "insufficient", "99 samples over 10m, fewer than min_samples 100"),
        (Reading(Observation(math.nan, 500)), "no_data", "no data over 10m (no data is never healthy)"),
        (Reading(Observation(None, 0)), "no_data", "no data"),
        (Reading(None, "cannot reach Prometheus at http://127.0.0.1:9: Connection refused"), "error", "cannot reach"),
    ],
)
def test_too_little_or_no_data_holds_never_promotes(reading: Reading, outcome: str, words: str) -> None:
    check = check_trigger(_trigger(), "v2", reading, None, None)
    assert check.outcome == outcome and words in check.detail
    assert decide(_release(), "v2", "v1", [check], hold_passed=True, hold_detail="").action == "hold"


def test_relative_ratio_and_difference_compare_with_stable() -> None:
    ratio = _trigger(metric="latency_p95", max=1.2, relative_to_stable=True, relative_mode="ratio")
    slow = check_trigger(ratio, "v2", _ok(1.5), "v1", _ok(1.0))
    assert slow.outcome == "breached" and slow.compared == pytest.approx(1.5)
    assert "1.5x v1's (1 s)" in slow.detail
    assert check_trigger(ratio, "v2", _ok(1.1), "v1", _ok(1.0)).outcome == "healthy"
    difference = _trigger(metric="eval_score", max=None, min=-0.02, relative_to_stable=True, action="alert")
    assert check_trigger(difference, "v2", _ok(0.85), "v1", _ok(0.86)).outcome == "healthy"
    dropped = check_trigger(difference, "v2", _ok(0.80), "v1", _ok(0.86))
    assert dropped.outcome == "breached" and dropped.compared == pytest.approx(-0.06)
    missing_baseline = check_trigger(difference, "v2", _ok(0.80), "v1", Reading(Observation(None, 0)))
    assert missing_baseline.outcome == "no_data" and "baseline v1" in missing_baseline.detail


def _scores(mean: float, count: int, seed: int) -> tuple[float, ...]:
    generator = random.Random(seed)
    return tuple(min(1.0, max(0.0, generator.gauss(mean, 0.1))) for _ in range(count))


def test_the_statistical_test_ignores_noise_and_catches_a_real_regression() -> None:
    trigger = _trigger(metric="eval_score", max=None, min=-0.02, relative_to_stable=True,
                       statistical_test="mann_whitney", min_samples=50, action="rollback")  # fmt: skip

    def reading(values: tuple[float, ...]) -> Reading:
        return Reading(Observation(sum(values) / len(values), len(values), values))

    stable = _scores(0.85, 200, seed=1)
    same_model = _scores(0.85, 60, seed=2)  # low traffic, same quality: noise only
    noise = check_trigger(trigger, "v2", reading(same_model), "v1", reading(stable))
    assert noise.outcome == "healthy" and noise.confidence is not None and noise.confidence < 0.95
    worse = _scores(0.75, 60, seed=3)  # a real drop of 0.10, at the same low traffic
    regression = check_trigger(trigger, "v2", reading(worse), "v1", reading(stable))
    assert regression.outcome == "breached" and regression.confidence is not None and regression.confidence > 0.99
    assert "Mann-Whitney U, 60 vs 200 samples" in regression.detail and "confidence" in regression.detail
    few = check_trigger(trigger, "v2", reading(worse[:10]), "v1", reading(stable))
    assert few.outcome == "insufficient"


def test_no_rollout_and_a_just_promoted_stable() -> None:
    nothing = decide(_release(candidate=False), None, None, [], hold_passed=False, hold_detail="")
    assert nothing.action == "hold" and "nothing to evaluate" in nothing.reasons[0]
    healthy = check_trigger(_trigger(), "v2", _ok(0.0), None, None)
    baking = decide(_release(candidate=False, previous=True), "v2", "v1", [healthy], hold_passed=False, hold_detail="")
    assert baking.action == "hold" and "no candidate to promote" in baking.reasons[0]
    broken = check_trigger(_trigger(), "v2", _ok(0.5), None, None)
    assert decide(_release(candidate=False, previous=True), "v2", "v1", [broken], False, "").action == "rollback"


def test_no_triggers_promotes_on_the_hold_alone_and_json_explains() -> None:
    decision = decide(_release(), "v2", "v1", [], hold_passed=True, hold_detail="the hold ended")
    assert decision.action == "promote" and "no triggers" in decision.reasons[0]
    assert decision_record(decision)["decision"] == "promote"
