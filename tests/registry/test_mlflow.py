"""relc against a real MLflow tracking server: references resolved, drift detected, pins
recorded, and aliases that follow promote and rollback, also when the server is down."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from compiler.registry import RegistryReference, RegistryUnreachable, open_registry
from tests.conftest import run_relc
from tests.registry.mlflow_server import MlflowServer
from tests.registry.support import registry_release
from tests.support import Repository, free_port

pytestmark = pytest.mark.live


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_validate_resolves_references_and_reports_each_problem_at_its_line(mlflow: MlflowServer, tmp_path: Path) -> None:
    live, _ = mlflow.register("chat-a", "s3://models/chat-a/1", {"dvc.rev": "d1"})
    archived, _ = mlflow.register("chat-a", "s3://models/chat-a/2")
    deleted, _ = mlflow.register("chat-a", "s3://models/chat-a/3")
    mlflow.register("chat-a", "s3://models/chat-a/4")
    mlflow.archive("chat-a", archived)
    mlflow.delete_version("chat-a", deleted)
    pending, _ = mlflow.register("chat-a", "s3://models/chat-a/5")
    mlflow.set_in_database("chat-a", pending, "status", "PENDING_REGISTRATION")
    repository = Repository(tmp_path / "repo")
    refs = {"v1": ("chat-a", live), "v2": ("chat-a", archived), "v3": ("chat-a", deleted), "v4": ("chat-a", "99"),
            "v5": ("no-such-model", "1"), "v6": ("chat-a", pending)}  # fmt: skip
    text = registry_release("chat", refs, stable="v1")
    repository.write("chat", text)

    offline = run_relc("validate", cwd=repository.root)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "6 registry reference(s) not checked" in offline.stderr

    online = run_relc("validate", "--registry", mlflow.url, cwd=repository.root)
    assert online.returncode == 1
    found = {(int(line), code) for line, code in re.findall(r"chat\.yaml:(\d+):\d+: error (RELC8\d\d)", online.stdout)}
    assert found == {
        (line_of(text, f"version: {archived}}}", 1), "RELC803"),
        (line_of(text, f"version: {deleted}}}", 1), "RELC803"),
        (line_of(text, "version: 99}"), "RELC802"),
        (line_of(text, "name: no-such-model"), "RELC802"),
        (line_of(text, f"version: {pending}}}", 1), "RELC806"),
    }, online.stdout
    assert "archived" in online.stdout and "was deleted" in online.stdout
    assert "not checked" not in online.stderr


def test_pin_records_the_digest_and_a_version_changed_in_place_is_drift(mlflow: MlflowServer, tmp_path: Path) -> None:
    first, _ = mlflow.register("chat-b", "s3://models/chat-b/1", {"dvc.data.rev": "d-1", "team": "ml"})
    second, second_run = mlflow.register("chat-b", "s3://models/chat-b/2", {"mlflow.source.git.commit": "c0ffee", "lakefs.ref": "main@a1"})
    repository = Repository(tmp_path / "repo")
    repository.write("chat", "# reviewed by the ML team\n" + registry_release("chat", {"v1": ("chat-b", first), "v2": ("chat-b", second)}, stable="v1"))
    release = repository.root / "releases" / "chat.yaml"

    unpinned = run_relc("pin", "chat", cwd=repository.root)
    assert unpinned.returncode == 0 and "2 registry reference(s) not pinned" in unpinned.stderr
    pinned = run_relc("pin", "chat", "--registry", mlflow.url, cwd=repository.root)
    assert pinned.returncode == 0, pinned.stderr
    text = release.read_text()
    assert text.startswith("# reviewed by the ML team\n") and len(re.findall(r"registry_digest: \"?sha256:", text)) == 2
    assert run_relc("validate", "--registry", mlflow.url, cwd=repository.root).returncode == 0
    again = run_relc("pin", "chat", "--registry", mlflow.url, cwd=repository.root)
    assert "every pin is current" in again.stderr and release.read_text() == text

    # The lineage is in the file, so the bundle manifest and relc status carry it without a registry.
    assert run_relc("build", cwd=repository.root).returncode == 0
    manifest = json.loads((repository.root / "rendered" / "bundles" / "chat.json").read_text())
    assert manifest["bundles"][0]["model"]["registry_lineage"]["tags"] == {"dvc.data.rev": "d-1"}
    status = run_relc("status", "chat", cwd=repository.root)
    assert f"lineage:  v1 (stable): mlflow model `chat-b` version {first}" in status.stdout, status.stdout
    assert "dvc.data.rev = d-1" in status.stdout and "s3://models/chat-b/1" in status.stdout
    records = json.loads(run_relc("status", "chat", "--format", "json", cwd=repository.root).stdout)
    assert records[0]["lineage"][0]["lineage"]["source"] == "s3://models/chat-b/1"

    # A data tag changed on version 1: its lineage drifted.
    mlflow.call("POST", "model-versions/set-tag", {"name": "chat-b", "version": first, "key": "dvc.data.rev", "value": "d-2"})
    tag_drift = run_relc("validate", "--registry", mlflow.url, cwd=repository.root)
    assert re.findall(r"chat\.yaml:(\d+):\d+: error RELC804", tag_drift.stdout) == [str(line_of(text, "registry_lineage", 1))]
    mlflow.call("POST", "model-versions/set-tag", {"name": "chat-b", "version": first, "key": "dvc.data.rev", "value": "d-1"})

    # Version 2 changed behind the API's back: its artifacts now come from elsewhere.
    mlflow.set_in_database("chat-b", second, "source", "s3://models/elsewhere")
    drift = run_relc("validate", "--registry", mlflow.url, cwd=repository.root)
    assert drift.returncode == 1
    assert re.findall(r"chat\.yaml:(\d+):\d+: error RELC804", drift.stdout) == [str(line_of(text, "registry_digest", 2))]
    assert "s3://models/elsewhere" in drift.stdout


def test_a_model_deleted_and_registered_again_is_drift(mlflow: MlflowServer, tmp_path: Path) -> None:
    """The way to change a version in place through MLflow's API: numbers restart at 1."""
    version, _ = mlflow.register("chat-c", "s3://models/chat-c/original")
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", {"v1": ("chat-c", version)}, stable="v1"))
    assert run_relc("pin", "chat", "--registry", mlflow.url, cwd=repository.root).returncode == 0
    mlflow.call("DELETE", "registered-models/delete", {"name": "chat-c"})
    again, _ = mlflow.register("chat-c", "s3://models/chat-c/retrained")
    assert again == version
    drift = run_relc("validate", "--registry", mlflow.url, cwd=repository.root)
    assert drift.returncode == 1 and "RELC804" in drift.stdout and "registry drift" in drift.stdout


def test_pin_refuses_a_version_the_registry_cannot_serve(mlflow: MlflowServer, tmp_path: Path) -> None:
    version, _ = mlflow.register("chat-d", "s3://models/chat-d/1")
    mlflow.archive("chat-d", version)
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", {"v1": ("chat-d", version)}, stable="v1"))
    before = (repository.root / "releases" / "chat.yaml").read_text()
    result = run_relc("pin", "chat", "--registry", mlflow.url, cwd=repository.root)
    assert result.returncode == 1 and "archived" in result.stderr and "RELC803" in result.stderr
    assert (repository.root / "releases" / "chat.yaml").read_text() == before


def test_promote_and_rollback_move_the_aliases_and_tag_the_commit(mlflow: MlflowServer, tmp_path: Path) -> None:
    v1, _ = mlflow.register("chat-e", "s3://models/chat-e/1")
    v2, _ = mlflow.register("chat-e", "s3://models/chat-e/2")
    refs = {"v1": ("chat-e", v1), "v2": ("chat-e", v2)}
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", refs, stable="v1"))
    repository.commit("Publish chat v2")
    repository.write("chat", registry_release("chat", refs, stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")

    assert run_relc("sync-registry", "chat", "--registry", mlflow.url, cwd=repository.root).returncode == 0
    assert mlflow.aliases("chat-e") == {"champion": v1, "challenger": v2}

    for _ in range(5):  # one step at a time, until the candidate is stable
        promoted = run_relc("promote", "chat", "--force", "--sync-registry", "--registry", mlflow.url, cwd=repository.root)
        assert promoted.returncode == 0, promoted.stderr
        if "candidate" not in repository.read("chat"):
            break
    assert "stable: v2" in repository.read("chat")
    assert mlflow.aliases("chat-e") == {"champion": v2, "previous": v1}
    tags = {t["key"]: t["value"] for t in mlflow.version("chat-e", v2)["tags"]}
    assert tags["relc.commit"] == repository.head() and tags["relc.release"] == "chat" and tags["relc.alias"] == "champion"

    rolled = run_relc("rollback", "chat", "--reason", "quality", "--sync-registry", "--registry", mlflow.url,
                      cwd=repository.root)  # fmt: skip
    assert rolled.returncode == 0, rolled.stderr
    assert "stable: v1" in repository.read("chat") and "candidate" not in repository.read("chat")
    assert mlflow.aliases("chat-e") == {"champion": v1}
    assert {t["key"]: t["value"] for t in mlflow.version("chat-e", v1)["tags"]}["relc.commit"] == repository.head()


def test_the_scheduled_evaluate_rollback_moves_the_aliases_too(mlflow: MlflowServer, tmp_path: Path) -> None:
    """The cron path (`relc evaluate --apply`) keeps the registry in step like rollback does."""
    import json

    v1, _ = mlflow.register("chat-s", "s3://models/chat-s/1")
    v2, _ = mlflow.register("chat-s", "s3://models/chat-s/2")
    refs = {"v1": ("chat-s", v1), "v2": ("chat-s", v2)}
    triggers = "triggers:\n  - {name: errors, metric: error_rate, max: 0.05, window: 10m, min_samples: 100, action: rollback}\n"
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", refs, stable="v1") + triggers)
    repository.commit("Publish chat v2")
    repository.write("chat", registry_release("chat", refs, stable="v1", candidate="v2", step=1) + triggers)
    repository.commit("Start rollout of chat v2")
    assert run_relc("sync-registry", "chat", "--registry", mlflow.url, cwd=repository.root).returncode == 0
    assert mlflow.aliases("chat-s") == {"champion": v1, "challenger": v2}
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"metrics": [{"release": "chat", "version": "v2", "metric": "error_rate",
                                                "value": 0.4, "samples": 500}]}))  # fmt: skip
    decided = run_relc("evaluate", "chat", "--metrics", str(metrics), "--apply", "--sync-registry", "--registry",
                       mlflow.url, cwd=repository.root)  # fmt: skip
    assert decided.returncode == 5, decided.stdout + decided.stderr
    assert "candidate" not in repository.read("chat")
    assert mlflow.aliases("chat-s") == {"champion": v1}, "the rolled-back candidate is still the challenger"


def test_a_registry_that_is_down_never_blocks_a_rollback(tmp_path: Path, mlflow: MlflowServer) -> None:
    """The registry the team uses goes down before the rollback: the commit and the
    re-render happen, the failure is reported (without the token), and sync-registry
    catches up once the registry is back."""
    import os
    import subprocess
    import sys

    from tests.registry.mlflow_server import mlflow_binary

    v1, _ = mlflow.register("chat-f", "s3://models/chat-f/1")
    v2, _ = mlflow.register("chat-f", "s3://models/chat-f/2")
    refs = {"v1": ("chat-f", v1), "v2": ("chat-f", v2)}
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", refs, stable="v1"))
    repository.commit("Publish chat v2")
    repository.write("chat", registry_release("chat", refs, stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    registry = MlflowServer(str(mlflow_binary()), mlflow.work)  # the team's registry: its own server, same database
    registry.start()
    try:
        assert run_relc("sync-registry", "chat", "--registry", registry.url, cwd=repository.root).returncode == 0
        assert mlflow.aliases("chat-f") == {"champion": v1, "challenger": v2}
        registry.stop()
        before = repository.head()

        environment = {**os.environ, "MLFLOW_TRACKING_TOKEN": "mlflow-secret-token-123"}
        rolled = subprocess.run([sys.executable, "-m", "compiler", "rollback", "chat", "--sync-registry",
                                 "--registry", registry.url, "--format", "json"], cwd=repository.root,
                                capture_output=True, text=True, timeout=120, env=environment)  # fmt: skip
        assert rolled.returncode == 0, rolled.stderr
        assert repository.head() != before and "candidate" not in repository.read("chat")
        manifest = json.loads((repository.root / "rendered" / "bundles" / "chat.json").read_text())
        assert [b["version"] for b in manifest["bundles"] if b["served_percent"] > 0] == ["v1"]
        assert "the commit stands, but the registry was not synced" in rolled.stderr and "did not answer" in rolled.stderr
        assert "relc sync-registry chat" in rolled.stderr
        assert "mlflow-secret-token-123" not in rolled.stderr + rolled.stdout
        assert "Traceback" not in rolled.stderr
        assert json.loads(rolled.stdout)["commit"] == repository.head()
        assert mlflow.aliases("chat-f") == {"champion": v1, "challenger": v2}  # untouched while down
        assert run_relc("sync-registry", "chat", "--registry", registry.url, cwd=repository.root).returncode == 1

        registry.start()  # back up
        assert run_relc("sync-registry", "chat", "--registry", registry.url, cwd=repository.root).returncode == 0
        assert mlflow.aliases("chat-f") == {"champion": v1}
    finally:
        registry.stop()


def test_the_client_reads_facts_and_lineage_and_an_unreachable_registry_is_a_clear_error(mlflow: MlflowServer) -> None:
    version, run_id = mlflow.register("chat-g", "s3://models/chat-g/1", {
        "dvc.data.rev": "a1b2", "lakefs.ref": "main@c0ffee", "mlflow.source.git.commit": "deadbeef", "owner": "ml",
    })  # fmt: skip
    facts = open_registry(mlflow.url).resolve(RegistryReference("mlflow", "chat-g", version))
    assert facts.exists and facts.ready and not facts.archived and facts.run_id == run_id
    assert facts.lineage() == {"run_id": run_id, "source": "s3://models/chat-g/1", "tags": {
        "dvc.data.rev": "a1b2", "lakefs.ref": "main@c0ffee", "mlflow.source.git.commit": "deadbeef"}}
    with pytest.raises(RegistryUnreachable, match="did not answer"):
        open_registry(f"http://user:pa55word@127.0.0.1:{free_port()}").resolve(RegistryReference("mlflow", "chat-g", "1"))
    try:
        open_registry(f"http://user:pa55word@127.0.0.1:{free_port()}").resolve(RegistryReference("mlflow", "x", "1"))
    except RegistryUnreachable as error:
        assert "pa55word" not in str(error) and "user" not in str(error)


def test_watch_rolls_back_while_the_registry_is_down_and_syncs_when_it_is_back(mlflow: MlflowServer, tmp_path: Path) -> None:
    """The watcher flips and pushes the rollback at once; the registry sync fails, is counted
    in /metrics, and succeeds on a later tick once a server answers at the registry's address."""
    import urllib.request

    from tests.registry.mlflow_server import mlflow_binary
    from tests.test_watch import TRIGGERS, Remote, Watch, served, snapshot, wait_until

    v1, _ = mlflow.register("chat-w", "s3://models/chat-w/1")
    v2, _ = mlflow.register("chat-w", "s3://models/chat-w/2")
    refs = {"v1": ("chat-w", v1), "v2": ("chat-w", v2)}
    remote = Remote(tmp_path)
    remote.publish("Publish chat v2", registry_release("chat", refs, stable="v1") + TRIGGERS)
    remote.publish("Start rollout of chat v2", registry_release("chat", refs, stable="v1", candidate="v2", step=1) + TRIGGERS)
    clone, deploy = remote.clone("gateway"), tmp_path / "deploy"
    registry_port, health_port = free_port(), free_port()
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", snapshot(tmp_path, 0.3), "--interval", "1",
                  "--sync-registry", "--registry", f"http://127.0.0.1:{registry_port}",
                  "--listen", f"127.0.0.1:{health_port}")  # fmt: skip
    second = MlflowServer(str(mlflow_binary()), mlflow.work, port=registry_port)  # the same database, later
    try:
        wait_until(lambda: bool(watch.events("registry_sync_failed")), "the sync did not fail while the registry was down", 60)
        assert served(deploy) == {"v1": 100.0}
        assert remote.log()[0] == 'Revert "Start rollout of chat v2"'
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert re.search(r"^relc_watch_registry_sync_failures_total [1-9]", metrics, re.MULTILINE), metrics
        assert "relc_watch_registry_sync_pending 1.0" in metrics
        second.start()
        wait_until(lambda: bool(watch.events("registry_synced")), "the sync was not retried once the registry was back", 60)
        assert mlflow.aliases("chat-w") == {"champion": v1}
        tags = {t["key"]: t["value"] for t in mlflow.version("chat-w", v1)["tags"]}
        assert tags["relc.commit"] == watch.events("registry_synced")[0]["commit"]
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=5) as response:
            assert "relc_watch_registry_sync_pending 0.0" in response.read().decode()
        events = [e["event"] for e in watch.events() if e["event"] in ("rollback", "pushed", "registry_sync_failed")]
        assert events[:3] == ["rollback", "pushed", "registry_sync_failed"]
    finally:
        watch.stop()
        second.stop()
