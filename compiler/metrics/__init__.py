"""Metric sources: one small interface, one module per source (snapshot files, Prometheus).

A source answers one question: the value of a metric for one bundle over a window,
with how many samples it rests on (and the per-request values, when it has them, for
statistical tests). "No data" is an answer, never a healthy zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol
from compiler.errors import RelcError


class MetricError(RelcError):
    """A source that cannot answer: unreachable, an error response, a malformed file."""


@dataclass(frozen=True)
class MetricQuery:
    release: str
    version: str
    metric: str
    window_seconds: float
    # The public model name clients call (`route.model`): gateways such as LiteLLM name
    # their series after it, not after the release. Empty means the release's name.
    route_model: str = ""

    @property
    def public_model(self) -> str:
        return self.route_model or self.release


@dataclass(frozen=True)
class Observation:
    """A metric's value for one bundle; `value` None when the source has no data."""

    value: float | None
    samples: int
    values: tuple[float, ...] = ()

    @property
    def has_data(self) -> bool:
        return self.value is not None and not math.isnan(self.value)


NO_DATA = Observation(None, 0)


class MetricSource(Protocol):
    description: str

    def observe(self, query: MetricQuery) -> Observation: ...


def _looks_like_an_address(location: str) -> bool:
    """`localhost:9090` or `prometheus.monitoring:9090`, not an existing file."""
    import os
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(/.*)?", location)) and not os.path.exists(location)


def open_source(location: str, queries: str | None = None, timeout: float = 10.0) -> MetricSource:
    """A source from the command line: a Prometheus URL, or a JSON or CSV snapshot file."""
    if location.startswith(("http://", "https://")):
        from compiler.metrics.prometheus import PrometheusSource, load_queries

        return PrometheusSource(location, load_queries(queries or "envoy"), timeout)
    from compiler.metrics.snapshot import SnapshotSource

    if _looks_like_an_address(location):
        raise MetricError(f"--metrics {location} looks like a server address: write http://{location} for "
                          "Prometheus (a file name needs .json or .csv)")  # fmt: skip
    if queries:
        raise MetricError("--queries applies to a Prometheus source, not to a snapshot file")
    return SnapshotSource.from_file(location)
