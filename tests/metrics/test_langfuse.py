"""The Langfuse source against a real HTTP server on 127.0.0.1 that serves Langfuse's scores
API as its reference documents it (tests/langfuse/*.json; see make_fixtures.py there for
where each shape comes from). No Langfuse server can run here: these tests prove what relc
asks (path, filters, pages, basic auth) and how it reads the answers, not Langfuse itself."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from compiler.metrics import MetricError, MetricQuery, open_source
from compiler.metrics.langfuse import LangfuseSource
from tests.conftest import run_relc
from tests.support import Repository, release_text

FIXTURES = Path(__file__).resolve().parent.parent / "langfuse"
PUBLIC_KEY = "pk-lf-1234567890"
SECRET_KEY = "sk-lf-never-printed-0000"


class Langfuse:
    """Answers `GET /api/public/v2/scores` from the fixture files, checking basic auth as Langfuse does."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.swap_versions = False  # serve another bundle's scores, as a server ignoring traceTags would
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                status, body = owner.answer(self.path, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, authorization: str) -> tuple[int, bytes]:
        address = urllib.parse.urlsplit(path)
        expected = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
        if authorization != expected:
            return 401, (FIXTURES / "unauthorized.json").read_bytes()
        if address.path != "/api/public/v2/scores":
            return 404, b'{"message": "Not found"}'
        query = urllib.parse.parse_qs(address.query)
        self.requests.append(query)
        tags = dict(tag.split(":", 1) for tag in query.get("traceTags", []))
        version = tags.get("relc.bundle.version", "")
        if self.swap_versions:
            version = {"v1": "v2", "v2": "v1"}.get(version, version)
        name = f"scores-{query['name'][0]}-{tags.get('relc.release')}-{version}-page{query['page'][0]}.json"
        path_on_disk = FIXTURES / name if (FIXTURES / name).exists() else FIXTURES / "empty.json"
        return 200, path_on_disk.read_bytes()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def langfuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Langfuse]:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    server = Langfuse()
    yield server
    server.close()


TRIGGERS = """triggers:
  - {name: hallucinations, metric: hallucination_rate, relative_to_stable: true, relative_mode: ratio, max: 1.5,
     window: 1h, min_samples: 50, action: rollback}
  - {name: grounded, metric: groundedness, min: 0.7, window: 1h, min_samples: 4, action: alert}
  - {name: thumbs, metric: thumbs_down_rate, max: 0.3, window: 1h, min_samples: 4, action: alert}
"""


def in_rollout(root: Path, name: str) -> Repository:
    repository = Repository(root)
    repository.write(name, release_text(name, ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)
    repository.commit(f"Start rollout of {name} v2")
    return repository


def evaluate(repository: Repository, langfuse: Langfuse, name: str) -> tuple[int, dict[str, Any], str]:
    result = run_relc("evaluate", name, "--metrics", f"langfuse+{langfuse.url}", "--format", "json", cwd=repository.root)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def test_a_candidate_that_hallucinates_twice_as_often_is_rolled_back(langfuse: Langfuse, tmp_path: Path) -> None:
    code, decision, output = evaluate(in_rollout(tmp_path / "repo", "chat"), langfuse, "chat")

    assert code == 5 and decision["decision"] == "rollback", decision
    checks = {trigger["name"]: trigger for trigger in decision["triggers"]}
    assert checks["hallucinations"]["compared"] == pytest.approx(2.0)
    assert "(120 vs 60 samples)" in checks["hallucinations"]["detail"], "both pages of v2 were read"
    assert checks["grounded"]["outcome"] == "healthy" and checks["grounded"]["compared"] == pytest.approx(0.75)
    assert checks["thumbs"]["outcome"] == "healthy" and checks["thumbs"]["compared"] == pytest.approx(0.25)
    assert SECRET_KEY not in output and base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode() not in output


def test_it_asks_as_the_api_reference_says(langfuse: Langfuse) -> None:
    LangfuseSource(langfuse.url).observe(MetricQuery("chat", "v2", "hallucination_rate", 3600))
    assert [request["page"] for request in langfuse.requests] == [["1"], ["2"]]
    first = langfuse.requests[0]
    assert first["name"] == ["hallucination"] and first["limit"] == ["100"] and first["fields"] == ["score,trace"]
    assert first["traceTags"] == ["relc.release:chat", "relc.bundle.version:v2"]
    start, end = (datetime.fromisoformat(first[key][0].replace("Z", "+00:00")) for key in ("fromTimestamp", "toTimestamp"))
    assert (end - start).total_seconds() == pytest.approx(3600, abs=0.01)


def test_too_few_scored_traces_hold(langfuse: Langfuse, tmp_path: Path) -> None:
    code, decision, _ = evaluate(in_rollout(tmp_path / "repo", "few"), langfuse, "few")
    assert code == 3 and decision["decision"] == "hold", decision
    outcomes = {trigger["name"]: trigger["outcome"] for trigger in decision["triggers"]}
    assert outcomes == {"hallucinations": "insufficient", "grounded": "no_data", "thumbs": "no_data"}


def test_wrong_keys_hold_with_langfuse_reason_and_no_secret_printed(
    langfuse: Langfuse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-wrong-secret-9999")
    code, decision, output = evaluate(in_rollout(tmp_path / "repo", "chat"), langfuse, "chat")
    assert code == 3 and {trigger["outcome"] for trigger in decision["triggers"]} == {"error"}
    assert ("refused the request (HTTP 401): Invalid credentials. Confirm that you've configured the correct host.; "
            "check $LANGFUSE_PUBLIC_KEY and $LANGFUSE_SECRET_KEY") in decision["triggers"][0]["detail"]  # fmt: skip
    assert "sk-lf-wrong-secret-9999" not in output


def test_missing_keys_hold_and_say_which_variables(langfuse: Langfuse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGFUSE_SECRET_KEY")
    with pytest.raises(MetricError, match=r"set \$LANGFUSE_PUBLIC_KEY and \$LANGFUSE_SECRET_KEY"):
        LangfuseSource(langfuse.url).observe(MetricQuery("chat", "v2", "hallucination_rate", 3600))
    assert langfuse.requests == [], "nothing is sent without keys"


def test_scores_of_another_bundle_are_refused_not_blended(langfuse: Langfuse) -> None:
    langfuse.swap_versions = True
    with pytest.raises(MetricError, match="whose trace lacks the tags relc.release:chat, relc.bundle.version:v2: the "
                                          "server ignored the traceTags filter"):  # fmt: skip
        LangfuseSource(langfuse.url).observe(MetricQuery("chat", "v2", "hallucination_rate", 3600))


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("langfuse+ftp://cloud.langfuse.com", "write langfuse\\+https://HOST"),
        ("langfuse+https://pk:sk@cloud.langfuse.com", "no options, credentials or fragments"),
        ("langfuse+https://cloud.langfuse.com?project=x", "no options, credentials or fragments"),
    ],
)
def test_a_bad_address_is_refused_and_never_echoes_credentials(location: str, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        open_source(location)
    assert isinstance(open_source("langfuse+https://cloud.langfuse.com/"), LangfuseSource)


def test_a_langfuse_that_is_down_or_answers_nonsense_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import LocalServer, free_port

    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    query = MetricQuery("chat", "v2", "groundedness", 600)
    with pytest.raises(MetricError, match=r"cannot reach Langfuse at http://127\.0\.0\.1:\d+"):
        LangfuseSource(f"http://127.0.0.1:{free_port()}", timeout=5).observe(query)
    for body, message in [(b'{"data": []}', "without `meta.totalPages`"), (b"[]", "without a `data` list"),
                          (b'{"data": [{"dataType": "NUMERIC", "value": "high", "trace": {"tags": '
                           b'["relc.release:chat", "relc.bundle.version:v2"]}}], "meta": {"totalPages": 1}}',
                           "whose value is not a number")]:  # fmt: skip
        server = LocalServer(lambda method, request, body=body: (200, "application/json", body))
        try:
            with pytest.raises(MetricError, match=message):
                LangfuseSource(f"http://127.0.0.1:{server.port}", timeout=5).observe(query)
        finally:
            server.close()
