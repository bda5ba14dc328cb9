"""Metrics from a snapshot file, as an eval harness or a nightly quality job writes them.

JSON: {"metrics": [{"release": R, "version": V, "metric": M, "value": x, "samples": n}]}
or, with per-request samples, {"release": R, "version": V, "metric": M, "values": [x, ...]}.
CSV: a header `release,version,metric,value[,samples]`; several rows for the same
release, version and metric without `samples` are per-request samples.
The file is taken to cover each trigger's window: the job that writes it chooses it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.metrics import NO_DATA, MetricError, MetricQuery, Observation

Key = tuple[str, str, str]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MetricError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise MetricError(f"{where}: expected a number, got {value!r}") from None


MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SnapshotSource:
    observations: dict[Key, Observation]
    description: str

    @classmethod
    def from_file(cls, location: str, inside: Path | None = None) -> "SnapshotSource":
        """The snapshot at `location`; with `inside`, a file of that repository (`relc.yaml`
        names it), which no link may lead out of."""
        from compiler.files import FileReadError, read_input_file

        path = Path(location)
        try:
            text = read_input_file(path, MAX_SNAPSHOT_BYTES, follow_links=True, inside=inside).decode("utf-8")
        except FileReadError as error:
            raise MetricError(f"cannot read metrics file {location}: it {error}") from None
        except UnicodeDecodeError as error:
            raise MetricError(f"cannot read metrics file {location}: not UTF-8: {error.reason} at byte {error.start}") from None
        observations = _from_csv(text, location) if path.suffix == ".csv" else _from_json(text, location)
        _refuse_unknown_metrics(observations, location)
        return cls(observations, f"snapshot {location}")

    def unmatched(self, versions_by_release: dict[str, set[str]]) -> list[str]:
        """Rows for a release or a bundle version the repository does not have (a typo
        there would silently read as no data)."""
        problems = []
        for release, version, metric in sorted(self.observations):
            if release not in versions_by_release:
                problems.append(f"{self.description}: `{release}` is not a release here (row {release}/{version}/{metric})")
            elif version not in versions_by_release[release]:
                problems.append(f"{self.description}: release `{release}` has no bundle `{version}` (row {release}/{version}/{metric})")
        return problems

    def observe(self, query: MetricQuery) -> Observation:
        return self.observations.get((query.release, query.version, query.metric), NO_DATA)

    def answers(self) -> set[str]:
        return {metric for _, _, metric in self.observations}


def _refuse_unknown_metrics(observations: dict[Key, Observation], location: str) -> None:
    """A metric name no trigger can use is a typo (`error-rate`): say so, with the likely name."""
    import difflib

    from compiler.spec import METRICS

    for metric in sorted({metric for _, _, metric in observations} - set(METRICS)):
        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f"; metrics are {', '.join(METRICS)}"
        raise MetricError(f"{location}: unknown metric `{metric}`{hint}")


def _from_json(text: str, location: str) -> dict[Key, Observation]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetricError(f"{location}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    entries = document.get("metrics") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise MetricError(f"{location}: expected an object with a `metrics` list")
    observations: dict[Key, Observation] = {}
    for index, entry in enumerate(entries):
        where = f"{location}: metrics[{index}]"
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("release", "version", "metric")):
            raise MetricError(f"{where}: needs string fields release, version and metric")
        key = (entry["release"], entry["version"], entry["metric"])
        if "values" in entry:
            if not isinstance(entry["values"], list):
                raise MetricError(f"{where}: `values` must be a list of numbers")
            values = tuple(_number(v, f"{where}.values") for v in entry["values"])
            observations[key] = _from_values(values)
        else:
            value = _number(entry.get("value"), f"{where}.value")
            samples = entry.get("samples")
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
                raise MetricError(f"{where}.samples: expected a whole number of samples, got {samples!r}")
            observations[key] = Observation(None if math.isnan(value) else value, samples)
    return observations


def _from_values(values: tuple[float, ...]) -> Observation:
    finite = tuple(v for v in values if not math.isnan(v))
    if not finite:
        return Observation(None, 0)
    return Observation(sum(finite) / len(finite), len(finite), finite)


def _from_csv(text: str, location: str) -> dict[Key, Observation]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"release", "version", "metric", "value"} <= set(reader.fieldnames):
        raise MetricError(f"{location}: the header must name release, version, metric, value (and optionally samples)")
    aggregates: dict[Key, Observation] = {}
    samples: dict[Key, list[float]] = {}
    for line, row in enumerate(reader, start=2):
        key = (row["release"], row["version"], row["metric"])
        value = _number(row["value"], f"{location}:{line}: value")
        if row.get("samples"):
            count = _number(row["samples"], f"{location}:{line}: samples")
            if count < 0 or count != int(count):
                raise MetricError(f"{location}:{line}: samples must be a whole number")
            aggregates[key] = Observation(None if math.isnan(value) else value, int(count))
        else:
            samples.setdefault(key, []).append(value)
    return {**{key: _from_values(tuple(values)) for key, values in samples.items()}, **aggregates}
