"""Metric sources: one small interface, one module per source (snapshot files, Prometheus,
the quality monitors Phoenix and Langfuse).

A source answers one question: the value of a metric for one bundle over a window,
with how many samples it rests on (and the per-request values, when it has them, for
statistical tests). "No data" is an answer, never a healthy zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol
from compiler.errors import RelcError

if TYPE_CHECKING:
    from compiler.config import MetricSourceConfig, RepositoryConfig
    from compiler.metrics.quality import Annotation


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
    # The release's gateways: a source configured per gateway picks its queries by them.
    gateways: tuple[str, ...] = ()

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

    def answers(self) -> set[str]:
        """The metrics this source can answer at all (others are another source's)."""
        ...


def _looks_like_an_address(location: str) -> bool:
    """`localhost:9090` or `prometheus.monitoring:9090`, not an existing file."""
    import os
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(/.*)?", location)) and not os.path.exists(location)


MONITOR_SCHEMES = ("phoenix+", "langfuse+")


def open_monitor(location: str, timeout: float = 10.0, annotations: "dict[str, Annotation] | None" = None) -> MetricSource:
    """A quality monitor: `phoenix+http://...` or `langfuse+https://...`; `annotations` are
    relc.yaml's names for its metrics, where a team's differ from the defaults."""
    if location.startswith("phoenix+"):
        from compiler.metrics.phoenix import PhoenixSource

        return PhoenixSource.from_location(location, timeout, annotations)
    from compiler.metrics.langfuse import LangfuseSource

    return LangfuseSource.from_location(location, timeout, annotations)


def open_source(location: str, queries: str | None = None, timeout: float = 10.0) -> MetricSource:
    """A source from the command line: a Prometheus URL, a quality monitor
    (`phoenix+http://...`, `langfuse+https://...`), or a JSON or CSV snapshot file."""
    if location.startswith(MONITOR_SCHEMES):
        if queries:
            raise MetricError(f"--queries applies to a Prometheus source, not to {location.split('+')[0]}")
        return open_monitor(location, timeout)
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


class RoutedSource:
    """Several sources in one run: each metric is asked of the first source that answers it."""

    def __init__(self, routes: list[tuple[str, Callable[[tuple[str, ...]], tuple[frozenset[str], MetricSource]]]]) -> None:
        # (name, gateways -> (metrics answered, source)): a source may answer per gateway.
        self.routes = routes
        self.description = " + ".join(name for name, _ in routes)

    def answers(self) -> set[str]:
        return {metric for _, route in self.routes for metric in route(())[0]}

    def observe(self, query: MetricQuery) -> Observation:
        for _, route in self.routes:
            answered, source = route(query.gateways)
            if query.metric in answered:
                return source.observe(query)
        raise MetricError(f"no metric source answers `{query.metric}`: add one to relc.yaml, or another --metrics")


class _Unanswered:
    description = "no source"

    def observe(self, query: MetricQuery) -> Observation:
        raise MetricError(f"no metric source answers `{query.metric}`")

    def answers(self) -> set[str]:
        return set()


_NO_SOURCE = _Unanswered()


def open_sources(locations: list[str], queries: str | None = None, timeout: float = 10.0) -> MetricSource:
    """Sources named on the command line; with more than one, each metric from the first that has it."""
    sources = [open_source(location, queries, timeout) for location in locations]
    if len(sources) == 1:
        return sources[0]
    return RoutedSource([(source.description, _constant(frozenset(source.answers()), source)) for source in sources])


def open_configured(config: "RepositoryConfig", root: Path, timeout: float = 10.0) -> MetricSource:
    """The sources `relc.yaml` names, in its order."""
    routes = []
    for entry in config.metrics:
        if entry.file is not None:
            from compiler.metrics.snapshot import SnapshotSource

            snapshot = SnapshotSource.from_file(str(root / entry.file), inside=root)
            routes.append((entry.name, _constant(frozenset(entry.metrics or ()), snapshot)))
        elif entry.url is not None and entry.url.startswith(MONITOR_SCHEMES):
            monitor = open_monitor(entry.url, timeout, entry.annotation_table())
            answered = frozenset(entry.metrics) if entry.metrics is not None else frozenset(monitor.answers())
            routes.append((entry.name, _constant(answered, monitor)))
        else:
            routes.append((entry.name, _per_gateway(entry, timeout, root)))
    return RoutedSource(routes)


def _constant(answered: frozenset[str], source: MetricSource) -> Callable[[tuple[str, ...]], tuple[frozenset[str], MetricSource]]:
    return lambda gateways: (answered, source)


def _per_gateway(
    entry: "MetricSourceConfig", timeout: float, root: Path
) -> Callable[[tuple[str, ...]], tuple[frozenset[str], MetricSource]]:
    """A Prometheus source whose queries follow the release's gateways, opened once per set."""
    from compiler.metrics.prometheus import PrometheusSource, load_queries

    opened: dict[str, PrometheusSource] = {}

    def route(gateways: tuple[str, ...]) -> tuple[frozenset[str], MetricSource]:
        chosen = entry.queries_for(gateways)
        if chosen is None:
            return frozenset(), _NO_SOURCE
        if chosen not in opened:
            opened[chosen] = PrometheusSource(entry.url or "", load_queries(chosen, inside=root), timeout)
        answered = frozenset(entry.metrics) if entry.metrics is not None else frozenset(opened[chosen].queries)
        return answered, opened[chosen]

    return route
