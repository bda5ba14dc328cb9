"""The Mann-Whitney U test, as canary analysis (Kayenta) uses it: one-sided, normal
approximation with tie and continuity corrections. Pure Python: samples are small."""

from __future__ import annotations

import math
from typing import Literal, Sequence


def _midranks(pooled: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks, ties sharing the mean rank, and the size of every group of ties."""
    order = sorted(range(len(pooled)), key=lambda index: pooled[index])
    ranks = [0.0] * len(pooled)
    groups = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and pooled[order[end + 1]] == pooled[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        groups.append(end - start + 1)
        start = end + 1
    return ranks, groups


def mann_whitney_p(
    first: Sequence[float], second: Sequence[float], alternative: Literal["less", "greater"]
) -> float:
    """p-value that `first` tends to be smaller (`less`) or larger (`greater`) than `second`."""
    n1, n2 = len(first), len(second)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need values")
    ranks, groups = _midranks([*first, *second])
    u_first = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    u = u_first if alternative == "greater" else n1 * n2 - u_first
    total = n1 + n2
    variance = n1 * n2 / 12 * ((total + 1) - sum(t**3 - t for t in groups) / (total * (total - 1)))
    if variance <= 0:
        return 1.0  # every value is the same: no evidence either way
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return min(1.0, max(0.0, 0.5 * math.erfc(z / math.sqrt(2))))
