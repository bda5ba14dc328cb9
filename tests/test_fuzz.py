"""The fuzz target in the suite: a bounded number of mutated inputs, every kept crash replayed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import CRASHES, check_one, mutate, seeds

SEEDS = seeds()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(0, len(SEEDS) - 1), st.integers(0, 2**32 - 1))
def test_any_mutation_of_a_real_file_gives_a_release_or_diagnostics(seed_index: int, salt: int) -> None:
    raw = mutate(SEEDS[seed_index], random.Random(salt))
    assert check_one(raw) is None, raw[:400]


@pytest.mark.parametrize("crash", sorted(CRASHES.glob("*.bin")), ids=lambda p: p.stem)
def test_every_crash_ever_found_stays_fixed(crash: Path) -> None:
    assert check_one(crash.read_bytes()) is None


def test_the_target_reports_what_it_must_catch() -> None:
    """The target is not true by construction: a crash, a hang and a stray diagnostic are caught."""
    import tests.fuzzing as fuzzing

    assert check_one(b"apiVersion: relc/v1\n") is None
    original = fuzzing.SECONDS_PER_INPUT
    try:
        fuzzing.SECONDS_PER_INPUT = 1
        from unittest import mock

        with mock.patch("compiler.validate.validate_release_bytes", side_effect=ValueError("boom")):
            assert "ValueError: boom" in (check_one(b"x: 1\n") or "")
        with mock.patch("compiler.validate.validate_release_bytes", side_effect=lambda *a: __import__("time").sleep(5)):
            assert "took over 1 s" in (check_one(b"x: 1\n") or "")
    finally:
        fuzzing.SECONDS_PER_INPUT = original
