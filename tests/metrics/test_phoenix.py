"""The Phoenix source without a Phoenix: its address checked before any request, and a
Phoenix that is down or answers nonsense makes the release hold with a reason, never promote.
(The real server is in test_phoenix_live.py.)"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from compiler.metrics import MetricError, MetricQuery, open_source
from compiler.metrics.phoenix import PhoenixSource
from compiler.metrics.quality import ANNOTATIONS, annotation_for, observation, sample_value
from tests.conftest import run_relc
from tests.support import LocalServer, Repository, free_port

QUERY = MetricQuery("chat", "v2", "hallucination_rate", 600)
TAGS = {"relc.release": "chat", "relc.bundle.version": "v2"}


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("phoenix+ftp://host:6006", "write phoenix+http://HOST:PORT"),
        ("phoenix+http://", "write phoenix+http://HOST:PORT"),
        ("phoenix+http://host:6006?projet=chat", "unknown option 'projet'; the only option is ?project=NAME"),
        ("phoenix+http://host:6006?project=", "a Phoenix project name cannot be empty"),
        ("phoenix+http://host:6006?project=a/b", "cannot be empty or contain /, ? or #"),
    ],
)
def test_a_bad_address_is_refused_before_any_request(location: str, message: str) -> None:
    with pytest.raises(MetricError, match=message.replace("?", r"\?").replace("+", r"\+")):
        open_source(location)


def test_an_address_names_its_project_and_queries_do_not_apply() -> None:
    source = open_source("phoenix+https://phoenix.example:443/prefix/?project=support")
    assert isinstance(source, PhoenixSource)
    assert (source.url, source.project) == ("https://phoenix.example:443/prefix", "support")
    assert source.answers() == set(ANNOTATIONS)
    assert open_source("phoenix+http://127.0.0.1:6006").project == "default"
    with pytest.raises(MetricError, match="--queries applies to a Prometheus source, not to phoenix"):
        open_source("phoenix+http://127.0.0.1:6006", queries="envoy")


def test_a_phoenix_that_is_down_is_an_error_that_names_it() -> None:
    source = PhoenixSource(f"http://127.0.0.1:{free_port()}", "chat", timeout=5)
    with pytest.raises(MetricError, match=r"cannot reach Phoenix at http://127\.0\.0\.1:\d+ \(project chat\)"):
        source.observe(QUERY)


class Answers(LocalServer):
    """A server on 127.0.0.1 that gives the queued answers in order, whatever is asked."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, bytes]] = []
        super().__init__(lambda method, body: self.next())
        self.url = f"http://127.0.0.1:{self.port}"

    def next(self) -> tuple[int, str, bytes]:
        status, body = self.queue.pop(0)
        return status, "application/json", body


@pytest.fixture
def answers() -> Iterator[Answers]:
    server = Answers()
    yield server
    server.close()


def _source(answers: Answers) -> PhoenixSource:
    return PhoenixSource(answers.url, "chat", timeout=5)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html>login</html>", "did not answer with JSON: <html>login</html>"),
        (200, b'{"spans": []}', "answered spans without a `data` list"),
        (200, b'{"data": [{"name": "chat"}]}', "answered a span without context.span_id"),
        (200, b'{"data": [{"context": {"span_id": "00aa"}, "attributes": {"relc.release": "chat", "relc.bundle.version": "v1"}}]}',
         "answered span 00aa without the attributes relc.release='chat' and relc.bundle.version='v2': the server ignored"),
        (401, b'{"detail": "Unauthorized"}', r"refused the request \(HTTP 401\): Unauthorized; set \$PHOENIX_API_KEY"),
        (422, b'{"detail": "Invalid attribute"}', r"\(HTTP 422\): Invalid attribute"),
    ],
)
def test_a_bad_answer_is_an_error_that_says_what_was_wrong(answers: Answers, status: int, body: bytes,
                                                           message: str) -> None:  # fmt: skip
    answers.queue.append((status, body))
    with pytest.raises(MetricError, match=message):
        _source(answers).observe(QUERY)


def test_an_annotation_whose_result_is_malformed_is_an_error(answers: Answers) -> None:
    span = {"context": {"span_id": "00aa"}, "attributes": TAGS}
    annotation = {"span_id": "00aa", "name": "hallucination", "result": {"label": ["yes"], "score": None}}
    answers.queue += [(200, json.dumps({"data": [span]}).encode()), (200, json.dumps({"data": [annotation]}).encode())]
    with pytest.raises(MetricError, match="an annotation whose result is not a label and a score"):
        _source(answers).observe(QUERY)


def test_pages_are_followed_and_the_newest_annotation_of_a_span_counts(answers: Answers) -> None:
    spans = [{"context": {"span_id": f"{n:016x}"}, "attributes": TAGS} for n in range(3)]
    old = {"span_id": spans[0]["context"]["span_id"], "updated_at": "2026-01-01T00:00:00+00:00",
           "result": {"label": "hallucinated", "score": None}}  # fmt: skip
    new = {**old, "updated_at": "2026-01-02T00:00:00+00:00", "result": {"label": "factual", "score": None}}
    other = {"span_id": spans[1]["context"]["span_id"], "updated_at": "2026-01-01T00:00:00+00:00",
             "result": {"label": "Hallucinated", "score": None}}  # fmt: skip
    answers.queue += [
        (200, json.dumps({"data": spans[:2], "next_cursor": "page2"}).encode()),
        (200, json.dumps({"data": spans[2:], "next_cursor": None}).encode()),
        (200, json.dumps({"data": [old, other], "next_cursor": "more"}).encode()),
        (200, json.dumps({"data": [new], "next_cursor": None}).encode()),
    ]
    observed = _source(answers).observe(QUERY)
    assert (observed.value, observed.samples) == (0.5, 2), "span 2 was not judged; span 0's newest says factual"
    assert not answers.queue, "every page was read"


def test_how_each_metric_reads_an_annotation() -> None:
    hallucination = annotation_for("hallucination_rate", "Phoenix")
    assert [sample_value(hallucination, label, score) for label, score in
            [("hallucinated", None), ("FACTUAL", 0.3), (None, 1), (None, 0), (None, 0.5), ("", None)]] == [
        1.0, 0.0, 1.0, 0.0, None, None]  # fmt: skip
    groundedness = annotation_for("groundedness", "Phoenix")
    assert [sample_value(groundedness, label, score) for label, score in [("grounded", 0.75), ("grounded", None)]] == [
        0.75, None]  # fmt: skip
    assert observation([]).value is None and observation([1.0, 0.0, 0.0, 0.0]).value == 0.25
    with pytest.raises(MetricError, match="Phoenix answers the quality metrics .* not `error_rate`"):
        annotation_for("error_rate", "Phoenix")


HALLUCINATIONS = """triggers:
  - {name: hallucinations, metric: hallucination_rate, max: 0.1, window: 1h, min_samples: 10, action: rollback}
"""


def test_evaluate_holds_when_phoenix_is_down(tmp_path) -> None:
    from tests.support import release_text

    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + HALLUCINATIONS)
    repository.commit("Start rollout of chat v2")
    result = run_relc("evaluate", "chat", "--metrics", f"phoenix+http://127.0.0.1:{free_port()}", cwd=repository.root)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "chat: hold (v2 against v1, metrics from Phoenix at http://127.0.0.1:" in result.stdout
    assert "[error] hallucinations (hallucination_rate): v2: cannot reach Phoenix at" in result.stdout
    assert "Traceback" not in result.stderr


def test_the_bundle_manifest_tells_serving_apps_what_to_tag() -> None:
    from tests.conftest import REPO

    manifest = json.loads((REPO / "rendered" / "bundles" / "support-chat.json").read_text())
    for bundle in manifest["bundles"]:
        assert bundle["telemetry"] == {
            "span_attributes": {"relc.release": "support-chat", "relc.bundle.version": bundle["version"]},
            "trace_tags": ["relc.release:support-chat", f"relc.bundle.version:{bundle['version']}"],
        }
