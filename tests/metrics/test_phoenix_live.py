"""A real Arize Phoenix server (SQLite, 127.0.0.1): spans tagged as the bundle manifest says,
sent over OTLP/HTTP as a serving app sends them, annotated through the REST API; then
`relc evaluate --metrics phoenix+http://...` decides from them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from compiler.metrics import MetricError, MetricQuery
from compiler.metrics.phoenix import PhoenixSource
from compiler.metrics.quality import span_attributes
from tests.conftest import REPO, run_relc
from tests.support import Repository, free_port, missing_tool, release_text, stop_process, wait_while_running

pytestmark = pytest.mark.live

PROJECT = "relc-live"


def phoenix_python() -> Path:
    """The Phoenix venv's interpreter; tests/phoenix/install makes it (scripts/test runs that)."""
    root = Path(os.environ.get("RELC_PHOENIX_VENV", REPO / ".venv-phoenix"))
    python = root / "bin" / "python"
    if not (root / "bin" / "phoenix").exists():
        missing_tool(f"the Phoenix server is not installed in {root}: run tests/phoenix/install")
    return python


class Phoenix:
    """`phoenix serve` on 127.0.0.1 with SQLite in a temporary folder, and nothing that calls out."""

    def __init__(self, work: Path) -> None:
        python = phoenix_python()
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.python = python
        environment = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("PHOENIX_", "OTEL_"))},
            "PHOENIX_WORKING_DIR": str(work),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            # No telemetry pixels, web fonts, sandbox downloads or anything else off this machine.
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",
            "DO_NOT_TRACK": "1",
        }
        self.log = open(work / "phoenix.log", "w")
        self.process = subprocess.Popen([str(python.parent / "phoenix"), "serve"], env=environment,
                                        stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_while_running(self.process, self.log, lambda: self._get("/healthz") is not None,
                           "Phoenix did not answer /healthz within 90 s", seconds=90, pause=0.25)  # fmt: skip

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, OSError):
            return None

    def send_spans(self, release: str, version: str, count: int, attributes: dict[str, str] | None = None) -> list[str]:
        """`count` spans tagged for the bundle, over OTLP/HTTP; their ids once Phoenix stored them."""
        request = {"endpoint": f"{self.url}/v1/traces", "project": PROJECT,
                   "spans": [{"attributes": attributes or span_attributes(release, version)}] * count}  # fmt: skip
        sent = subprocess.run([str(self.python), str(REPO / "tests" / "phoenix" / "emit_spans.py")],
                              input=json.dumps(request), capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        span_ids: list[str] = json.loads(sent.stdout)
        # Phoenix stores spans from a queue: wait until every one can be read back.
        source = PhoenixSource(self.url, PROJECT)

        def stored() -> bool:
            try:
                return set(span_ids) <= set(source.span_ids(release, version, 0, 4_102_444_800))
            except MetricError:
                return False  # the project is created with its first stored span: 404 until then

        wait_while_running(self.process, self.log, stored, f"Phoenix did not store the {count} spans of {release} "
                           f"{version}", seconds=30, pause=0.25)  # fmt: skip
        return span_ids

    def annotate(self, span_ids: list[str], name: str, labels: list[str | None], scores: list[float | None]) -> None:
        data = [{"span_id": span_id, "name": name, "annotator_kind": "LLM", "result": {"label": label, "score": score}}
                for span_id, label, score in zip(span_ids, labels, scores)]  # fmt: skip
        request = urllib.request.Request(f"{self.url}/v1/span_annotations?sync=true", data=json.dumps({"data": data}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    def stop(self) -> None:
        stop_process(self.process, self.log)


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    server = Phoenix(tmp_path_factory.mktemp("phoenix"))
    yield server
    server.stop()


def hallucinations(phoenix: Phoenix, release: str, version: str, judged: int, hallucinated: int, unjudged: int = 0,
                   attributes: dict[str, str] | None = None) -> None:  # fmt: skip
    """Spans for a bundle, `judged` of them annotated by a hallucination judge; some not judged at all."""
    span_ids = phoenix.send_spans(release, version, judged + unjudged, attributes)
    labels: list[str | None] = ["hallucinated"] * hallucinated + ["factual"] * (judged - hallucinated)
    phoenix.annotate(span_ids[:judged], "hallucination", labels, [None] * judged)


TRIGGERS = """triggers:
  - {name: hallucinations, metric: hallucination_rate, relative_to_stable: true, relative_mode: ratio, max: 1.5,
     window: 1h, min_samples: 40, action: rollback}
  - {name: grounded, metric: groundedness, min: 0.7, window: 1h, min_samples: 40, action: alert}
"""


def repository_in_rollout(root: Path, name: str) -> Repository:
    repository = Repository(root)
    repository.write(name, release_text(name, ["v1", "v2"], stable="v1") + TRIGGERS)
    repository.commit(f"Publish {name} v2")
    repository.write(name, release_text(name, ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)
    repository.commit(f"Start rollout of {name} v2")
    return repository


def evaluate(repository: Repository, phoenix: Phoenix, name: str) -> tuple[int, dict[str, Any]]:
    result = run_relc("evaluate", name, "--metrics", f"phoenix+{phoenix.url}?project={PROJECT}", "--format", "json",
                      cwd=repository.root)  # fmt: skip
    assert result.stderr == "" or "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def manifest_attributes(repository: Repository, name: str) -> dict[str, dict[str, str]]:
    """What the rendered bundle manifest tells a serving app to set, per bundle version."""
    manifest = json.loads((repository.root / "rendered" / "bundles" / f"{name}.json").read_text())
    return {bundle["version"]: bundle["telemetry"]["span_attributes"] for bundle in manifest["bundles"]}


def test_a_candidate_that_hallucinates_twice_as_often_as_stable_is_rolled_back(phoenix: Phoenix, tmp_path: Path) -> None:
    repository = repository_in_rollout(tmp_path / "repo", "chat")
    head = repository.head()
    # Tagged as the manifest says, as a serving app reading it would.
    tags = manifest_attributes(repository, "chat")
    assert tags["v2"] == {"relc.release": "chat", "relc.bundle.version": "v2"}
    hallucinations(phoenix, "chat", "v1", judged=50, hallucinated=5, unjudged=7, attributes=tags["v1"])
    hallucinations(phoenix, "chat", "v2", judged=50, hallucinated=10, unjudged=3, attributes=tags["v2"])
    grounded = phoenix.send_spans("chat", "v2", 40, tags["v2"])
    phoenix.annotate(grounded, "groundedness", [None] * 40, [0.9] * 20 + [0.7] * 20)

    code, decision = evaluate(repository, phoenix, "chat")

    assert code == 5 and decision["decision"] == "rollback", decision
    checks = {trigger["name"]: trigger for trigger in decision["triggers"]}
    assert checks["hallucinations"]["outcome"] == "breached"
    assert checks["hallucinations"]["compared"] == pytest.approx(2.0)
    # The unjudged spans are no samples: 50 judged of 57 and 53 sent.
    assert "is 0.2, 2x v1's (0.1) over 1h (50 vs 50 samples); max 1.5 -> breached" in checks["hallucinations"]["detail"]
    assert checks["grounded"]["outcome"] == "healthy" and checks["grounded"]["compared"] == pytest.approx(0.8)
    assert repository.head() == head, "a dry run commits nothing"


def test_too_few_judged_samples_hold(phoenix: Phoenix, tmp_path: Path) -> None:
    hallucinations(phoenix, "few", "v1", judged=10, hallucinated=1)
    hallucinations(phoenix, "few", "v2", judged=10, hallucinated=5, unjudged=40)
    repository = repository_in_rollout(tmp_path / "repo", "few")

    code, decision = evaluate(repository, phoenix, "few")

    assert code == 3 and decision["decision"] == "hold", decision
    outcomes = {trigger["name"]: trigger["outcome"] for trigger in decision["triggers"]}
    assert outcomes == {"hallucinations": "insufficient", "grounded": "no_data"}
    assert any("10 samples over 1h, fewer than min_samples 40" in reason for reason in decision["reasons"])


def test_the_source_reads_each_version_apart_and_a_version_that_looks_like_a_number(phoenix: Phoenix) -> None:
    hallucinations(phoenix, "numbers", "2", judged=4, hallucinated=1)
    hallucinations(phoenix, "numbers", "2.0", judged=2, hallucinated=2)
    source = PhoenixSource(phoenix.url, PROJECT)
    two = source.observe(MetricQuery("numbers", "2", "hallucination_rate", 3600))
    assert (two.value, two.samples, sorted(two.values)) == (0.25, 4, [0.0, 0.0, 0.0, 1.0])
    assert source.observe(MetricQuery("numbers", "3", "hallucination_rate", 3600)).samples == 0


def test_an_unknown_project_holds_with_a_clear_reason(phoenix: Phoenix, tmp_path: Path) -> None:
    repository = repository_in_rollout(tmp_path / "repo", "chat")
    result = run_relc("evaluate", "chat", "--metrics", f"phoenix+{phoenix.url}?project=no-such-project",
                      cwd=repository.root)  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "refused the request (HTTP 404): Project with name no-such-project not found" in result.stdout
    assert "check ?project=NAME" in result.stdout


def test_relc_yaml_names_a_teams_own_annotation_and_labels(phoenix: Phoenix, tmp_path: Path) -> None:
    for version, bad in (("v1", 3), ("v2", 9)):
        span_ids = phoenix.send_spans("own", version, 40)
        phoenix.annotate(span_ids, "judge_hallucination", ["YES"] * bad + ["no"] * (40 - bad), [None] * 40)
    repository = repository_in_rollout(tmp_path / "repo", "own")
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n"
        f"  - name: phoenix\n    url: 'phoenix+{phoenix.url}?project={PROJECT}'\n"
        "    annotations: {hallucination_rate: {name: judge_hallucination, bad_labels: ['yes']}}\n"
    )
    result = run_relc("evaluate", "own", "--format", "json", cwd=repository.root)
    decision = json.loads(result.stdout)
    assert result.returncode == 5, decision
    hallucinations = decision["triggers"][0]
    assert hallucinations["compared"] == pytest.approx(3.0) and "(40 vs 40 samples)" in hallucinations["detail"]
