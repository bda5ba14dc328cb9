"""`relc evaluate` from the command line, on snapshot files and real repositories:
dry run, --apply as commits, alerts to a webhook on 127.0.0.1, formats, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import run_relc
from tests.support import Repository, Webhook

@pytest.fixture
def repository(chat_in_rollout: Repository) -> Repository:
    return chat_in_rollout


def _snapshot(folder: Path, errors: float, thumbs: float, samples: int = 500) -> str:
    path = folder / "metrics.json"
    path.write_text(json.dumps({"metrics": [
        {"release": "chat", "version": "v2", "metric": "error_rate", "value": errors, "samples": samples},
        {"release": "chat", "version": "v2", "metric": "thumbs_down_rate", "value": thumbs, "samples": samples},
    ]}))  # fmt: skip
    return str(path)


def test_without_apply_it_says_what_it_would_do_and_changes_nothing(repository: Repository, tmp_path: Path) -> None:
    head = repository.head()
    result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.2, 0.0), cwd=repository.root)
    assert result.returncode == 5
    assert "chat: rollback (v2 against v1" in result.stdout
    assert "[breached] errors: error_rate of v2 is 0.2 over 10m (500 samples); max 0.05 -> breached" in result.stdout
    assert "dry run: --apply would commit `relc rollback chat`" in result.stderr
    assert repository.head() == head


def test_apply_promotes_a_healthy_candidate_as_a_commit(repository: Repository, tmp_path: Path) -> None:
    result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.01, 0.02), "--apply", cwd=repository.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert repository.git("log", "-1", "--format=%s") == "Promote chat: v2 to step 2 of 2 (canary 50%)"


def test_too_few_samples_hold_with_exit_3(repository: Repository, tmp_path: Path) -> None:
    result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.0, 0.0, samples=10), "--format", "json",
                      cwd=repository.root)  # fmt: skip
    assert result.returncode == 3
    decision = json.loads(result.stdout)
    assert decision["decision"] == "hold"
    assert {t["outcome"] for t in decision["triggers"]} == {"insufficient"}


def test_the_hold_timed_from_one_walk_for_all_releases_decides_the_same(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`relc watch` reads where every step began at once (`steps_began`, remembered by
    commit) instead of one walk of history per release a tick: before the hold ends and
    after, the decision is the one a lone `relc evaluate` makes."""
    from compiler import history
    from compiler.cache import ReleaseCache
    from compiler.evaluate import evaluate
    from compiler.metrics.snapshot import SnapshotSource

    source = SnapshotSource.from_file(_snapshot(tmp_path, 0.01, 0.02))
    began = history.step_began(repository.root, "HEAD", "chat")
    assert began is not None and began.subject == "Start rollout of chat v2"
    moments = (began.timestamp + 60, began.timestamp + 2 * 3600)  # within the 1h hold, and after
    alone = [evaluate(repository.root, "chat", source, now=moment) for moment in moments]
    assert [decision.action for decision in alone] == ["hold", "promote"]
    assert "the step's hold ends at" in alone[0].reasons[-1]

    known = history.steps_began(repository.root, "HEAD", ["chat"], ReleaseCache(tmp_path / "cache", "salt"))

    def refuse(*arguments: object) -> None:
        raise AssertionError("a release's history was walked again")

    monkeypatch.setattr(history, "step_began", refuse)
    assert [evaluate(repository.root, "chat", source, now=moment, began=known) for moment in moments] == alone


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def test_an_alert_is_posted_to_the_webhook_and_the_url_never_printed(
    repository: Repository, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELC_ALERT_WEBHOOK_URL", webhook.url)
    head = repository.head()
    result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.0, 0.3), "--apply", "--format", "github",
                      cwd=repository.root)  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr
    assert "::warning title=relc evaluate chat%3A alert::" in result.stdout  # a property escapes its colon
    assert len(webhook.bodies) == 1
    text = webhook.bodies[0]["text"]
    assert "*relc: chat* needs a decision" in text and "thumbs_down_rate of v2 is 0.3" in text
    assert "secret-token" not in result.stdout + result.stderr
    assert repository.head() == head, "an alert commits nothing"


def test_a_scheduled_alert_is_posted_once_per_incident(
    repository: Repository, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cron path runs evaluate every ten minutes: the same incident is posted once; it
    is posted again only after the release left alert, or when another trigger breaches."""
    monkeypatch.setenv("RELC_ALERT_WEBHOOK_URL", webhook.url)
    state = tmp_path / "state" / "alerts.json"

    def evaluate(errors: float, thumbs: float) -> str:
        result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, errors, thumbs), "--apply",
                          "--alert-state", str(state), cwd=repository.root)  # fmt: skip
        assert "Traceback" not in result.stderr
        return result.stderr

    assert "alert posted" in evaluate(0.0, 0.3)
    repeated = evaluate(0.0, 0.3)
    assert "alert not posted again: this incident was posted at" in repeated and str(state) in repeated
    assert len(webhook.bodies) == 1
    evaluate(0.0, 0.0)  # healthy (and promoted): the incident is over
    assert json.loads(state.read_text()) == {"incidents": {}}
    evaluate(0.0, 0.3)
    assert len(webhook.bodies) == 2, "a new incident after the release recovered was not posted"
    state.write_text("{not json")  # a lost or damaged record costs one repeated post, never a failure
    assert "alert posted" in evaluate(0.0, 0.3) and len(webhook.bodies) == 3


def test_alert_incidents_are_kept_inside_git_by_default(
    repository: Repository, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELC_ALERT_WEBHOOK_URL", webhook.url)
    for _ in range(2):
        run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.0, 0.3), "--apply", cwd=repository.root)
    assert len(webhook.bodies) == 1
    assert "chat" in (repository.root / ".git" / "relc-alerts.json").read_text()
    assert repository.git("status", "--porcelain") == "", "the record is not in the tree"


def test_an_alert_without_a_webhook_is_an_error(repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELC_ALERT_WEBHOOK_URL", raising=False)
    result = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.0, 0.3), "--apply", cwd=repository.root)
    assert result.returncode == 1 and "$RELC_ALERT_WEBHOOK_URL" in result.stderr and "nothing was sent" in result.stderr


def test_an_unusable_metrics_source_is_an_error_not_a_decision(repository: Repository, tmp_path: Path) -> None:
    result = run_relc("evaluate", "chat", "--metrics", str(tmp_path / "nowhere.json"), cwd=repository.root)
    assert result.returncode == 1 and "cannot read metrics file" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_asks_the_source_by_the_public_model_name(repository: Repository) -> None:
    from compiler.evaluate import evaluate
    from compiler.metrics import NO_DATA, MetricQuery, Observation

    class RecordingSource:
        description = "recording"

        def __init__(self) -> None:
            self.queries: list[MetricQuery] = []

        def observe(self, query: MetricQuery) -> Observation:
            self.queries.append(query)
            return NO_DATA

    repository.write("chat", repository.read("chat").replace("  model: chat\n", "  model: assistant\n"))
    repository.commit("Clients call chat `assistant`")
    source = RecordingSource()
    evaluate(repository.root, "chat", source)
    assert source.queries and {q.public_model for q in source.queries} == {"assistant"}
    assert {q.release for q in source.queries} == {"chat"}


def test_history_tells_who_did_what_when_why_and_on_which_evidence(repository: Repository, tmp_path: Path) -> None:
    promoted = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.01, 0.02), "--apply", cwd=repository.root)
    assert promoted.returncode == 0, promoted.stderr
    rolled_back = run_relc("evaluate", "chat", "--metrics", _snapshot(tmp_path, 0.3, 0.02), "--apply", cwd=repository.root)
    assert rolled_back.returncode == 5, rolled_back.stderr
    result = run_relc("history", "releases/chat.yaml", "--format", "json", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["action"] for e in entries] == ["rollback", "promote", "change", "change"]
    rollback, promote = entries[0], entries[1]
    assert rollback["trigger"] == "errors" and rollback["reason"].startswith("relc evaluate: errors: error_rate of v2 is 0.3")
    assert any(item.startswith("[breached] errors: error_rate of v2 is 0.3") for item in rollback["evidence"])
    assert any(item.startswith("[healthy] errors: error_rate of v2 is 0.01") for item in promote["evidence"])
    assert promote["author"] == "Release Bot <bot@example.com>" and promote["step"] == 2
    text = run_relc("history", "chat", cwd=repository.root).stdout
    assert "rollback Release Bot <bot@example.com>" in text and "evidence: [breached] errors" in text
