"""A promote or rollback killed between writing and committing is undone by the next
relc run: the lock it left names what it was writing (see also tests/test_faults.py,
which kills real processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_relc
from tests.support import Repository, release_text


def _interrupted(tmp_path: Path) -> Repository:
    """A repository as a rollback killed mid-write leaves it: the release file and part
    of rendered/ rewritten, a temporary file, and relc's lock naming a dead process."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    root = repository.root
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1"))
    (root / "rendered" / "litellm" / "config.yaml").write_text("half: written\n")
    (root / "releases" / ".chat.yaml.abc123.tmp").write_text("partial")
    (root / "rendered" / ".relc-staging-x").mkdir()
    (root / "rendered" / ".relc-staging-x" / "cds.yaml").write_text("staged")
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (root / ".git" / "relc.lock").write_text(f"{dead}\nreleases/chat.yaml\nrendered")
    return repository


def test_the_next_build_puts_back_what_a_killed_change_wrote(tmp_path: Path) -> None:
    repository = _interrupted(tmp_path)
    built = run_relc("build", cwd=repository.root)
    assert built.returncode == 0, built.stderr
    assert repository.git("status", "--porcelain", "--untracked-files=all") == ""
    assert not (repository.root / ".git" / "relc.lock").exists()


def test_a_rerun_of_the_change_completes(tmp_path: Path) -> None:
    repository = _interrupted(tmp_path)
    before = repository.head()
    rerun = run_relc("rollback", "chat", "--reason", "rerun", cwd=repository.root)
    assert rerun.returncode == 0, rerun.stderr
    assert repository.git("rev-parse", "HEAD~1") == before
    assert repository.git("status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize("lock", ["index.lock", "HEAD.lock", "refs/heads/main.lock"])
def test_gits_own_stale_lock_is_reported_and_the_undo_waits_for_it(lock: str, tmp_path: Path) -> None:
    """A git killed in the middle of relc's commit leaves its index, HEAD or branch lock."""
    repository = _interrupted(tmp_path)
    index_lock = repository.root / ".git" / lock
    index_lock.write_text("")
    blocked = run_relc("build", cwd=repository.root)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert "was stopped while committing" in blocked.stderr and str(index_lock) in blocked.stderr
    assert (repository.root / ".git" / "relc.lock").exists(), "the undo is still owed"
    index_lock.unlink()
    assert run_relc("build", cwd=repository.root).returncode == 0
    assert repository.git("status", "--porcelain", "--untracked-files=all") == ""


def test_a_live_holder_is_never_undone(tmp_path: Path) -> None:
    import os

    repository = _interrupted(tmp_path)
    (repository.root / ".git" / "relc.lock").write_text(f"{os.getpid()}\nreleases/chat.yaml\nrendered")
    blocked = run_relc("rollback", "chat", "--reason", "x", cwd=repository.root)
    assert blocked.returncode == 1 and "another relc" in blocked.stderr
    assert "half: written" in (repository.root / "rendered" / "litellm" / "config.yaml").read_text()
