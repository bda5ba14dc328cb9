"""The rollout gate on real repositories: `relc check --base` refuses a pull request that
moves a rollout past `relc promote`'s rules, unless it carries a visible override."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import run_relc
from tests.support import Repository, release_text

THREE_STEPS = "    - {canary: 50, hold: 1h}\n    - {canary: 100, hold: 1h}\n"


def chat(step: int | None, stable: str = "v1", candidate: str | None = "v2", first_canary: int = 10) -> str:
    text = release_text("chat", ["v1", "v2"], stable=stable, candidate=candidate, step=step)
    return text.replace("    - {canary: 50, hold: 1h}\n", THREE_STEPS).replace("{canary: 10,", f"{{canary: {first_canary},")


def rollout_at(tmp_path: Path, step: int, when: int | None = None) -> Repository:
    """main: chat v1 published, v2 rolled out to `step`; the pull request branch `pr` starts there."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", chat(None, candidate=None))
    repository.commit("Publish chat v1 and v2")
    repository.write("chat", chat(step))
    repository.commit(f"chat v2 at step {step}", when=when)
    repository.git("switch", "-q", "-c", "pr")
    return repository


def gate(repository: Repository, *extra: str) -> tuple[int, str]:
    result = run_relc("check", "--base", "main", *extra, cwd=repository.root)
    return result.returncode, result.stdout + result.stderr


def propose(repository: Repository, text: str, message: str = "Change chat") -> None:
    repository.write("chat", text)
    repository.commit(message)


def test_one_step_after_its_hold_passes(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(2))
    assert gate(repository) == (0, gate(repository)[1])


def test_a_skipped_step_is_refused_at_the_step_line(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(3))
    status, output = gate(repository)
    line = chat(3).splitlines().index("  step: 3") + 1
    assert status == 1 and f"releases/chat.yaml:{line}:9: error RELC702: the step jumps from 1 to 3" in output


def yml_rollout_at_step_1(tmp_path: Path) -> Repository:
    """main: chat kept in `chat.yml`, v2 at step 1; the branch `pr` starts there."""
    repository = Repository(tmp_path / "repo")
    (repository.root / "releases").mkdir(exist_ok=True)
    (repository.root / "releases" / "chat.yml").write_text(chat(1))
    repository.commit("chat v2 at step 1, in chat.yml")
    repository.git("switch", "-q", "-c", "pr")
    return repository


def test_renaming_a_yml_release_and_skipping_a_step_at_once_is_refused_for_the_step(tmp_path: Path) -> None:
    """Renamed to `chat.yaml` and skipped to step 3 in one commit: the release is not new,
    so the step jump is seen across the rename."""
    repository = yml_rollout_at_step_1(tmp_path)
    repository.git("mv", "releases/chat.yml", "releases/chat.yaml")
    propose(repository, chat(3), "Rename chat.yml and skip to step 3")
    status, output = gate(repository)
    line = chat(3).splitlines().index("  step: 3") + 1
    assert status == 1 and f"releases/chat.yaml:{line}:9: error RELC702: the step jumps from 1 to 3" in output, output


def test_a_yml_release_is_gated_as_a_yaml_one_is(tmp_path: Path) -> None:
    """Kept in `chat.yml`: one step after its hold passes, a skipped step is refused at
    its line, and a new release may come in a `.yml` file."""
    repository = yml_rollout_at_step_1(tmp_path)
    (repository.root / "releases" / "chat.yml").write_text(chat(2))
    repository.commit("Promote chat in chat.yml")
    assert gate(repository)[0] == 0, gate(repository)[1]
    (repository.root / "releases" / "chat.yml").write_text(chat(3))
    repository.commit("Skip to step 3 in chat.yml")
    status, output = gate(repository)
    line = chat(3).splitlines().index("  step: 3") + 1
    assert status == 1 and f"releases/chat.yml:{line}:9: error RELC702: the step jumps from 1 to 3" in output, output
    repository.git("reset", "-q", "--hard", "main")
    (repository.root / "releases" / "talk.yml").write_text(release_text("talk", ["v1", "v2"], stable="v1"))
    repository.commit("Add talk, in talk.yml")
    assert gate(repository)[0] == 0, gate(repository)[1]


def test_a_suffix_switch_edited_past_git_s_rename_detection_is_refused(tmp_path: Path) -> None:
    """`chat.yaml` deleted and a much longer `chat.yml` added: git pairs them as no rename,
    so after the merge chat's history would begin there and a rollback find none; nor
    when the two come in separate commits (a rebase merge keeps each). The same switch
    made with `git mv` alone passes."""
    repository = rollout_at(tmp_path, 1)
    repository.git("rm", "-q", "releases/chat.yaml")
    notes = "".join(f"# note {index}: the owners' runbook, moved into the release file\n" for index in range(60))
    (repository.root / "releases").mkdir(exist_ok=True)  # git took the empty folder away
    (repository.root / "releases" / "chat.yml").write_text(notes + chat(1))
    repository.commit("Keep chat in chat.yml, with its runbook")
    status, output = gate(repository)
    assert status == 1 and "releases/chat.yml:1:1: error RELC707: was releases/chat.yaml at main and is edited" in output, output
    repository.git("reset", "-q", "--hard", "main")
    repository.git("rm", "-q", "releases/chat.yaml")
    repository.commit("Remove chat.yaml", build=False)
    (repository.root / "releases").mkdir(exist_ok=True)
    (repository.root / "releases" / "chat.yml").write_text(chat(1))
    repository.commit("Add chat.yml")  # the whole change is a rename; merged commit by commit it is not
    status, output = gate(repository)
    assert status == 1 and "is deleted in one commit and releases/chat.yml added in another" in output, output
    repository.git("reset", "-q", "--hard", "main")
    (repository.root / "releases" / "chat.yaml").rename(repository.root / "releases" / "chat.yml")
    status, output = gate(repository)  # a plain `mv`, not yet added: said as such, not as an edit
    assert status == 1 and "RELC707: was releases/chat.yaml at main and is not in git yet: `git add` it" in output, output
    repository.git("add", "-A", "releases")
    assert gate(repository)[0] == 0, gate(repository)[1]  # added, git pairs the two
    repository.git("reset", "-q", "--hard", "main")
    repository.git("mv", "releases/chat.yaml", "releases/chat.yml")
    repository.commit("Keep chat in chat.yml")
    assert gate(repository)[0] == 0, gate(repository)[1]


def test_an_unchanged_yml_release_checked_out_with_crlf_is_not_an_edit(tmp_path: Path) -> None:
    """`releases/*.yml text eol=crlf`: the file's bytes differ from git's, its text does not."""
    repository = Repository(tmp_path / "repo")
    (repository.root / ".gitattributes").write_text("releases/*.yml text eol=crlf\n")
    (repository.root / "releases").mkdir(exist_ok=True)
    (repository.root / "releases" / "chat.yml").write_text(chat(1))
    repository.commit("chat v2 at step 1, in chat.yml")
    repository.git("rm", "-q", "--cached", "-r", ".")
    repository.git("reset", "-q", "--hard")
    assert b"\r\n" in (repository.root / "releases" / "chat.yml").read_bytes()
    repository.git("switch", "-q", "-c", "pr")
    (repository.root / "NOTES.md").write_text("docs only\n")
    repository.commit("Docs only", build=False)
    status, output = gate(repository)
    assert status == 0, output


def test_going_back_in_a_yml_release_needs_no_override(tmp_path: Path) -> None:
    """In an incident the edit back to stable passes the gate at once, `.yml` or not."""
    repository = yml_rollout_at_step_1(tmp_path)
    (repository.root / "releases" / "chat.yml").write_text(chat(None, candidate=None))
    repository.commit("Back to v1")
    status, output = gate(repository)
    assert status == 0 and "RELC7" not in output, output


def test_a_step_before_its_hold_ended_is_refused(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1, when=int(time.time()) - 60)
    propose(repository, chat(2))
    status, output = gate(repository)
    assert status == 1 and "error RELC703: step 1 began in" in output and "its hold (1h) ends at" in output


def test_a_candidate_made_stable_without_its_steps_is_refused(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(None, stable="v2", candidate=None))
    status, output = gate(repository)
    assert status == 1 and "error RELC704: `v2` becomes stable from step 1 of 3" in output


def test_an_edit_to_a_passed_step_is_refused(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 2)
    propose(repository, chat(2, first_canary=5))
    status, output = gate(repository)
    assert status == 1 and "error RELC705: rollout.steps[0] was already passed" in output


@pytest.mark.parametrize("target", [chat(1), chat(None, candidate=None)], ids=["step back", "abort"])
def test_going_back_is_always_allowed(tmp_path: Path, target: str) -> None:
    repository = rollout_at(tmp_path, 2, when=int(time.time()))
    propose(repository, target)
    assert gate(repository)[0] == 0


def test_a_commit_trailer_overrides_loudly_for_its_release_only(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(3), "Skip to 100% for the launch\n\nRelc-Override: chat: launch freeze, approved in INC-7")
    status, output = gate(repository)
    assert status == 0, output
    assert "warning RELC702: OVERRIDDEN (" in output and "launch freeze, approved in INC-7): the step jumps" in output
    other = rollout_at(tmp_path / "other", 1)
    propose(other, chat(3), "Skip\n\nRelc-Override: assistant: not this release")
    assert gate(other)[0] == 1


def test_the_override_flag_lets_a_labelled_pull_request_through(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(3))
    status, output = gate(repository, "--override", "label relc-override by @oncall")
    assert status == 0 and "OVERRIDDEN (--override: label relc-override by @oncall)" in output


def test_the_plan_shows_an_override_first_and_loudly(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(3), "Skip\n\nRelc-Override: chat: launch freeze")
    result = run_relc("plan", "--base", "main", "--format", "markdown", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("> **OVERRIDE** `releases/chat.yaml`: OVERRIDDEN (")


def test_the_plan_says_first_what_the_gate_will_refuse(tmp_path: Path) -> None:
    """A plan comment on a pull request the gate fails must not read as a go-ahead."""
    repository = rollout_at(tmp_path, 1)
    propose(repository, chat(3), "Skip to step 3")
    result = run_relc("plan", "--base", "main", "--format", "markdown", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("> **REFUSED BY THE GATE** `releases/chat.yaml`: RELC702 the step jumps from 1 to 3"), result.stdout
    records = json.loads(run_relc("plan", "--base", "main", "--format", "json", cwd=repository.root).stdout)
    assert len(records["refused"]) == 1 and "RELC702" in records["refused"][0] and records["overrides"] == []
    labelled = run_relc("plan", "--base", "main", "--override", "label by @oncall", cwd=repository.root)
    assert labelled.stdout.startswith("OVERRIDE releases/chat.yaml: OVERRIDDEN (--override: label by @oncall)"), labelled.stdout


def test_the_plan_also_says_first_that_a_published_bundle_was_changed_in_place(tmp_path: Path) -> None:
    """`relc check --base` fails on a bundle edited in place (RELC701): the plan must say so,
    not show the traffic as if the change were fine."""
    repository = rollout_at(tmp_path, 1)
    edited = release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, temperature={"v1": 0.9})
    propose(repository, edited.replace("    - {canary: 50, hold: 1h}\n", THREE_STEPS), "Warm up v1 in place")
    assert "error RELC701" in gate(repository)[1]
    result = run_relc("plan", "--base", "main", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("REFUSED BY THE GATE releases/chat.yaml: RELC701 bundle `v1` was published in"), result.stdout
    records = json.loads(run_relc("plan", "--base", "main", "--format", "json", cwd=repository.root).stdout)
    assert [line.split(": ")[1].split()[0] for line in records["refused"]] == ["RELC701"], records["refused"]


def test_a_duplicate_public_model_is_reported_on_the_file_the_change_touched(tmp_path: Path) -> None:
    repository = rollout_at(tmp_path, 1)
    text = release_text("alpha", ["v1"], stable="v1").replace("  model: alpha\n", "  model: chat\n")
    repository.write("alpha", text)  # sorts before chat.yaml, and steals chat's public name
    status, output = gate(repository)
    assert status == 1 and "releases/alpha.yaml" in output and "error RELC209" in output
    assert "releases/chat.yaml:" not in output.split("error RELC209")[0].splitlines()[-1]
    repository.commit("Add alpha", build=False)  # committed: untouched in the tree, touched since main
    status, output = gate(repository)
    assert status == 1 and "releases/alpha.yaml" in output.split("error RELC209")[0].splitlines()[-1]


def test_a_pull_request_that_moves_relc_s_files_must_not_edit_them_too(tmp_path: Path) -> None:
    """Moved under `deploy/` and promoted in one pull request, chat has no history under its
    new path on the base branch: the gate could not time the step, so the move must come
    alone. Moved as they are, the files pass, and the next pull request is gated again
    (a step timed from the move, where its file entered the folder)."""
    repository = rollout_at(tmp_path, 1, when=int(time.time()) - 60)
    deploy = repository.root / "deploy"

    def move(message: str, promote: bool) -> None:
        deploy.mkdir(exist_ok=True)
        for folder in ("releases", "prompts", "schemas", "rendered"):
            repository.git("mv", folder, f"deploy/{folder}")
        if promote:
            (deploy / "releases" / "chat.yaml").write_text(chat(2))
            assert run_relc("build", cwd=deploy).returncode == 0
        repository.commit(message, build=False, when=int(time.time()) - 30)

    move("Move relc's files under deploy/ and promote chat", promote=True)
    result = run_relc("check", "--base", "main", cwd=deploy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "releases/chat.yaml:1:1: error RELC706: moved from releases/chat.yaml since main and edited" in result.stdout

    # relc reads `.yml` release files too: renamed so on the way, the edit is refused the same.
    repository.git("mv", "deploy/releases/chat.yaml", "deploy/releases/chat.yml")
    repository.commit("Call it chat.yml", build=False, when=int(time.time()) - 20)
    renamed = run_relc("check", "--base", "main", cwd=deploy)
    assert renamed.returncode == 1 and "releases/chat.yml:1:1: error RELC706: moved from releases/chat.yaml" in renamed.stdout, (
        renamed.stdout + renamed.stderr
    )

    repository.git("reset", "-q", "--hard", "main")
    move("Move relc's files under deploy/", promote=False)
    moved = run_relc("check", "--base", "main", cwd=deploy)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    repository.git("branch", "-q", "-f", "main", "pr")  # merged
    (deploy / "releases" / "chat.yaml").write_text(chat(2))
    assert run_relc("build", cwd=deploy).returncode == 0
    repository.commit("Promote chat", build=False)
    promoted = run_relc("check", "--base", "main", cwd=deploy)
    assert promoted.returncode == 1 and "error RELC703: step 1 began in" in promoted.stdout, promoted.stdout
