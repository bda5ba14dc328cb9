"""Mann-Whitney U against reference values computed with scipy.stats.mannwhitneyu
(method="asymptotic", use_continuity=True), scipy 1.17.1."""

from __future__ import annotations

import pytest

from compiler.statistics import mann_whitney_p

NO_TIES = ([1.1, 2.3, 0.7, 3.9, 2.8], [4.2, 5.0, 3.3, 6.1, 4.8, 5.5])
TIES = ([1, 2, 2, 3, 4, 4, 4, 5], [3, 4, 5, 5, 6, 6, 7])
LATENCY = ([120, 135, 128, 140, 122, 131, 127, 133, 129, 125], [150, 138, 160, 155, 142, 149, 171, 158, 147, 152])


@pytest.mark.parametrize(
    ("samples", "alternative", "expected"),
    [
        (NO_TIES, "less", 0.00685541503906661),
        (NO_TIES, "greater", 0.9959434413672171),
        (TIES, "less", 0.010960327932384759),
        (TIES, "greater", 0.9920076574374018),
        (LATENCY, "less", 0.00012306406395261486),
        (LATENCY, "greater", 0.9999086641044452),
        (([1, 2, 3], [1, 2, 3]), "less", 0.5902615116112394),
    ],
)
def test_p_values_match_scipy(samples: tuple, alternative: str, expected: float) -> None:
    assert mann_whitney_p(*samples, alternative) == pytest.approx(expected, rel=1e-9)  # type: ignore[arg-type]


def test_identical_samples_give_no_evidence() -> None:
    assert mann_whitney_p([5, 5, 5], [5, 5], "less") == 1.0


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        mann_whitney_p([], [1.0], "less")
