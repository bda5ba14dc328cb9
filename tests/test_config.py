"""relc.yaml: metric sources named once for the repository. A trigger nothing feeds is a
validation error at its line; evaluate reads every source in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CHAT_TRIGGERS, run_relc
from tests.support import Repository

@pytest.fixture
def repository(chat_in_rollout: Repository) -> Repository:
    return chat_in_rollout


def snapshot(folder: Path, name: str, rows: list[tuple[str, float]]) -> str:
    path = folder / name
    path.write_text(json.dumps({"metrics": [
        {"release": "chat", "version": "v2", "metric": metric, "value": value, "samples": 500} for metric, value in rows
    ]}))  # fmt: skip
    return name


def test_a_trigger_no_configured_source_answers_is_reported_at_its_line(repository: Repository) -> None:
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: prometheus, url: 'http://127.0.0.1:9', queries: {litellm: litellm}}\n"
    )
    result = run_relc("validate", cwd=repository.root)
    line = repository.read("chat").splitlines().index(CHAT_TRIGGERS.splitlines()[2]) + 1
    assert result.returncode == 1
    column = CHAT_TRIGGERS.splitlines()[2].index("thumbs_down_rate") + 1
    assert result.stdout.startswith(f"releases/chat.yaml:{line}:{column}: error RELC213: no metric source in relc.yaml "
                                    "answers `thumbs_down_rate` for gateways litellm")  # fmt: skip
    assert "error_rate" not in result.stdout, "the litellm queries answer error_rate"


def test_without_relc_yaml_nothing_is_checked_against_sources(repository: Repository) -> None:
    assert run_relc("validate", cwd=repository.root).returncode == 0


def test_a_bad_relc_yaml_is_reported_with_file_line_col(repository: Repository) -> None:
    (repository.root / "relc.yaml").write_text("apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: q, file: m.json}\n")
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 1
    assert "relc.yaml:4:5: error RELC106: metrics[0]: a snapshot file must list the `metrics` it answers" in result.stdout


def test_evaluate_reads_every_configured_source_in_one_run(repository: Repository) -> None:
    operational = snapshot(repository.root, "ops.json", [("error_rate", 0.01)])
    quality = snapshot(repository.root, "quality.json", [("thumbs_down_rate", 0.4)])
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n"
        f"  - {{name: ops, file: {operational}, metrics: [error_rate]}}\n"
        f"  - {{name: quality, file: {quality}, metrics: [thumbs_down_rate]}}\n"
    )
    result = run_relc("evaluate", "chat", "--format", "json", cwd=repository.root)
    assert result.returncode == 4, result.stdout + result.stderr  # alert: the quality source fed the thumbs trigger
    outcomes = {t["name"]: t["outcome"] for t in json.loads(result.stdout)["triggers"]}
    assert outcomes == {"errors": "healthy", "thumbs": "breached"}


def test_several_metrics_options_are_all_read(repository: Repository) -> None:
    operational = snapshot(repository.root, "ops.json", [("error_rate", 0.3)])
    quality = snapshot(repository.root, "quality.json", [("thumbs_down_rate", 0.0)])
    result = run_relc("evaluate", "chat", "--metrics", operational, "--metrics", quality, "--format", "json",
                      cwd=repository.root)  # fmt: skip
    assert result.returncode == 5
    outcomes = {t["name"]: t["outcome"] for t in json.loads(result.stdout)["triggers"]}
    assert outcomes == {"errors": "breached", "thumbs": "healthy"}, "a second --metrics no longer replaces the first"


def test_evaluate_without_any_source_says_where_to_name_one(repository: Repository) -> None:
    result = run_relc("evaluate", "chat", cwd=repository.root)
    assert result.returncode == 2 and "--metrics SOURCE, or metric sources in relc.yaml" in result.stderr


def test_the_committed_config_schema_is_generated_from_the_models() -> None:
    from compiler.schema import CONFIG_SCHEMA_PATH
    from compiler.schema import config_schema_text
    from tests.conftest import REPO

    assert (REPO / CONFIG_SCHEMA_PATH).read_text() == config_schema_text(), "run `relc schema` and commit it"


def test_evaluate_warns_of_snapshot_rows_that_match_no_bundle(repository: Repository) -> None:
    metrics = snapshot(repository.root, "ops.json", [("error_rate", 0.01)])
    path = repository.root / metrics
    rows = json.loads(path.read_text())
    rows["metrics"].append({"release": "chat", "version": "v9", "metric": "error_rate", "value": 0.5, "samples": 500})
    path.write_text(json.dumps(rows))
    result = run_relc("evaluate", "chat", "--metrics", metrics, cwd=repository.root)
    assert "relc: warning: snapshot ops.json: release `chat` has no bundle `v9`" in result.stderr


def test_a_quality_monitor_in_relc_yaml_feeds_the_quality_triggers(repository: Repository) -> None:
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n"
        "  - {name: prometheus, url: 'http://127.0.0.1:9', queries: {litellm: litellm}}\n"
        "  - {name: phoenix, url: 'phoenix+http://127.0.0.1:9?project=chat'}\n"
    )
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 0, result.stdout + result.stderr  # thumbs_down_rate is Phoenix's, error_rate LiteLLM's
    decision = run_relc("evaluate", "chat", "--format", "json", cwd=repository.root)
    assert decision.returncode == 3, "both sources are down: hold"
    details = [trigger["detail"] for trigger in json.loads(decision.stdout)["triggers"]]
    assert "cannot reach Prometheus" in details[0] and "cannot reach Phoenix at http://127.0.0.1:9 (project chat)" in details[1]


def test_queries_do_not_apply_to_a_quality_monitor(repository: Repository) -> None:
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: phoenix, url: 'phoenix+http://127.0.0.1:9', queries: envoy}\n"
    )
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 1
    assert "relc.yaml:4:5: error RELC106: metrics[0]: `queries` apply to a Prometheus `url`, not to a quality monitor" in result.stdout


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{name: p, url: 'http://127.0.0.1:9', annotations: {eval_score: {name: judge}}}",
         "`annotations` apply to a quality monitor"),
        ("{name: p, url: 'phoenix+http://127.0.0.1:9', annotations: {error_rate: {name: judge}}}",
         "`annotations.error_rate`: a monitor answers only the quality metrics"),
        ("{name: p, url: 'phoenix+http://127.0.0.1:9', annotations: {groundedness: {name: g, bad_labels: [low]}}}",
         "`annotations.groundedness.bad_labels`: groundedness is a mean score, it has no bad labels"),
    ],
)
def test_annotation_names_are_checked(repository: Repository, source: str, message: str) -> None:
    (repository.root / "relc.yaml").write_text(f"apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {source}\n")
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 1
    assert f"relc.yaml:4:5: error RELC106: metrics[0]: {message}" in result.stdout, result.stdout


SECRET = "hunter2-outside-value"


def _outside_secret(repository: Repository, name: str, text: str = f"{SECRET}\n") -> Path:
    secret = repository.root.parent / "outside" / name
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(text)
    return secret


def test_a_relc_yaml_linked_out_of_the_repository_is_refused_unread(repository: Repository) -> None:
    (repository.root / "relc.yaml").symlink_to(_outside_secret(repository, "relc.yaml"))
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 1
    assert result.stdout.startswith("relc.yaml:1:1: error RELC001: the file resolves outside the repository through a symbolic link")
    assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_relc_yaml_linked_inside_the_repository_is_read(repository: Repository) -> None:
    (repository.root / "config").mkdir()
    (repository.root / "config" / "relc.yaml").write_text("apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: q, file: m.json}\n")
    (repository.root / "relc.yaml").symlink_to("config/relc.yaml")
    result = run_relc("validate", cwd=repository.root)
    assert "relc.yaml:4:5: error RELC106: metrics[0]: a snapshot file must list the `metrics` it answers" in result.stdout


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{name: q, file: /etc/passwd, metrics: [error_rate]}", "`file`: path `/etc/passwd` is absolute"),
        ("{name: q, file: ../outside/m.json, metrics: [error_rate]}", "`file`: path `../outside/m.json` leaves its folder"),
        ("{name: p, url: 'http://127.0.0.1:9', queries: {envoy: ../q.yaml}}", "`queries.envoy`: path `../q.yaml` leaves its folder"),
    ],
)
def test_files_relc_yaml_names_must_be_in_the_repository(repository: Repository, source: str, message: str) -> None:
    (repository.root / "relc.yaml").write_text(f"apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {source}\n")
    result = run_relc("validate", cwd=repository.root)
    assert result.returncode == 1
    assert f"relc.yaml:4:5: error RELC106: metrics[0]: {message}" in result.stdout, result.stdout


def test_a_snapshot_file_relc_yaml_names_is_not_read_through_a_link_out(repository: Repository) -> None:
    secret = _outside_secret(repository, "m.json", '{"metrics": [{"release": "' + SECRET + '"}]}')
    (repository.root / "m.json").symlink_to(secret)
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: ops, file: m.json, metrics: [error_rate, thumbs_down_rate]}\n"
    )
    result = run_relc("evaluate", "chat", cwd=repository.root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot read metrics file m.json: it resolves outside the repository through a symbolic link" in result.stderr
    assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_query_file_relc_yaml_names_is_not_read_through_a_link_out(repository: Repository) -> None:
    secret = _outside_secret(repository, "q.yaml", f"{SECRET}: {{value: up, samples: up}}\n")
    (repository.root / "q.yaml").symlink_to(secret)
    (repository.root / "relc.yaml").write_text(
        "apiVersion: relc/v1\nkind: Config\nmetrics:\n  - {name: p, url: 'http://127.0.0.1:9', queries: q.yaml, "
        "metrics: [error_rate, thumbs_down_rate]}\n"
    )
    result = run_relc("evaluate", "chat", cwd=repository.root)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot read query file q.yaml: the file resolves outside the repository" in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
