"""Rollback and promote as commits, on real repositories in temporary folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_relc, snapshot
from tests.support import Repository, release_text


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    """v1 stable; then v2 added as candidate at step 1; then promoted to step 2."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Publish chat v1")
    (repository.root / "NOTES.md").write_text("v2 rollout notes\n")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Promote chat v2 to 50%")
    return repository


def _unchanged(repository: Repository, action: callable) -> None:  # type: ignore[valid-type]
    def state() -> dict[str, bytes]:
        """The repository's files; relc's own cache (where steps began, remembered) aside."""
        return {path: content for path, content in snapshot(repository.root).items() if not path.startswith(".git/relc-cache/")}

    head, files = repository.head(), state()
    action()
    assert repository.head() == head, "a commit was made"
    assert state() == files, "files were written"
    assert not (repository.root / ".git" / "REVERT_HEAD").exists()
    assert not (repository.root / ".git" / "relc.lock").exists()


def test_rollback_commits_the_revert_with_rendered_in_the_same_commit(repository: Repository) -> None:
    started, promoted = repository.git("rev-parse", "HEAD~1"), repository.head()
    result = run_relc("rollback", "chat", "--reason", "p95 latency doubled", "--trigger", "p95-latency", cwd=repository.root)
    assert result.returncode == 0, result.stdout + result.stderr
    message = repository.git("log", "-1", "--format=%B")
    assert message.splitlines()[0] == "Roll back chat: v2 -> v1"
    assert f"This reverts commit {promoted}.\nThis reverts commit {started}." in message
    for trailer in ("Relc-Release: chat", "Relc-Rolled-Back: v2", "Relc-Reason: p95 latency doubled", "Relc-Trigger: p95-latency"):
        assert trailer in message
    assert repository.read("chat") == release_text("chat", ["v1"], stable="v1")
    changed = set(repository.git("show", "--name-only", "--format=", "HEAD").splitlines())
    assert changed == {"releases/chat.yaml", "rendered/bundles/chat.json", "rendered/litellm/config.yaml"}
    assert (repository.root / "NOTES.md").exists(), "other files the reverted commits touched stay"
    assert run_relc("check", cwd=repository.root).returncode == 0
    assert repository.git("status", "--porcelain") == ""


def test_rollback_of_one_commit_reads_like_git_revert(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Publish chat v1")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    started = repository.commit("Start rollout of chat v2")
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0
    assert repository.git("log", "-1", "--format=%s") == 'Revert "Start rollout of chat v2"'
    assert f"This reverts commit {started}." in repository.git("log", "-1", "--format=%b")


def test_rollback_keeps_later_edits_that_did_not_change_traffic(repository: Repository) -> None:
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2, owners=["tests", "oncall"]))
    repository.commit("Add the on-call team as owner")
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0
    assert repository.read("chat") == release_text("chat", ["v1"], stable="v1", owners=["tests", "oncall"])


def test_rollback_of_a_just_promoted_stable_returns_to_the_previous(repository: Repository) -> None:
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v2", previous="v1"))
    repository.commit("Promote chat: v2 is stable")
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0
    assert repository.read("chat") == release_text("chat", ["v1"], stable="v1")


def test_dry_run_prints_the_diff_and_writes_nothing(repository: Repository) -> None:
    def dry_run() -> None:
        result = run_relc("rollback", "chat", "--dry-run", cwd=repository.root)
        assert result.returncode == 0, result.stderr
        assert "-  candidate: v2" in result.stdout and "Roll back chat: v2 -> v1" in result.stdout
        assert "rendered/litellm/config.yaml" in result.stdout
        # The same plan `relc plan` prints, for this release.
        assert "chat: step 2 of 2: canary 50%, hold 1h -> steady (no rollout)" in result.stdout
        assert "v1               stable                 served    50% ->   100%" in result.stdout

    _unchanged(repository, dry_run)


def test_a_dirty_working_tree_is_refused_naming_the_files(repository: Repository) -> None:
    (repository.root / "NOTES.md").write_text("edited\n")

    def refused() -> None:
        result = run_relc("rollback", "chat", cwd=repository.root)
        assert result.returncode == 1 and "uncommitted changes" in result.stderr and "NOTES.md" in result.stderr

    _unchanged(repository, refused)


def test_a_detached_head_is_refused_for_commits(repository: Repository) -> None:
    repository.git("checkout", "-q", "--detach")

    def refused() -> None:
        result = run_relc("promote", "chat", cwd=repository.root)
        assert result.returncode == 1 and "HEAD is detached" in result.stderr

    _unchanged(repository, refused)


def test_a_conflicting_revert_aborts_cleanly_and_explains(repository: Repository) -> None:
    text = repository.read("chat").replace("  step: 2\n", "  step: 2\n  # Paused for the holiday freeze.\n")
    repository.write("chat", text)
    repository.commit("Note the freeze")

    def refused() -> None:
        result = run_relc("rollback", "chat", cwd=repository.root)
        assert result.returncode == 1
        assert "conflicts with a later change" in result.stderr and "nothing was written" in result.stderr
        assert "--to" in result.stderr

    _unchanged(repository, refused)
    known_good = repository.git("rev-list", "--max-count=1", "HEAD~3")
    assert run_relc("rollback", "chat", "--to", known_good, cwd=repository.root).returncode == 0
    assert repository.read("chat") == release_text("chat", ["v1"], stable="v1")


def test_with_no_known_good_revision_rollback_aborts_the_rollout_in_the_file(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Create chat mid-rollout")
    result = run_relc("rollback", "chat", "--reason", "errors", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    message = repository.git("log", "-1", "--format=%B")
    assert message.startswith("Abort rollout of chat: all traffic back to v1\n")
    assert "Relc-Aborted: true" in message and "Relc-Rolled-Back: v2" in message and "v2 stays defined" in message
    assert repository.read("chat") == release_text("chat", ["v1", "v2"], stable="v1")
    assert run_relc("check", cwd=repository.root).returncode == 0


def test_a_promoted_stable_with_no_known_good_revision_is_a_clear_error(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v2", previous="v1"))
    repository.commit("Create chat just after a promotion")

    def refused() -> None:
        result = run_relc("rollback", "chat", cwd=repository.root)
        assert result.returncode == 1 and "no known-good revision" in result.stderr

    _unchanged(repository, refused)


def test_a_renamed_release_keeps_its_history_under_its_new_name(repository: Repository) -> None:
    repository.git("mv", "releases/chat.yaml", "releases/assistant.yaml")
    repository.write("assistant", repository.read("assistant").replace("chat", "assistant"))
    repository.commit("Rename chat to assistant")

    # History follows the rename (`git mv`), so the rollback reverts to the known-good revision.
    assert run_relc("rollback", "assistant", cwd=repository.root).returncode == 0
    assert repository.git("log", "-1", "--format=%s") == "Roll back assistant: v2 -> v1"
    assert "name: assistant" in repository.read("assistant")
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 2  # no such release now


def test_a_second_relc_is_locked_out_and_a_stale_lock_is_taken_over(repository: Repository) -> None:
    lock = repository.root / ".git" / "relc.lock"
    lock.write_text(str(os.getpid()))  # a live process holds it
    result = run_relc("rollback", "chat", cwd=repository.root)
    assert result.returncode == 1 and f"another relc (process {os.getpid()})" in result.stderr
    assert repository.git("log", "-1", "--format=%s") == "Promote chat v2 to 50%"
    lock.write_text("999999999")  # no such process: a crashed relc
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0
    assert not lock.exists()


def test_promote_advances_one_step_and_then_makes_the_candidate_stable(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    assert run_relc("promote", "chat", cwd=repository.root).returncode == 0
    assert repository.git("log", "-1", "--format=%s") == "Promote chat: v2 to step 2 of 2 (canary 50%)"
    assert repository.git("diff", "HEAD~1", "--stat", "--", "releases").endswith("1 insertion(+), 1 deletion(-)")
    assert run_relc("promote", "chat", "--force", cwd=repository.root).returncode == 0
    assert repository.read("chat") == release_text("chat", ["v1", "v2"], stable="v2", previous="v1")
    assert repository.git("log", "-1", "--format=%s") == "Promote chat: v2 is stable (v1 kept as previous)"
    assert run_relc("check", cwd=repository.root).returncode == 0
    result = run_relc("promote", "chat", cwd=repository.root)
    assert result.returncode == 1 and "no rollout in progress" in result.stderr


def test_promote_waits_for_the_hold_unless_forced(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2", when=int(time.time()) - 60)

    def refused() -> None:
        result = run_relc("promote", "chat", cwd=repository.root)
        assert result.returncode == 1
        assert "its hold ends at" in result.stderr and "--force" in result.stderr

    _unchanged(repository, refused)
    assert run_relc("promote", "chat", "--force", cwd=repository.root).returncode == 0
    assert "Relc-Forced: true" in repository.git("log", "-1", "--format=%B")


def test_a_release_copied_from_one_past_its_hold_waits_its_own(tmp_path: Path) -> None:
    """Copying a release file mid-rollout starts a new release: its step began with the
    copy, not when the original entered it (`git log --follow` follows copies)."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2", when=int(time.time()) - 86400)
    repository.write("chat-eu", release_text("chat-eu", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Copy chat to chat-eu", when=int(time.time()) - 60)

    refused = run_relc("promote", "chat-eu", cwd=repository.root)
    assert refused.returncode == 1 and "its hold ends at" in refused.stderr
    assert run_relc("promote", "chat", cwd=repository.root).returncode == 0


def test_a_stale_index_lock_is_refused_before_anything_is_written(repository: Repository) -> None:
    lock = repository.root / ".git" / "index.lock"
    lock.write_text("")

    def refused() -> None:
        result = run_relc("rollback", "chat", cwd=repository.root)
        assert result.returncode == 1 and "index.lock exists" in result.stderr and "nothing was written" in result.stderr

    _unchanged(repository, refused)
    lock.unlink()
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0


def test_a_commit_that_fails_after_writing_leaves_the_tree_and_index_as_they_were(repository: Repository, tmp_path: Path) -> None:
    repository.git("config", "--unset", "user.email")
    repository.git("config", "user.useConfigOnly", "true")  # no identity: the commit itself fails
    environment = {**os.environ, "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1", "EMAIL": ""}
    head, files = repository.head(), snapshot(repository.root)
    result = subprocess.run([sys.executable, "-m", "compiler", "rollback", "chat"], cwd=repository.root,
                            capture_output=True, text=True, env=environment, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert repository.head() == head
    assert {p: c for p, c in snapshot(repository.root).items() if not p.startswith(".git/")} == {
        p: c for p, c in files.items() if not p.startswith(".git/")
    }
    assert repository.git("status", "--porcelain") == ""
    repository.git("config", "user.email", "bot@example.com")
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0, "a second run completes"


def test_a_render_that_fails_while_rendered_is_written_leaves_everything_as_it_was(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree is rendered as it is written: a gateway that fails after the manifests
    were staged (a bug in relc) moves nothing, and the release file is put back."""
    import dataclasses

    from compiler import changes, rollback
    from compiler.gateways import litellm

    def failing_assemble(fragments: object) -> object:
        raise RuntimeError("litellm render failed")

    monkeypatch.setattr(litellm, "RENDERER", dataclasses.replace(litellm.RENDERER, assemble=failing_assemble))
    change = rollback.plan_rollback(repository.root, "chat")
    written = []
    real_write_tree = changes.write_tree

    def watched_write_tree(folder: Path, files: object, *arguments: object, **options: object) -> object:
        def recorded() -> object:
            for path, content in files:  # type: ignore[attr-defined]
                written.append(path)
                yield path, content

        return real_write_tree(folder, recorded(), *arguments, **options)

    monkeypatch.setattr(changes, "write_tree", watched_write_tree)

    def outside_the_cache(files: dict[str, bytes]) -> dict[str, bytes]:
        return {path: content for path, content in files.items() if not path.startswith(".git/relc-cache/")}

    head, files = repository.head(), outside_the_cache(snapshot(repository.root))
    with pytest.raises(RuntimeError, match="litellm render failed"):
        changes.apply(repository.root, change)
    assert "bundles/chat.json" in written, "the manifest was staged before the gateway failed"
    assert repository.head() == head, "a commit was made"
    assert outside_the_cache(snapshot(repository.root)) == files, "files were written"
    assert repository.git("status", "--porcelain") == ""


def test_untracked_files_in_rendered_are_never_deleted_by_a_rollback(repository: Repository) -> None:
    notes = repository.root / "rendered" / "NOTES.txt"
    notes.write_text("mine\n")
    result = run_relc("rollback", "chat", cwd=repository.root)
    assert result.returncode == 1 and "untracked files in rendered/" in result.stderr and "NOTES.txt" in result.stderr
    assert notes.read_text() == "mine\n"


def test_rollback_to_a_revision_says_what_it_restores_and_warns_of_a_bundle_rolled_back_before(repository: Repository) -> None:
    """`--to` wrote 'v41 -> v41' and said nothing when it put a rolled-back bundle back on traffic."""
    at_50 = repository.head()
    assert run_relc("rollback", "chat", cwd=repository.root).returncode == 0  # v2 rolled back: v1 only
    result = run_relc("rollback", "chat", "--to", at_50, cwd=repository.root)
    assert result.returncode == 0, result.stderr
    assert "relc: warning: v2 serves again, though" in result.stderr and "rolled it back" in result.stderr
    message = repository.git("log", "-1", "--format=%B")
    assert message.startswith(f"Restore chat as of {at_50[:12]}: v1 stable, v2 at step 2\n")
    assert "Warning: v2 serves again" in message


@pytest.mark.parametrize("move", ["moved in from another folder", "two renamed in one commit"])
def test_status_promote_and_the_gate_time_a_step_from_the_same_commit(tmp_path: Path, move: str) -> None:
    """Where git's per-file `--follow` and its rename detection within the releases folder
    disagree on a file's ancestor, relc still reads one answer: `relc status` shows the
    commit `relc promote` times the hold from (the watch and the gate read the same)."""
    repository = Repository(tmp_path / "repo")
    drafts = repository.root / "drafts"
    drafts.mkdir()
    if move == "moved in from another folder":
        (drafts / "talk.yaml").write_text(release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=1))
        repository.commit("Draft talk", build=False)
        (repository.root / "releases").mkdir(exist_ok=True)
        repository.git("mv", "drafts/talk.yaml", "releases/talk.yaml")
        repository.commit("Ship talk", when=int(time.time()) - 60)
        name, started = "talk", "Ship talk"  # a draft served no traffic: its step begins in releases/
    else:
        for release in ("b", "c"):
            repository.write(release, release_text(release, ["v1", "v2"], stable="v1", candidate="v2", step=1))
        repository.commit("Start b and c", build=False)
        repository.git("mv", "releases/b.yaml", "releases/a.yaml")
        repository.git("mv", "releases/c.yaml", "releases/b.yaml")
        for release in ("a", "b"):  # each file's `name` follows its new file name
            repository.write(release, release_text(release, ["v1", "v2"], stable="v1", candidate="v2", step=1))
        repository.commit("Rename b to a and c to b", when=int(time.time()) - 60)
        name, started = "a", None
    assert run_relc("check", cwd=repository.root).returncode == 0
    status = json.loads(run_relc("status", "--format", "json", cwd=repository.root).stdout)
    began = next(record["step_began"] for record in status if record["release"] == name)
    subject = repository.git("log", "-1", "--format=%s", began).strip()
    if started is not None:
        assert subject == started
    promote = run_relc("promote", name, cwd=repository.root)
    if promote.returncode == 1:
        assert f"in {began[:12]} at" in promote.stderr, promote.stderr
    else:  # the hold had passed, counted from a commit of hours ago
        assert int(repository.git("show", "-s", "--format=%ct", began)) < time.time() - 3600


def test_a_release_is_read_again_exactly_when_its_file_changes(example_repo: Path) -> None:
    """`relc watch` asks for every release in rollout each tick: an unchanged file's model
    is the one already parsed, and a changed file is never answered from it."""
    from compiler.changes import RolloutError, current_release

    first, raw = current_release(example_repo, "support-chat")
    again, _ = current_release(example_repo, "support-chat")
    assert again is first and first.rollout.step == 2
    path = example_repo / "releases" / "support-chat.yaml"
    path.write_bytes(raw.replace(b"  step: 2\n", b"  step: 3\n"))
    moved, moved_raw = current_release(example_repo, "support-chat")
    assert moved.rollout.step == 3 and moved_raw == path.read_bytes()
    path.write_bytes(raw.replace(b"  step: 2\n", b"  step: 9\n"))
    with pytest.raises(RolloutError, match="is not valid"):
        current_release(example_repo, "support-chat")
    path.write_bytes(raw)
    assert current_release(example_repo, "support-chat")[0].rollout.step == 2


def test_a_watcher_keeps_at_most_models_kept_release_models(example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten thousand releases in rollout must not keep ten thousand models alive between
    ticks: the first MODELS_KEPT stay as they are, the next MODELS_PACKED pickled, and
    the rest are parsed whenever they are asked for."""
    from compiler import changes
    from compiler.validate import CheckedRelease

    monkeypatch.setattr(changes, "_MODELS_BY_PATH", {})
    monkeypatch.setattr(changes, "_PACKED_BY_PATH", {})
    monkeypatch.setattr(changes, "MODELS_KEPT", 1)
    monkeypatch.setattr(changes, "MODELS_PACKED", 1)
    names = sorted(path.stem for path in (example_repo / "releases").glob("*.yaml"))
    assert len(names) > 2
    first = {name: changes.current_release(example_repo, name)[0] for name in names}
    parses: list[str] = []
    reparse = CheckedRelease._reparse

    def counted_reparse(checked: CheckedRelease) -> None:
        parses.append(checked.path)
        reparse(checked)

    monkeypatch.setattr(CheckedRelease, "_reparse", counted_reparse)
    again = {name: changes.current_release(example_repo, name)[0] for name in names}
    assert len(changes._MODELS_BY_PATH) == 1 and len(changes._PACKED_BY_PATH) == 1
    assert again == first
    # Asked in the same order every tick: the first is kept as it is, the second packed
    # (an equal model, read back without a parse), the others are parsed again.
    assert again[names[0]] is first[names[0]]
    assert again[names[1]] is not first[names[1]]
    assert [Path(parsed).stem for parsed in parses] == names[2:]


def test_a_packed_model_is_never_answered_for_changed_bytes(example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release kept packed (past MODELS_KEPT) is read again once its file changes."""
    from compiler import changes

    monkeypatch.setattr(changes, "_MODELS_BY_PATH", {})
    monkeypatch.setattr(changes, "_PACKED_BY_PATH", {})
    monkeypatch.setattr(changes, "MODELS_KEPT", 0)
    first, raw = changes.current_release(example_repo, "support-chat")
    assert list(changes._PACKED_BY_PATH) == [str(example_repo / "releases" / "support-chat.yaml")]
    assert changes.current_release(example_repo, "support-chat")[0] == first
    path = example_repo / "releases" / "support-chat.yaml"
    path.write_bytes(raw.replace(b"  step: 2\n", b"  step: 3\n"))
    assert changes.current_release(example_repo, "support-chat")[0].rollout.step == 3
    assert changes.current_release(example_repo, "support-chat")[0].rollout.step == 3  # now from the packed model


def test_a_rollback_never_puts_back_a_draft_kept_before_the_release_moved_in(tmp_path: Path) -> None:
    """A draft kept outside releases/ served no traffic. After `git mv` into releases/, a
    rollback of the candidate must not restore the draft's earlier bundle (v0, never
    served): the release's history, as its hold's, begins where it entered releases/."""
    repository = Repository(tmp_path / "repo")
    drafts = repository.root / "drafts"
    drafts.mkdir()
    (drafts / "talk.yaml").write_text(release_text("talk", ["v0"], stable="v0"))
    repository.commit("Draft talk on v0", build=False)
    (drafts / "talk.yaml").write_text(release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Draft talk on v1, rolling out v2", build=False)
    (repository.root / "releases").mkdir(exist_ok=True)
    repository.git("mv", "drafts/talk.yaml", "releases/talk.yaml")
    repository.commit("Ship talk")
    result = run_relc("rollback", "talk", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    rolled_back = yaml.safe_load(repository.read("talk"))
    assert rolled_back["rollout"]["stable"] == "v1"
    assert "v0" not in {bundle["version"] for bundle in rolled_back["bundles"]}
    assert "Abort rollout of talk" in repository.git("log", "-1", "--format=%s")
    history = run_relc("history", "talk", cwd=repository.root)
    assert history.returncode == 0, history.stderr
    assert "Ship talk" in history.stdout and "Draft talk" not in history.stdout, history.stdout


def test_a_rollback_after_relc_s_folder_moved_still_reaches_its_known_good_revision(tmp_path: Path) -> None:
    """relc's files moved under `deploy/` (`relc -C deploy` from then on) were live before
    the move: a rollback reverts the rollout started there, as it would have before."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1"))
    repository.commit("Start chat on v1")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Roll out chat v2")
    (repository.root / "deploy").mkdir()
    for folder in ("releases", "prompts", "schemas", "rendered"):
        repository.git("mv", folder, f"deploy/{folder}")
    repository.commit("Move relc's files under deploy/", build=False)
    result = run_relc("rollback", "chat", cwd=repository.root / "deploy")
    assert result.returncode == 0, result.stderr
    assert repository.git("log", "-1", "--format=%s").strip() == 'Revert "Roll out chat v2"'
    rolled_back = yaml.safe_load((repository.root / "deploy" / "releases" / "chat.yaml").read_text())
    assert rolled_back == yaml.safe_load(release_text("chat", ["v1", "v2"], stable="v1"))


def test_a_release_renamed_from_yml_to_yaml_keeps_its_rollback_targets(tmp_path: Path) -> None:
    """History kept under `chat.yml`: renamed to `chat.yaml`, the release keeps its
    rollback targets."""
    repository = Repository(tmp_path / "repo")
    (repository.root / "releases").mkdir(exist_ok=True)
    (repository.root / "releases" / "chat.yml").write_text(release_text("chat", ["v1", "v2"], stable="v1"))
    repository.commit("Start chat on v1")
    (repository.root / "releases" / "chat.yml").write_text(release_text("chat", ["v1", "v2"], stable="v2", previous="v1"))
    repository.commit("Promote chat v2")
    repository.git("mv", "releases/chat.yml", "releases/chat.yaml")
    repository.commit("Rename chat.yml to chat.yaml")
    result = run_relc("rollback", "chat", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    assert repository.git("log", "-1", "--format=%s").strip() == 'Revert "Promote chat v2"'


def yml_rollout(tmp_path: Path, when: int | None = None) -> tuple[Repository, Path, str]:
    """chat kept in `releases/chat.yml`: v1 published, then v2 at step 1 (committed
    `when`); the repository, the file and the commit that began the step."""
    repository = Repository(tmp_path / "repo")
    path = repository.root / "releases" / "chat.yml"
    path.parent.mkdir()
    path.write_text(release_text("chat", ["v1", "v2"], stable="v1"))
    repository.commit("Publish chat v1 and v2")
    path.write_text(release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    return repository, path, repository.commit("Start chat v2", when=when)


def test_a_yml_release_is_promoted_and_rolled_back_in_its_own_file(tmp_path: Path) -> None:
    """Kept in `chat.yml`, chat is changed where it is: relc once looked for it only as
    `chat.yaml`, and a rollback mid-incident said it did not exist."""
    repository, path, _ = yml_rollout(tmp_path)  # dated long ago: the hold has passed
    promote = run_relc("promote", "chat", cwd=repository.root)
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert repository.git("show", "--format=", "--name-only", "HEAD").split() == ["releases/chat.yml", "rendered/bundles/chat.json",
                                                                                  "rendered/litellm/config.yaml"]
    rollback = run_relc("rollback", "chat", cwd=repository.root)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(release_text("chat", ["v1", "v2"], stable="v1"))
    assert not (repository.root / "releases" / "chat.yaml").exists()
    assert run_relc("check", cwd=repository.root).returncode == 0


def test_a_release_in_both_a_yaml_and_a_yml_file_is_refused_by_name_too(tmp_path: Path) -> None:
    """Commands given the release's name read one file: with both there they used
    `chat.yaml` and said nothing of `chat.yml`, which the folder-wide commands refuse."""
    repository, path, _ = yml_rollout(tmp_path)
    (repository.root / "releases" / "chat.yaml").write_text(path.read_text())
    for command in (("status", "chat"), ("promote", "chat", "--dry-run"), ("rollback", "chat", "--dry-run")):
        result = run_relc(*command, cwd=repository.root)
        assert result.returncode != 0 and "RELC214" in result.stdout + result.stderr, (command, result.stdout + result.stderr)
    pin = run_relc("pin", "chat", cwd=repository.root)
    assert pin.returncode == 2 and "is in both releases/chat.yaml and releases/chat.yml (RELC214)" in pin.stderr, pin.stderr


def test_status_and_history_read_a_yml_release_under_its_own_name(tmp_path: Path) -> None:
    """A `.yml` release is timed from the commit that began its step:
    mid-incident, `relc status` said its step was `not committed yet`, `relc status chat`
    found no file, and `relc history chat` no history."""
    repository, _, began = yml_rollout(tmp_path, when=int(time.time()) - 60)
    for arguments in (("status",), ("status", "chat")):
        status = run_relc(*arguments, cwd=repository.root)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"({began[:12]} Start chat v2)" in status.stdout, status.stdout
    history = run_relc("history", "chat", cwd=repository.root)
    assert history.returncode == 0 and history.stdout.startswith("chat: 2 change(s)"), history.stdout + history.stderr


def test_a_release_that_changes_file_begins_its_step_there_with_a_warm_cache_too(tmp_path: Path) -> None:
    """`chat.yaml` deleted, then `chat.yml` added at the same step: the step began at the
    add (as a cold `relc status` says). A warm cache read only the commits since and
    followed `chat.yml` alone: it kept the old start, and promote let the hold pass."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start chat v2")  # dated long ago: the hold has passed
    assert run_relc("status", cwd=repository.root).returncode == 0  # the cache remembers where the step began
    repository.git("rm", "-q", "releases/chat.yaml")
    repository.commit("Remove chat", build=False)  # no release left to build
    (repository.root / "releases").mkdir(exist_ok=True)  # git took the empty folder away
    (repository.root / "releases" / "chat.yml").write_text(release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    added = repository.commit("Bring chat back as chat.yml", when=int(time.time()) - 60)
    for extra in ((), ("--no-cache",)):
        status = run_relc("status", *extra, cwd=repository.root)
        assert f"({added[:12]} Bring chat back as chat.yml)" in status.stdout, status.stdout
    assert run_relc("promote", "chat", cwd=repository.root).returncode == 1
    history = run_relc("history", "chat", cwd=repository.root)
    assert history.stdout.startswith("chat: 1 change(s)"), history.stdout + history.stderr
    repository.git("rm", "-q", "releases/chat.yml")
    repository.commit("Remove chat for good", build=False)
    deleted = run_relc("history", "chat", cwd=repository.root)  # read where the release was last kept
    assert deleted.returncode == 0 and deleted.stdout.startswith("chat: 2 change(s)"), deleted.stdout + deleted.stderr
    assert "Bring chat back as chat.yml" in deleted.stdout and "Start chat v2" not in deleted.stdout, deleted.stdout
    gone = run_relc("rollback", "chat", cwd=repository.root)
    assert gone.returncode == 2 and "neither releases/chat.yaml nor releases/chat.yml exists" in gone.stderr, gone.stderr


def test_a_draft_kept_in_a_subfolder_of_releases_begins_its_step_when_moved_up(tmp_path: Path) -> None:
    """`releases/drafts/` holds no release (relc reads `releases/*.yaml`): a draft moved
    up from there begins its hold with the move, not with the draft's old commit."""
    repository = Repository(tmp_path / "repo")
    drafts = repository.root / "releases" / "drafts"
    drafts.mkdir(parents=True)
    (drafts / "talk.yaml").write_text(release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Draft talk", build=False)  # hours ago, by the repository's clock
    repository.git("mv", "releases/drafts/talk.yaml", "releases/talk.yaml")
    moved = repository.commit("Ship talk", when=int(time.time()) - 60)
    promote = run_relc("promote", "talk", cwd=repository.root)
    assert promote.returncode == 1, promote.stdout + promote.stderr
    assert f"in {moved[:12]} at" in promote.stderr, promote.stderr
    rollback = run_relc("rollback", "talk", cwd=repository.root)
    assert rollback.returncode == 0 and "Abort rollout of talk" in repository.git("log", "-1", "--format=%s")
