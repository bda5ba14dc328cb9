"""Snapshot files (JSON and CSV) as an eval harness writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.metrics import MetricError, MetricQuery, open_source
from compiler.metrics.snapshot import SnapshotSource


def _query(version: str, metric: str = "eval_score") -> MetricQuery:
    return MetricQuery("chat", version, metric, 600)


def test_json_aggregates_and_per_request_values(tmp_path: Path) -> None:
    path = tmp_path / "nightly.json"
    path.write_text("""{"metrics": [
      {"release": "chat", "version": "v1", "metric": "error_rate", "value": 0.01, "samples": 500},
      {"release": "chat", "version": "v2", "metric": "eval_score", "values": [0.8, 0.9, 1.0]},
      {"release": "chat", "version": "v3", "metric": "eval_score", "value": "NaN", "samples": 10}
    ]}""")
    source = open_source(str(path))
    aggregate = source.observe(_query("v1", "error_rate"))
    assert (aggregate.value, aggregate.samples, aggregate.values) == (0.01, 500, ())
    samples = source.observe(_query("v2"))
    assert samples.value == pytest.approx(0.9) and samples.samples == 3 and samples.values == (0.8, 0.9, 1.0)
    assert not source.observe(_query("v3")).has_data
    missing = source.observe(_query("v9"))
    assert (missing.value, missing.samples) == (None, 0)


def test_csv_rows_with_samples_are_aggregates_and_without_are_per_request(tmp_path: Path) -> None:
    path = tmp_path / "quality.csv"
    path.write_text("release,version,metric,value,samples\nchat,v1,groundedness,0.93,400\n"
                    "chat,v2,groundedness,1,\nchat,v2,groundedness,0,\nchat,v2,groundedness,1,\n")  # fmt: skip
    source = open_source(str(path))
    assert source.observe(_query("v1", "groundedness")).samples == 400
    per_request = source.observe(_query("v2", "groundedness"))
    assert per_request.values == (1.0, 0.0, 1.0) and per_request.value == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("broken.json", '{"metrics": [', "broken.json:1:"),
        ("shape.json", '{"data": []}', "`metrics` list"),
        ("types.json", '{"metrics": [{"release": "chat", "version": "v1", "metric": "m", "value": true, "samples": 1}]}', "expected a number"),
        ("count.json", '{"metrics": [{"release": "chat", "version": "v1", "metric": "m", "value": 1, "samples": -4}]}', "whole number"),
        ("header.csv", "version,value\nv1,1\n", "the header must name"),
        ("value.csv", "release,version,metric,value\nchat,v1,m,high\n", "value.csv:2: value: expected a number"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path: Path, name: str, content: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MetricError, match=None) as error:
        open_source(str(path))
    assert words in str(error.value)


def test_a_missing_file_and_queries_for_a_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(MetricError, match="cannot read metrics file"):
        open_source(str(tmp_path / "none.json"))
    (tmp_path / "m.json").write_text('{"metrics": []}')
    with pytest.raises(MetricError, match="--queries applies to a Prometheus source"):
        open_source(str(tmp_path / "m.json"), queries="envoy")


def test_a_misspelt_metric_is_refused_with_the_likely_name(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"metrics": [{"release": "chat", "version": "v2", "metric": "error-rate", "value": 0.1, "samples": 9}]}')
    with pytest.raises(MetricError, match="unknown metric `error-rate`; did you mean `error_rate`"):
        SnapshotSource.from_file(str(path))


def test_rows_for_an_unknown_release_or_version_are_named(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"metrics": ['
                    '{"release": "chat", "version": "v3", "metric": "error_rate", "value": 0.1, "samples": 9},'
                    '{"release": "caht", "version": "v2", "metric": "error_rate", "value": 0.1, "samples": 9}]}')  # fmt: skip
    problems = SnapshotSource.from_file(str(path)).unmatched({"chat": {"v1", "v2"}})
    assert len(problems) == 2
    assert "`caht` is not a release here" in problems[0] and "release `chat` has no bundle `v3`" in problems[1]
