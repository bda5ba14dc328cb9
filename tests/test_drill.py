"""`relc drill` on real repositories: the rehearsal works or says why not, and the
branch, the working tree and the branch list are exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_relc, snapshot
from tests.support import Repository, release_text, write_live_release


def _work_tree(repository: Repository) -> dict[str, bytes]:
    return {path: content for path, content in snapshot(repository.root).items() if not path.startswith(".git/")}


def _untouched(repository: Repository, run: callable) -> object:  # type: ignore[valid-type]
    head, files, branches = repository.head(), _work_tree(repository), repository.git("branch", "--list")
    result = run()
    assert repository.head() == head and _work_tree(repository) == files
    assert repository.git("branch", "--list") == branches and repository.git("status", "--porcelain") == ""
    assert len(repository.git("worktree", "list").splitlines()) == 1
    return result


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Publish chat v1")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Start rollout of chat v2 at 50%")
    return repository


def test_a_drill_that_passes_reports_traffic_warmth_and_the_real_validator(repository: Repository) -> None:
    result = _untouched(repository, lambda: run_relc("drill", "chat", "--format", "json", cwd=repository.root))
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert report["works"] and report["warm"] and report["problems"] == []
    assert report["served_before"] == {"v1": 50.0, "v2": 50.0} and report["served_after"] == {"v1": 100.0}
    assert report["commit"] == 'Revert "Start rollout of chat v2 at 50%"'
    assert [(g["gateway"], g["outcome"]) for g in report["gateways"]] == [("litellm", "ok")]
    assert [s["stage"] for s in report["stages"]] == ["plan", "commit and render", "validate litellm"]


@pytest.mark.live
def test_a_drill_validates_envoy_output_with_the_real_binary(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    write_live_release(repository.root, {"v1": 9001, "v2": 9002}, step=None, gateways=["envoy"])
    repository.commit("Publish live")
    write_live_release(repository.root, {"v1": 9001, "v2": 9002}, step=2, gateways=["envoy"])
    repository.commit("Start rollout of live")
    result = _untouched(repository, lambda: run_relc("drill", "live", cwd=repository.root))
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    assert "envoy:   ok: envoy --mode validate accepted the clusters and routes" in result.stdout  # type: ignore[attr-defined]


def test_a_drill_fails_on_a_conflicting_revert(repository: Repository) -> None:
    repository.write("chat", repository.read("chat").replace("  step: 2\n", "  step: 2\n  # Paused for the freeze.\n"))
    repository.commit("Note the freeze")
    result = _untouched(repository, lambda: run_relc("drill", "chat", "--format", "github", cwd=repository.root))
    assert result.returncode == 1  # type: ignore[attr-defined]
    assert "::error title=relc drill chat%3A the rollback would fail::reverting" in result.stdout  # type: ignore[attr-defined]
    assert "conflicts with a later change" in result.stdout  # type: ignore[attr-defined]


def test_a_drill_fails_without_a_known_good_revision(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v2", previous="v1"))
    repository.commit("Create chat just after a promotion")
    result = _untouched(repository, lambda: run_relc("drill", "chat", cwd=repository.root))
    assert result.returncode == 1  # type: ignore[attr-defined]
    assert "would FAIL" in result.stdout and "no known-good revision" in result.stdout  # type: ignore[attr-defined]


def test_a_drill_fails_when_the_known_good_prompt_file_is_gone(repository: Repository) -> None:
    (repository.root / "prompts" / "basic.j2").rename(repository.root / "prompts" / "kept.j2")
    text = repository.read("chat").replace("prompts/basic.j2", "prompts/kept.j2")
    repository.write("chat", text)
    repository.commit("Move the prompt")
    result = _untouched(repository, lambda: run_relc("drill", "chat", cwd=repository.root))
    assert result.returncode == 1  # type: ignore[attr-defined]
    assert "would FAIL" in result.stdout and "prompts/basic.j2" in result.stdout  # type: ignore[attr-defined]


def test_a_drill_checks_portkey_configs_against_portkeys_schema(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1"], stable="v1").replace("gateways: [litellm]", "gateways: [portkey]"))
    repository.commit("Publish chat v1")
    text = release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1)
    repository.write("chat", text.replace("gateways: [litellm]", "gateways: [portkey]"))
    repository.commit("Start rollout of chat v2")
    result = _untouched(repository, lambda: run_relc("drill", "chat", cwd=repository.root))
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    assert "portkey: ok: 1 config(s) fit Portkey's schema" in result.stdout  # type: ignore[attr-defined]


def test_a_bundle_manifest_linked_out_of_the_repository_is_refused_unread(repository: Repository) -> None:
    secret = repository.root.parent / "outside.json"
    secret.write_text(json.dumps({"bundles": [{"version": "hunter2-outside-value", "served_percent": 100}]}))
    manifest = repository.root / "rendered" / "bundles" / "chat.json"
    manifest.unlink()
    manifest.symlink_to(secret)
    result = run_relc("drill", "chat", cwd=repository.root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "rendered/bundles/chat.json resolves outside the repository through a symbolic link" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
