"""`compiler.git` directly, against real repositories (and a bare remote) in tmp folders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from compiler import git
from compiler.errors import EXIT_USAGE, RelcError
from compiler.git import Commit, FileChange, GitError, PushResult
from tests.support import Repository

T0 = 1_790_000_000


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    """A repository with no commits yet (relc's prompts and schema waiting to be added)."""
    return Repository(tmp_path / "repo")


def _commit(repository: Repository, files: dict[str, str | None], message: str, when: int) -> str:
    """Write (or, for None, delete) files and commit everything, dated `when`."""
    for name, text in files.items():
        path = repository.root / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return repository.commit(message, build=False, when=when)


@pytest.fixture
def history(repository: Repository) -> tuple[Repository, list[str]]:
    """Three commits: chat added, chat changed with rendered/ and notes, chat deleted and talk added."""
    first = _commit(repository, {"releases/chat.yaml": "chat 1\n"}, "Add chat", T0)
    second = _commit(repository, {"releases/chat.yaml": "chat 2\n", "rendered/litellm/config.yaml": "r\n", "NOTES.md": "n\n"},
                     "Change chat\n\nBody line.\n\nRelc-Release: chat", T0 + 60)  # fmt: skip
    third = _commit(repository, {"releases/chat.yaml": None, "releases/talk.yaml": "talk 1\n"}, "Replace chat by talk", T0 + 120)
    return repository, [first, second, third]


# resolve_revision


def test_resolve_revision_gives_the_full_commit_id(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    assert git.resolve_revision(root, "HEAD") == commits[2]
    assert git.resolve_revision(root, "main") == commits[2]
    assert git.resolve_revision(root, "HEAD~2") == commits[0]
    assert git.resolve_revision(root, commits[1][:9]) == commits[1]
    repository.git("tag", "-a", "v1", "-m", "annotated", commits[0])
    assert git.resolve_revision(root, "v1") == commits[0], "a tag resolves to its commit, not the tag object"


def test_resolve_revision_of_an_unknown_revision_is_a_usage_error(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    with pytest.raises(GitError) as caught:
        git.resolve_revision(repository.root, "no-such-branch")
    assert str(caught.value) == "no commit `no-such-branch` in this repository"
    assert caught.value.exit_status == EXIT_USAGE
    with pytest.raises(GitError, match=r"^no commit `HEAD~9` in this repository$"):
        git.resolve_revision(repository.root, "HEAD~9")


def test_resolve_revision_in_an_empty_repository_says_to_commit_first(repository: Repository) -> None:
    with pytest.raises(GitError) as caught:
        git.resolve_revision(repository.root, "HEAD")
    assert str(caught.value) == "the repository has no commits yet: commit the releases first"


def test_resolve_revision_in_a_shallow_clone_hints_at_full_history(history: tuple[Repository, list[str]], tmp_path: Path) -> None:
    repository, commits = history
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repository.root}", str(clone)], check=True, timeout=60)
    assert git.is_shallow(clone) and not git.is_shallow(repository.root)
    assert git.resolve_revision(clone, "HEAD") == commits[2]
    with pytest.raises(GitError) as caught:
        git.resolve_revision(clone, "HEAD~1")
    assert str(caught.value) == "no commit `HEAD~1` in this repository (this clone is shallow: fetch full history, e.g. `fetch-depth: 0`)"
    with pytest.raises(GitError, match="this clone is shallow, so its history is incomplete"):
        git.require_full_history(clone)
    git.require_full_history(repository.root)


def test_outside_a_repository_the_error_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(GitError) as caught:
        git.resolve_revision(folder, "HEAD")
    assert str(caught.value).startswith(f"{folder.resolve()} is not inside a git repository: relc keeps rollout state in Git")
    with pytest.raises(GitError, match="is not inside a git repository"):
        git.require_committable(folder)


def test_a_failed_git_command_names_the_command_and_git_s_reason(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    with pytest.raises(GitError) as caught:
        git.changes_under(repository.root, "no-such-revision", "releases")
    message = str(caught.value)
    assert message.startswith("`git log --format=@%H %ct %s --raw` failed: fatal: ")
    assert "no-such-revision" in message and "Traceback" not in message
    with pytest.raises(GitError, match=r"^`git merge --ff-only --quiet` failed: "):
        git.fast_forward(repository.root, "no-such-revision")


# require_committable


def test_require_committable_passes_a_clean_branch(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    (repository.root / "scratch.txt").write_text("untracked outside rendered/ is fine\n")
    git.require_committable(repository.root)


def test_require_committable_refuses_a_detached_head(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    repository.git("checkout", "-q", "--detach", commits[1])
    assert git.current_branch(repository.root) is None
    with pytest.raises(GitError, match=r"^HEAD is detached \(as in a pull request checkout\).*`git switch <branch>`"):
        git.require_committable(repository.root)


def test_require_committable_refuses_uncommitted_changes_and_names_them(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    (repository.root / "NOTES.md").write_text("edited\n")
    repository.git("mv", "releases/talk.yaml", "releases/speech.yaml")
    assert git.changed_tracked_files(repository.root) == ["NOTES.md", "releases/speech.yaml"]
    with pytest.raises(GitError) as caught:
        git.require_committable(repository.root)
    assert str(caught.value) == (
        "the working tree has uncommitted changes, which a relc commit could mix up: commit or stash them first: "
        "NOTES.md, releases/speech.yaml"
    )


def test_require_committable_refuses_a_stale_index_lock(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    lock = repository.root / ".git" / "index.lock"
    lock.write_text("")
    with pytest.raises(GitError) as caught:
        git.require_committable(repository.root)
    assert str(caught.value).startswith(f"{lock} exists: another git command is running, or one died and left it behind")
    assert "(nothing was written)" in str(caught.value)
    lock.unlink()
    git.require_committable(repository.root)


def test_require_committable_refuses_untracked_files_in_the_owned_folder(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    (repository.root / "rendered" / "kong").mkdir()
    (repository.root / "rendered" / "kong" / "kong.yaml").write_text("stray\n")
    with pytest.raises(GitError) as caught:
        git.require_committable(repository.root)
    assert str(caught.value) == (
        "untracked files in rendered/, which relc owns, would be deleted or committed: move or remove them first: "
        "rendered/kong/kong.yaml"
    )
    git.require_committable(repository.root, owned_folder="other")
    (repository.root / ".gitignore").write_text("rendered/kong/\n")
    repository.git("add", ".gitignore")
    repository.git("commit", "-q", "-m", "ignore")
    git.require_committable(repository.root)  # ignored files are not stray


# Reading history


def test_file_history_is_newest_first_with_times_and_subjects(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    chat = "releases/chat.yaml"
    assert git.file_history(repository.root, "HEAD", chat) == [
        Commit(commits[2], T0 + 120, "Replace chat by talk", chat),
        Commit(commits[1], T0 + 60, "Change chat", chat),
        Commit(commits[0], T0, "Add chat", chat),
    ]
    assert git.file_history(repository.root, "HEAD~1", chat) == [
        Commit(commits[1], T0 + 60, "Change chat", chat),
        Commit(commits[0], T0, "Add chat", chat),
    ]
    assert git.file_history(repository.root, "HEAD", "releases/none.yaml") == []
    with pytest.raises(GitError, match="no commit `nope`"):
        git.file_history(repository.root, "nope", "releases/chat.yaml")


def test_file_history_follows_a_git_mv(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    repository.git("mv", "releases/talk.yaml", "releases/speech.yaml")
    moved = repository.commit("Rename talk", build=False, when=T0 + 180)
    found = git.file_history(repository.root, "HEAD", "releases/speech.yaml")
    assert [(c.sha, c.path) for c in found] == [(moved, "releases/speech.yaml"), (commits[2], "releases/talk.yaml")]


def test_file_history_counts_a_merged_change_from_its_merge(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    repository.git("switch", "-q", "-c", "feature")
    side = _commit(repository, {"releases/talk.yaml": "talk 2\n"}, "Change talk on a branch", T0 + 200)
    repository.git("switch", "-q", "main")
    _commit(repository, {"NOTES.md": "main moved\n"}, "Notes", T0 + 300)
    repository.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature", when=T0 + 400)
    merge = repository.head()
    history_of_talk = git.file_history(repository.root, "HEAD", "releases/talk.yaml")
    talk = "releases/talk.yaml"
    assert history_of_talk == [Commit(merge, T0 + 400, "Merge feature", talk), Commit(commits[2], T0 + 120, "Replace chat by talk", talk)]
    assert side not in [c.sha for c in history_of_talk]
    first_parent = git.changes_under(repository.root, "HEAD", "releases", first_parent=True)
    assert [(c.commit, c.subject) for c in first_parent if c.path == talk] == [(merge, "Merge feature"), (commits[2], "Replace chat by talk")]


def test_changes_under_lists_each_file_change_with_its_blob(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    ids = {spec: repository.git("rev-parse", spec) for spec in (f"{commits[0]}:releases/chat.yaml", f"{commits[1]}:releases/chat.yaml", f"{commits[2]}:releases/talk.yaml")}
    assert git.changes_under(root, "HEAD", "releases") == [
        FileChange(commits[2], T0 + 120, "releases/chat.yaml", None, subject="Replace chat by talk"),
        FileChange(commits[2], T0 + 120, "releases/talk.yaml", ids[f"{commits[2]}:releases/talk.yaml"], subject="Replace chat by talk"),
        FileChange(commits[1], T0 + 60, "releases/chat.yaml", ids[f"{commits[1]}:releases/chat.yaml"], subject="Change chat"),
        FileChange(commits[0], T0, "releases/chat.yaml", ids[f"{commits[0]}:releases/chat.yaml"], subject="Add chat"),
    ]
    assert git.changes_under(root, "HEAD", "rendered") == [
        FileChange(commits[1], T0 + 60, "rendered/litellm/config.yaml", repository.git("rev-parse", f"{commits[1]}:rendered/litellm/config.yaml"),
                   subject="Change chat")  # fmt: skip
    ]
    assert git.changes_under(root, "HEAD", "nothing-here") == []


def test_changes_under_reads_paths_with_spaces_and_unicode(repository: Repository) -> None:
    commit = _commit(repository, {"releases/a b.yaml": "1\n", "releases/é.yaml": "2\n"}, "Odd names", T0)
    changes = git.changes_under(repository.root, "HEAD", "releases")
    assert [(c.commit, c.path) for c in changes] == [(commit, "releases/a b.yaml"), (commit, "releases/é.yaml")]
    assert git.read_blobs(repository.root, [c.blob for c in changes if c.blob]) == {
        changes[0].blob: b"1\n",
        changes[1].blob: b"2\n",
    }


def test_read_blobs_by_id_and_by_revision_path(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    binary = bytes(range(256)) + b"\n\n"
    (repository.root / "releases" / "binary.bin").write_bytes(binary)
    repository.commit("binary", build=False, when=T0 + 500)
    root = repository.root
    chat_two = repository.git("rev-parse", f"{commits[1]}:releases/chat.yaml")
    contents = git.read_blobs(root, [chat_two, f"{commits[0]}:releases/chat.yaml", "HEAD:releases/binary.bin",
                                     "HEAD:releases/missing.yaml", chat_two, "0" * 40])  # fmt: skip
    assert contents == {chat_two: b"chat 2\n", f"{commits[0]}:releases/chat.yaml": b"chat 1\n", "HEAD:releases/binary.bin": binary}
    assert git.read_blobs(root, []) == {}


def test_files_at_gives_every_file_under_a_folder(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    assert git.files_at(root, commits[1], "releases") == {"releases/chat.yaml": b"chat 2\n"}
    assert git.files_at(root, "HEAD", "releases") == {"releases/talk.yaml": b"talk 1\n"}
    assert git.files_at(root, "HEAD", "rendered") == {"rendered/litellm/config.yaml": b"r\n"}
    assert git.files_at(root, commits[0], "rendered") == {}
    assert set(git.files_at(root, "HEAD", "prompts")) == {"prompts/basic.j2"}


# Writing


def test_restore_paths_puts_files_and_index_back_as_head_has_them(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    root = repository.root
    (root / "rendered" / "litellm" / "config.yaml").write_text("half written\n")
    (root / "rendered" / "envoy").mkdir()
    (root / "rendered" / "envoy" / "cds.yaml").write_text("new\n")
    (root / "releases" / "talk.yaml").unlink()
    (root / "NOTES.md").write_text("not restored\n")
    repository.git("add", "-A", "rendered")
    git.restore_paths(root, ["rendered", "releases/talk.yaml"])
    assert (root / "rendered" / "litellm" / "config.yaml").read_text() == "r\n"
    assert not (root / "rendered" / "envoy" / "cds.yaml").exists()
    assert (root / "releases" / "talk.yaml").read_text() == "talk 1\n"
    assert (root / "NOTES.md").read_text() == "not restored\n"
    assert git.changed_tracked_files(root) == ["NOTES.md"]
    assert repository.git("diff", "--cached", "--name-only") == ""


def test_restore_paths_works_while_the_index_is_locked(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    root = repository.root
    (root / "rendered" / "litellm" / "config.yaml").write_text("half written\n")
    (root / ".git" / "index.lock").write_text("")
    git.restore_paths(root, ["rendered"])
    assert (root / "rendered" / "litellm" / "config.yaml").read_text() == "r\n"


def test_merge_file_merges_separate_changes_cleanly() -> None:
    base = b"a\nb\nc\nd\ne\n"
    merged, conflicted = git.merge_file(b"A\nb\nc\nd\ne\n", base, b"a\nb\nc\nd\nE\n", ("ours", "base", "theirs"))
    assert (merged, conflicted) == (b"A\nb\nc\nd\nE\n", False)


def test_merge_file_marks_a_conflict_with_the_labels() -> None:
    merged, conflicted = git.merge_file(b"step: 2\n", b"step: 1\n", b"step: 3\n", ("HEAD", "base", "origin/main"))
    assert conflicted
    assert merged == b"<<<<<<< HEAD\nstep: 2\n=======\nstep: 3\n>>>>>>> origin/main\n"


def test_commit_paths_commits_exactly_the_given_paths(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    (root / "releases" / "talk.yaml").write_text("talk 2\n")
    (root / "rendered" / "litellm" / "config.yaml").unlink()
    (root / "rendered" / "kong.yaml").write_text("k\n")
    (root / "NOTES.md").write_text("left alone\n")
    sha = git.commit_paths(root, ["releases/talk.yaml", "rendered"], "Promote talk\n\nRelc-Release: talk\n")
    assert sha == repository.head() and repository.git("rev-parse", "HEAD~1") == commits[2]
    assert sorted(repository.git("show", "--name-status", "--format=", "HEAD").splitlines()) == [
        "A\trendered/kong.yaml", "D\trendered/litellm/config.yaml", "M\treleases/talk.yaml",
    ]  # fmt: skip
    author, message = git.author_and_message(root, sha)
    assert (author, message.rstrip("\n")) == ("Release Bot <bot@example.com>", "Promote talk\n\nRelc-Release: talk")
    assert git.commit_subject(root, sha) == "Promote talk"
    assert git.changed_tracked_files(root) == ["NOTES.md"]


def test_changed_release_names_between_two_commits(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    (root / "releases" / "README.md").write_text("not a release\n")
    readme = repository.commit("readme", build=False, when=T0 + 200)
    assert git.changed_release_names(root, commits[0], commits[1]) == ["chat"]
    assert git.changed_release_names(root, commits[1], commits[2]) == ["chat", "talk"]
    assert git.changed_release_names(root, commits[2], readme) == []
    assert git.changed_release_names(root, commits[2], commits[2]) == []


def test_changed_release_files_and_names_against_the_working_tree(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    assert git.changed_release_files(root) == [] and git.changed_release_names_between(root, "HEAD") == []
    (root / "releases" / "talk.yaml").write_text("talk 2\n")
    (root / "releases" / "new.yml").write_text("new\n")
    (root / "releases" / "notes.txt").write_text("not a release\n")
    assert git.changed_release_files(root) == ["releases/new.yml", "releases/talk.yaml"]
    assert git.changed_release_names_between(root, "HEAD") == ["releases/talk.yaml"]  # untracked files have no diff
    assert git.changed_release_names_between(root, commits[1]) == ["releases/chat.yaml", "releases/talk.yaml"]
    repository.git("mv", "releases/talk.yaml", "releases/speech.yaml")
    assert git.changed_release_files(root) == ["releases/new.yml", "releases/speech.yaml"]


def test_messages_between_and_author_and_message(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    assert git.messages_between(root, commits[0], commits[2]) == [
        (commits[2], "Replace chat by talk\n"),
        (commits[1], "Change chat\n\nBody line.\n\nRelc-Release: chat\n"),
    ]
    assert git.messages_between(root, commits[2], commits[0]) == []
    author, message = git.author_and_message(root, commits[1])
    assert author == "Release Bot <bot@example.com>"
    assert message.rstrip("\n") == "Change chat\n\nBody line.\n\nRelc-Release: chat"  # git log adds a newline


def test_add_and_remove_worktree(history: tuple[Repository, list[str]], tmp_path: Path) -> None:
    repository, commits = history
    folder = tmp_path / "worktree"
    git.add_worktree(repository.root, folder, "relc-work")
    assert git.head(folder) == commits[2]
    assert git.current_branch(folder) == "relc-work"
    assert (folder / "releases" / "talk.yaml").read_text() == "talk 1\n"
    (folder / "releases" / "talk.yaml").write_text("dirty\n")
    (folder / "untracked").write_text("x\n")
    with pytest.raises(GitError, match="already exists"):
        git.add_worktree(repository.root, tmp_path / "other", "relc-work")
    git.remove_worktree(repository.root, folder, "relc-work")
    assert not folder.exists()
    assert repository.git("branch", "--list", "relc-work") == ""
    assert str(folder) not in repository.git("worktree", "list")
    git.remove_worktree(repository.root, folder, "relc-work")  # again: nothing left to remove, no error


# Synchronising with a remote


@pytest.fixture
def remote(history: tuple[Repository, list[str]], tmp_path: Path) -> tuple[Repository, Repository, Path]:
    """A bare remote with main pushed, and a second clone of it (another watcher)."""
    repository, _ = history
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, timeout=60)
    repository.git("remote", "add", "origin", str(bare))
    repository.git("push", "-q", "origin", "main")
    other_root = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other_root)], check=True, timeout=60)
    return repository, _adopt_clone(other_root), bare


def _adopt_clone(root: Path) -> Repository:
    """A clone driven through Repository's helpers, committing as another person."""
    clone = Repository.__new__(Repository)
    clone.root, clone.clock = root, T0
    clone.git("config", "user.name", "Other Watcher")
    clone.git("config", "user.email", "other@example.com")
    return clone


def test_push_then_push_behind_then_rebase_and_push(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, bare = remote
    ours = _commit(repository, {"NOTES.md": "ours\n"}, "Our change", T0 + 1000)
    assert git.push(repository.root, "origin", "HEAD", "main") == PushResult("pushed")
    assert subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True).stdout.strip() == ours

    theirs = _commit(other, {"releases/talk.yaml": "talk by other\n"}, "Their change", T0 + 1100)
    assert git.push(other.root, "origin", "HEAD", "main") == PushResult("behind", "the remote branch moved on")

    fetched = git.fetch(other.root, "origin", "main")
    assert fetched == ours
    assert not git.is_ancestor(other.root, fetched, "HEAD")
    assert git.rebase_onto(other.root, fetched) is True
    assert git.is_ancestor(other.root, fetched, "HEAD")
    assert git.messages_between(other.root, fetched, "HEAD") == [(git.head(other.root), "Their change\n")]
    assert git.head(other.root) != theirs
    assert git.push(other.root, "origin", "HEAD", "main") == PushResult("pushed")


def test_force_push_overrides_a_moved_remote(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, _ = remote
    _commit(repository, {"NOTES.md": "ours\n"}, "Our change", T0 + 1000)
    assert git.push(repository.root, "origin", "HEAD", "main").outcome == "pushed"
    _commit(other, {"NOTES.md": "theirs\n"}, "Their change", T0 + 1100)
    assert git.push(other.root, "origin", "HEAD", "main").outcome == "behind"
    assert git.push(other.root, "origin", "HEAD", "main", force=True) == PushResult("pushed")


def test_push_to_a_remote_that_refuses_says_why(remote: tuple[Repository, Repository, Path]) -> None:
    repository, _, bare = remote
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    _commit(repository, {"NOTES.md": "ours\n"}, "Our change", T0 + 1000)
    result = git.push(repository.root, "origin", "HEAD", "main")
    assert result.outcome == "refused"
    assert "pre-receive hook declined" in result.message


def test_push_to_a_missing_remote_is_refused_with_git_s_reason(history: tuple[Repository, list[str]], tmp_path: Path) -> None:
    repository, _ = history
    result = git.push(repository.root, str(tmp_path / "absent.git"), "HEAD", "main")
    assert result.outcome == "refused"
    assert "absent.git" in result.message and len(result.message) <= 300


def test_fast_forward_moves_branch_and_files(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, _ = remote
    theirs = _commit(other, {"releases/talk.yaml": "talk 2\n"}, "Their change", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")
    assert fetched == theirs and git.is_ancestor(repository.root, "HEAD", fetched)
    git.fast_forward(repository.root, fetched)
    assert git.head(repository.root) == theirs
    assert (repository.root / "releases" / "talk.yaml").read_text() == "talk 2\n"


def test_fast_forward_refuses_diverged_history(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, _ = remote
    ours = _commit(repository, {"NOTES.md": "ours\n"}, "Our change", T0 + 1000)
    _commit(other, {"releases/talk.yaml": "talk 2\n"}, "Their change", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")
    with pytest.raises(GitError, match="failed: fatal: Not possible to fast-forward"):
        git.fast_forward(repository.root, fetched)
    assert git.head(repository.root) == ours


def test_rebase_onto_a_conflict_changes_nothing(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, _ = remote
    ours = _commit(repository, {"releases/talk.yaml": "talk ours\n"}, "Our change", T0 + 1000)
    _commit(other, {"releases/talk.yaml": "talk theirs\n"}, "Their change", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")
    assert git.rebase_onto(repository.root, fetched) is False
    assert git.head(repository.root) == ours
    assert git.current_branch(repository.root) == "main"
    assert (repository.root / "releases" / "talk.yaml").read_text() == "talk ours\n"
    assert not (repository.root / ".git" / "rebase-merge").exists()
    git.require_committable(repository.root)
    git.reset_to(repository.root, fetched)
    assert (repository.root / "releases" / "talk.yaml").read_text() == "talk theirs\n"


def test_rebase_onto_drops_a_change_upstream_already_has(remote: tuple[Repository, Repository, Path]) -> None:
    repository, other, _ = remote
    _commit(repository, {"releases/talk.yaml": "rolled back\n"}, "Roll back talk (ours)", T0 + 1000)
    theirs = _commit(other, {"releases/talk.yaml": "rolled back\n"}, "Roll back talk (theirs)", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")
    assert git.rebase_onto(repository.root, fetched) is True
    assert git.head(repository.root) == theirs
    assert git.remote_url(repository.root, "origin").endswith("remote.git")
    assert git.remote_url(repository.root, "nowhere") == ""


def test_is_ancestor(history: tuple[Repository, list[str]]) -> None:
    repository, commits = history
    root = repository.root
    assert git.is_ancestor(root, commits[0], commits[2])
    assert not git.is_ancestor(root, commits[2], commits[0])
    assert git.is_ancestor(root, commits[1], commits[1])
    assert not git.is_ancestor(root, "no-such-commit", commits[2])


def test_repository_prefix_and_git_dir(history: tuple[Repository, list[str]]) -> None:
    repository, _ = history
    root = repository.root
    assert git.repository_prefix(root) == ""
    assert git.repository_prefix(root / "releases") == "releases/"
    assert git.git_dir(root) == (root / ".git").resolve()
    assert git.short("0123456789abcdef0123") == "0123456789ab"


def _regenerate_joined(root: Path) -> Callable[[], None]:
    """A stand-in for rendering: rendered/all.txt is the release files' lines, in order."""

    def regenerate() -> None:
        lines = [path.read_text() for path in sorted((root / "releases").glob("*.yaml"))]
        (root / "rendered" / "all.txt").write_text("".join(lines))

    return regenerate


@pytest.mark.parametrize("folder", ["", "deploy/"], ids=["at the top", "relc -C deploy"])
def test_rebase_onto_makes_conflicting_generated_files_again(remote: tuple[Repository, Repository, Path], folder: str) -> None:
    """Ours changed talk, theirs chat: their only conflict is in the file made from both
    (git names it from the top of the repository, wherever relc runs in it)."""
    repository, other, _ = remote
    releases, rendered = f"{folder}releases", f"{folder}rendered"
    base = {f"{releases}/chat.yaml": "chat 1\n", f"{releases}/talk.yaml": "talk 1\n", f"{rendered}/all.txt": "chat 1\ntalk 1\n"}
    _commit(repository, base, "Both releases", T0 + 500)
    git.push(repository.root, "origin", "HEAD", "main")
    git.reset_to(other.root, git.fetch(other.root, "origin", "main"))
    ours = {f"{releases}/talk.yaml": "talk 2\n", f"{rendered}/all.txt": "chat 1\ntalk 2\n"}
    _commit(repository, ours, "Roll back talk", T0 + 1000)
    theirs = _commit(other, {f"{releases}/chat.yaml": "chat 2\n", f"{rendered}/all.txt": "chat 2\ntalk 1\n"}, "Change chat", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    root = repository.root / folder
    fetched = git.fetch(root, "origin", "main")
    assert git.rebase_onto(root, fetched) is False, "a plain rebase meets the conflict"
    marks: list[tuple[list[str], list[str]]] = []

    def regenerate() -> None:
        # Stopped mid-rebase, as a kill would find it: relc's mark names what git recorded.
        folder = git.git_dir(root)
        marks.append(((folder / git.RELC_REBASE_MARK).read_text().split(), git._recorded_rebase(folder / "rebase-merge")))
        _regenerate_joined(root)()

    assert git.rebase_onto(root, fetched, "rendered", regenerate) is True
    assert marks and marks[0][0] == marks[0][1] and len(marks[0][0]) == 2, marks
    assert not (git.git_dir(root) / git.RELC_REBASE_MARK).exists(), "the mark goes with the rebase"
    assert git.messages_between(root, theirs, "HEAD") == [(git.head(root), "Roll back talk\n")]
    assert (root / "rendered" / "all.txt").read_text() == "chat 2\ntalk 2\n"
    assert git.files_at(repository.root, "HEAD", rendered)[f"{rendered}/all.txt"] == b"chat 2\ntalk 2\n"
    assert not (repository.root / ".git" / "rebase-merge").exists()


@pytest.mark.parametrize("theirs_too", ["releases/talk.yaml", "regenerate fails"])
def test_rebase_onto_gives_up_on_any_other_conflict(remote: tuple[Repository, Repository, Path], theirs_too: str) -> None:
    """A conflict outside the generated folder, or a regeneration that fails (the merged
    releases are not valid), changes nothing, as a plain conflict does."""
    repository, other, _ = remote
    base = {"releases/chat.yaml": "chat 1\n", "releases/talk.yaml": "talk 1\n", "rendered/all.txt": "chat 1\ntalk 1\n"}
    _commit(repository, base, "Both releases", T0 + 500)
    git.push(repository.root, "origin", "HEAD", "main")
    git.reset_to(other.root, git.fetch(other.root, "origin", "main"))
    ours = _commit(repository, {"releases/talk.yaml": "talk 2\n", "rendered/all.txt": "chat 1\ntalk 2\n"}, "Ours", T0 + 1000)
    theirs = {"releases/chat.yaml": "chat 2\n", "rendered/all.txt": "chat 2\ntalk 1\n"}
    if theirs_too == "releases/talk.yaml":
        theirs["releases/talk.yaml"] = "talk 3\n"
    _commit(other, theirs, "Theirs", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")

    def regenerate() -> None:
        if theirs_too == "regenerate fails":
            raise RelcError("the merged releases do not pass their checks")
        _regenerate_joined(repository.root)()

    assert git.rebase_onto(repository.root, fetched, "rendered", regenerate) is False
    assert git.head(repository.root) == ours and git.current_branch(repository.root) == "main"
    assert (repository.root / "rendered" / "all.txt").read_text() == "chat 1\ntalk 2\n"
    assert not (repository.root / ".git" / "rebase-merge").exists()
    git.require_committable(repository.root)


def test_a_rebase_relc_left_stopped_is_aborted_and_no_one_else_s(remote: tuple[Repository, Repository, Path]) -> None:
    """What a watcher killed mid-rebase leaves: the next one starts from its branch again.
    A rebase a person stopped in (no relc mark) is theirs: refused, untouched."""
    repository, other, _ = remote
    ours = _commit(repository, {"releases/talk.yaml": "talk ours\n"}, "Our change", T0 + 1000)
    _commit(other, {"releases/talk.yaml": "talk theirs\n"}, "Their change", T0 + 1100)
    git.push(other.root, "origin", "HEAD", "main")
    fetched = git.fetch(repository.root, "origin", "main")
    assert git.abort_interrupted_rebase(repository.root) is False
    repository.git("rebase", fetched, check=False)  # stops on the conflict
    with pytest.raises(GitError, match="relc did not start it"):
        git.abort_interrupted_rebase(repository.root)
    assert git.current_branch(repository.root) is None, "a person's rebase is left as it is"
    mark = git.git_dir(repository.root) / git.RELC_REBASE_MARK
    mark.write_text(f"{'0' * 40}\n{ours}\n")  # left by a kill after an earlier rebase of relc's ended
    with pytest.raises(GitError, match="relc did not start it"):
        git.abort_interrupted_rebase(repository.root)
    mark.write_text(f"{fetched}\n{ours}\n")  # as rebase_onto marks its own: onto, and the head it began from
    assert git.abort_interrupted_rebase(repository.root) is True
    assert git.current_branch(repository.root) == "main" and git.head(repository.root) == ours
    assert (repository.root / "releases" / "talk.yaml").read_text() == "talk ours\n"
    assert not (git.git_dir(repository.root) / git.RELC_REBASE_MARK).exists()
    assert git.abort_interrupted_rebase(repository.root) is False
