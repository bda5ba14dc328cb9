"""Git access, in one place: short functions over the git command line.

Every caller passes the repository root. Reads work anywhere (a detached pull request
checkout included); anything that commits first checks the repository is fit for it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from compiler.errors import EXIT_USAGE, RelcError


class GitError(RelcError):
    """A git operation failed or is not possible; the message says why and what to do."""


# A person's git settings that would change what relc parses: paths named from the folder
# git runs in (`relc -C deploy` lost every release's history), a first commit's changes
# left out of `git log` (every release it added lost its start), signatures and colour.
_SETTINGS = ("-c", "diff.relative=false", "-c", "log.showRoot=true", "-c", "log.showSignature=false",
             "-c", "color.ui=never")  # fmt: skip


def _git(root: Path, *arguments: str, input: bytes | None = None) -> bytes:
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        completed = subprocess.run(
            ["git", *_SETTINGS, *arguments], cwd=root, input=input, capture_output=True, check=False, env=environment
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", errors="replace").strip()
        if "not a git repository" in message:
            raise GitError(
                f"{Path(root).resolve()} is not inside a git repository: relc keeps rollout state in Git, so run it "
                "in a clone of the repository that holds releases/"
            )
        raise GitError(f"`git {' '.join(arguments[:3])}` failed: {message}")
    return completed.stdout


def git_dir(root: Path) -> Path:
    return Path(_git(root, "rev-parse", "--absolute-git-dir").decode().strip())


def resolve_revision(root: Path, revision: str) -> str:
    """The full commit id of `revision`; a clear error when it does not exist."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    except GitError:
        if not _git(root, "rev-list", "-n1", "--all").strip():
            raise GitError("the repository has no commits yet: commit the releases first") from None
        hint = " (this clone is shallow: fetch full history, e.g. `fetch-depth: 0`)" if is_shallow(root) else ""
        raise GitError(f"no commit `{revision}` in this repository{hint}", exit_status=EXIT_USAGE) from None


def path_prefix(root: Path) -> str:
    """Where `root` is inside its repository (`deploy/` or empty): git names files from the top."""
    return _git(root, "rev-parse", "--show-prefix").decode().strip()


def is_shallow(root: Path) -> bool:
    return _git(root, "rev-parse", "--is-shallow-repository").decode().strip() == "true"


def require_full_history(root: Path) -> None:
    """History checks on a shallow clone would pass on one commit: refuse instead."""
    if is_shallow(root):
        raise GitError(
            "this clone is shallow, so its history is incomplete and history checks would pass on too few "
            "commits: fetch full history (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
        )


def current_branch(root: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD (as in a pull request checkout)."""
    try:
        return _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").decode().strip()
    except GitError:
        return None


def changed_tracked_files(root: Path) -> list[str]:
    """Tracked files modified in the working tree or the index."""
    output = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=no").decode("utf-8")
    return sorted(_status_paths(output))


def require_committable(root: Path, owned_folder: str = "rendered") -> None:
    """Commits need a branch, a clean tree, a free index and no stray files where relc
    writes: say which is missing before anything is written."""
    lock = git_dir(root) / "index.lock"  # outside a repository, this says so
    if current_branch(root) is None:
        raise GitError(
            "HEAD is detached (as in a pull request checkout): relc commits only on a branch; "
            "check out the branch first (`git switch <branch>`)"
        )
    if lock.exists():
        raise GitError(
            f"{lock} exists: another git command is running, or one died and left it behind; "
            "remove it once no git command runs, then try again (nothing was written)"
        )
    dirty = changed_tracked_files(root)
    if dirty:
        raise GitError(
            "the working tree has uncommitted changes, which a relc commit could mix up: commit or stash "
            f"them first: {', '.join(dirty)}"
        )
    stray = sorted(untracked_files(root, owned_folder))
    if stray:
        raise GitError(
            f"untracked files in {owned_folder}/, which relc owns, would be deleted or committed: move or remove "
            f"them first: {', '.join(stray[:10])}"
        )


@dataclass(frozen=True)
class Commit:
    sha: str
    timestamp: int
    subject: str
    path: str = ""  # the file's name in this commit, where a history follows one file


def file_history(root: Path, revision: str, path: str, follows: Callable[[str], bool] | None = None) -> list[Commit]:
    """Commits of the branch that changed `path`, newest first, following renames
    (`git mv`): each commit carries the name the file had in it. With `follows`, a rename
    from a path it refuses (named from the repository's top) is where the history begins.

    A file made as a copy of another begins where it was copied: `--follow` also follows
    copies, and a release copied from one in a rollout must not inherit its step's start
    (its own traffic began with the copy) nor its revisions as rollback targets.

    First parents only: a change merged from a pull request counts from its merge, the
    moment it reached the branch, not from the branch commit its author dated.
    """
    revision = resolve_revision(root, revision)
    output = _git(
        root, "log", "--first-parent", "--follow", "--format=%x01%H%x00%ct%x00%s%x00", "--name-status", "-z",
        revision, "--", path,
    ).decode("utf-8")  # fmt: skip
    commits = []
    for chunk in output.split("\x01"):
        fields = chunk.split("\0")
        if len(fields) < 3 or not fields[0].strip():
            continue
        # After the subject: a status (M, A, D, R085, C100...) and one or two paths; the last is the name here.
        names = [field.strip("\n") for field in fields[3:] if field.strip("\n")]
        commits.append(Commit(fields[0].strip(), int(fields[1]), fields[2], names[-1] if len(names) > 1 else path))
        if names and names[0].startswith("C"):
            break
        if names and names[0].startswith("R") and len(names) > 2 and follows is not None and not follows(names[1]):
            break
    return commits


@dataclass(frozen=True)
class FileChange:
    """A file's content as one commit left it (`blob` None when the commit deleted it)."""

    commit: str
    timestamp: int
    path: str
    blob: str | None
    renamed_from: str | None = None  # a `git mv` (git's rename detection) in this commit
    subject: str = ""
    added: bool = field(default=False, compare=False)  # the path did not exist before this commit


def changes_under(root: Path, revision: str, folder: str, first_parent: bool = False) -> list[FileChange]:
    """Every change to files under `folder` in the history of `revision`, newest first;
    a rename is one change that names both paths. With `first_parent`, as
    `file_history` sees the branch: its own commits, a merge as one change against its
    first parent."""
    options = ["--first-parent", "--diff-merges=first-parent"] if first_parent else []
    output = _git(
        root, "log", *options, "--format=@%H %ct %s", "--raw", "--no-abbrev", "--find-renames", "-z", revision, "--", folder
    ).decode("utf-8")
    return _raw_changes(output)


def renames_in(root: Path, commits: list[str]) -> list[FileChange]:
    """The renames anywhere in the repository in each of `commits` (against its first
    parent), as git's rename detection pairs the files of the whole tree: where a file
    that appeared in one folder came from."""
    if not commits:
        return []
    output = _git(
        root, "log", "--no-walk=unsorted", "--stdin", "--diff-merges=first-parent", "--format=@%H %ct %s", "--raw",
        "--no-abbrev", "--find-renames", "-z", input="".join(f"{commit}\n" for commit in commits).encode(),
    ).decode("utf-8")  # fmt: skip
    return [change for change in _raw_changes(output) if change.renamed_from is not None]


def _raw_changes(output: str) -> list[FileChange]:
    """The changes of `git log --format=@%H %ct %s --raw --no-abbrev -z`, in its order."""
    changes: list[FileChange] = []
    commit, timestamp, subject = "", 0, ""
    tokens = output.split("\0")
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip("\n")
        if token.startswith("@"):
            header, _, rest = token.partition("\n")
            fields = header[1:].split(" ", 2)
            commit, timestamp, subject = fields[0], int(fields[1]), fields[2] if len(fields) > 2 else ""
            token = rest.lstrip("\n")
        if token.startswith(":"):
            parts = token.split()
            blob = None if parts[4] == "D" else parts[3]
            if parts[4][0] in "RC":  # renamed or copied: the old path, then the new one
                renamed_from = tokens[index + 1] if parts[4][0] == "R" else None
                changes.append(FileChange(commit, timestamp, tokens[index + 2], blob, renamed_from, subject, renamed_from is None))
                index += 3
                continue
            changes.append(FileChange(commit, timestamp, tokens[index + 1], blob, None, subject, parts[4] == "A"))
            index += 2
            continue
        index += 1
    return changes


def read_blobs(root: Path, objects: list[str]) -> dict[str, bytes]:
    """Contents of many objects (blob ids, or `rev:path`) with one `git cat-file --batch`."""
    unique = list(dict.fromkeys(objects))
    if not unique:
        return {}
    output = _git(root, "cat-file", "--batch", input="".join(f"{name}\n" for name in unique).encode("utf-8"))
    contents: dict[str, bytes] = {}
    offset = 0
    for name in unique:
        header_end = output.index(b"\n", offset)
        header = output[offset:header_end].split()
        if header[-1] == b"missing":
            offset = header_end + 1
            continue
        size = int(header[2])
        contents[name] = output[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return contents


def files_at(root: Path, revision: str, folder: str) -> dict[str, bytes]:
    """Every file under `folder` at `revision`, by path relative to the repository root."""
    ids = blob_ids(root, revision, folder)
    blobs = read_blobs(root, list(ids.values()))  # by id: git need not walk the tree once per path
    return {path: blobs[blob] for path, blob in ids.items() if blob in blobs}


def blob_ids(root: Path, revision: str, folder: str) -> dict[str, str]:
    """The object id of every file under `folder` at `revision`, by path."""
    listing = _git(root, "ls-tree", "-r", "-z", revision, "--", folder).decode("utf-8")
    ids = {}
    for entry in listing.split("\0"):
        header, tab, path = entry.partition("\t")
        parts = header.split()
        if tab and len(parts) == 3 and parts[1] == "blob":
            ids[path] = parts[2]
    return ids


def untracked_files(root: Path, folder: str) -> set[str]:
    """Files under `folder` that git does not track and does not ignore, from `root`."""
    listing = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", folder).decode("utf-8")
    return {path for path in listing.split("\0") if path}


def blob_id(content: bytes) -> str:
    """The id git gives `content` as a blob (SHA-1 repositories; another format never matches)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def restore_paths(root: Path, paths: list[str]) -> None:
    """Put `paths` (files or folders) back exactly as HEAD has them, files and index.

    Reads blobs and writes files itself rather than `git checkout`, which needs the
    index lock that a failed commit may be holding. Files under `paths` that HEAD does
    not have are removed: they can only be relc's (stray files were refused up front).
    """
    from compiler.emit import same_bytes, write_atomically

    try:
        _git(root, "reset", "--quiet", "HEAD", "--", *paths)
    except GitError:
        pass  # the index may be locked; the files below are what matter to the gateways
    for path in paths:
        committed = files_at(root, "HEAD", path)
        target = root / path
        present = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target] if target.exists() else []
        for file in present:
            if file.relative_to(root).as_posix() not in committed:
                file.unlink()
        for name, content in committed.items():
            file = root / name
            if not same_bytes(file, content):  # a link there is replaced, never read through
                write_atomically(file, content)


def merge_file(current: bytes, base: bytes, other: bytes, labels: tuple[str, str, str]) -> tuple[bytes, bool]:
    """Three-way merge of one file's contents in memory; (result, had conflicts)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="relc-merge-") as folder:
        paths = []
        for name, content in (("current", current), ("base", base), ("other", other)):
            path = Path(folder) / name
            path.write_bytes(content)
            paths.append(str(path))
        completed = subprocess.run(
            ["git", "merge-file", "-p", "-L", labels[0], "-L", labels[1], "-L", labels[2], *paths],
            capture_output=True,
            check=False,
        )
    if completed.returncode < 0 or completed.returncode > 127:
        raise GitError(f"`git merge-file` failed: {completed.stderr.decode(errors='replace').strip()}")
    return completed.stdout, completed.returncode != 0


def commit_paths(root: Path, paths: list[str], message: str) -> str:
    """Stage exactly `paths` (additions and deletions) and commit them; the new commit id."""
    _git(root, "add", "--all", "--", *paths)
    _git(root, "commit", "--quiet", "--no-verify", "--file=-", "--", *paths, input=message.encode("utf-8"))
    return _git(root, "rev-parse", "HEAD").decode().strip()


def short(sha: str) -> str:
    return sha[:12]


def repository_prefix(root: Path) -> str:
    """Where `root` sits in its repository (`deploy/` or empty): GitHub wants annotation
    paths from the repository root, relc prints them from where it runs."""
    try:
        return _git(root, "rev-parse", "--show-prefix").decode().strip()
    except GitError:
        return ""


# The watcher's synchronisation with a remote: fetch, fast-forward, rebase, push.


def fetch(root: Path, remote: str, branch: str) -> str:
    """Fetch `branch` from `remote`; the commit id the remote branch now has."""
    _git(root, "fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    return resolve_revision(root, f"refs/remotes/{remote}/{branch}")


def head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD").decode().strip()


def on_first_parent_chain(root: Path, older: str, newer: str) -> bool:
    """Whether `older` is `newer` or a commit its branch went through (a first parent of
    a first parent...): then `older..newer` with `--first-parent` is what came since."""
    if older == newer:
        return True
    try:
        lines = _git(root, "rev-list", "--first-parent", "--parents", f"{older}..{newer}").decode().splitlines()
    except GitError:  # `older` is gone (a rewritten history, garbage-collected)
        return False
    oldest = lines[-1].split() if lines else []
    return len(oldest) > 1 and oldest[1] == older


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    environment = {**os.environ, "LC_ALL": "C"}
    completed = subprocess.run(
        ["git", "merge-base", "--is-ancestor", older, newer], cwd=root, capture_output=True, env=environment, check=False
    )
    return completed.returncode == 0


def fast_forward(root: Path, target: str) -> None:
    """Move the checked-out branch (and its files) to `target`, which must be ahead of it."""
    _git(root, "merge", "--ff-only", "--quiet", target)


def rebase_onto(
    root: Path, upstream: str, generated: str | None = None, regenerate: Callable[[], None] | None = None
) -> bool:
    """Replay local commits on `upstream`; False (and nothing changed) on a conflict.

    Commits whose change `upstream` already has become empty and are dropped: that is
    how a rollback another watcher already pushed is adopted rather than repeated.

    A conflict confined to the `generated` folder (files made from the others, such as
    rendered/) is no conflict of intent: `regenerate` writes that folder again from the
    files as merged, and the replay goes on. It raises RelcError or OSError when they do
    not make a valid tree: then, as on any other conflict, nothing is changed.

    While it runs, a mark in the git folder says the rebase is relc's: one a kill left
    stopped is then relc's to abort (`abort_interrupted_rebase`), and no one else's is.
    """
    folder = git_dir(root)
    mark = folder / RELC_REBASE_MARK
    mark.unlink(missing_ok=True)  # one a kill left (a shared clone's other user may own it)
    # What git records of the rebase it starts: the commit it replays onto and the one it began from.
    mark.write_text(f"{resolve_revision(root, upstream)}\n{head(root)}\n")
    try:
        return _rebase_onto(root, upstream, generated, regenerate)
    finally:
        if not _stopped_rebase(folder):  # a rebase its abort could not undo stays relc's to undo
            mark.unlink(missing_ok=True)


RELC_REBASE_MARK = "relc-rebasing"


def _stopped_rebase(folder: Path) -> Path | None:
    """The state folder of a rebase stopped in this git folder, if any."""
    return next((state for state in (folder / "rebase-merge", folder / "rebase-apply") if state.exists()), None)


def _rebase_onto(root: Path, upstream: str, generated: str | None, regenerate: Callable[[], None] | None) -> bool:
    try:
        _git(root, "-c", "core.editor=true", "rebase", "--quiet", "--empty=drop", upstream)
        return True
    except GitError:
        pass
    replayed = False
    try:
        replayed = generated is not None and regenerate is not None and _replay_regenerating(root, generated, regenerate)
    except (RelcError, OSError):
        pass  # the merged files do not make a valid tree: a conflict after all
    finally:
        if not replayed:
            subprocess.run(["git", "rebase", "--abort"], cwd=root, capture_output=True, check=False)
    return replayed


def abort_interrupted_rebase(root: Path) -> bool:
    """Undo a rebase relc began and a kill left stopped (a watcher's, mid-regeneration):
    the branch and its local commits stand again as before it. True when there was one;
    GitError for a rebase someone else stopped in, which is theirs to finish. relc's is
    known by its mark naming the very commits git recorded for it: a mark a kill left
    after its rebase ended names none of a later person's."""
    folder = git_dir(root)
    mark = folder / RELC_REBASE_MARK
    state = _stopped_rebase(folder)
    if state is None:
        mark.unlink(missing_ok=True)
        return False
    if not mark.exists() or mark.read_text().split() != _recorded_rebase(state):
        raise GitError("a rebase someone began is stopped in this clone (relc did not start it): finish it, or run "
                       "`git rebase --abort`, then start relc watch again")  # fmt: skip
    try:
        _git(root, "rebase", "--abort")
    except GitError as error:
        raise GitError(f"relc's rebase, left stopped by a kill, could not be undone ({error}): once no git command "
                       "runs, remove any index.lock left in the git folder and run `git rebase --abort`") from None
    mark.unlink(missing_ok=True)
    return True


def _recorded_rebase(state: Path) -> list[str]:
    """The commit a stopped rebase replays onto and the one it began from, as git keeps them."""
    try:
        return [(state / name).read_text().strip() for name in ("onto", "orig-head")]
    except OSError:
        return []


def _replay_regenerating(root: Path, generated: str, regenerate: Callable[[], None]) -> bool:
    """Go on with a stopped rebase while each stop's conflicts are all in `generated`."""
    for _ in range(MAX_REBASE_STOPS):
        if not _only_generated_conflicts(root, generated):
            return False
        regenerate()
        _git(root, "add", "--all", "--", generated)
        # Regenerated, a commit may change nothing upstream lacks: dropped, as `--empty=drop` does.
        step = "--continue" if _git(root, "diff", "--cached", "--name-only", "HEAD") else "--skip"
        try:
            _git(root, "-c", "core.editor=true", "rebase", step)
            return True
        except GitError:
            continue  # a later commit stopped on a conflict too
    return False


# Local commits a watcher replays are its own few rollbacks and promotions.
MAX_REBASE_STOPS = 64


def _only_generated_conflicts(root: Path, generated: str) -> bool:
    """Whether a rebase stopped on conflicts, each inside the `generated` folder (of
    `root`, which may be below the top of the repository: git names files from the top)."""
    folder = path_prefix(root) + generated.rstrip("/") + "/"
    conflicted = [name for name in _git(root, "diff", "--name-only", "--diff-filter=U", "-z").decode().split("\0") if name]
    return bool(conflicted) and all(name.startswith(folder) for name in conflicted)


@dataclass(frozen=True)
class PushResult:
    """`pushed`; or `behind` (the remote moved on: fetch, rebase, retry); or `refused`."""

    outcome: str
    message: str = ""


def push(root: Path, remote: str, local: str, branch: str, force: bool = False) -> PushResult:
    arguments = ["push", "--porcelain", remote, f"{'+' if force else ''}{local}:refs/heads/{branch}"]
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    completed = subprocess.run(["git", *arguments], cwd=root, capture_output=True, env=environment, check=False)
    output = (completed.stdout + completed.stderr).decode("utf-8", errors="replace")
    if completed.returncode == 0:
        return PushResult("pushed")
    if "[rejected]" in output and ("non-fast-forward" in output or "fetch first" in output):
        return PushResult("behind", "the remote branch moved on")
    reason = next((line.strip() for line in output.splitlines() if "remote rejected" in line or "error:" in line), output.strip())
    return PushResult("refused", reason[-300:])


def reset_to(root: Path, commit: str) -> None:
    """Make the checked-out branch and its files exactly `commit` (the remote decided)."""
    _git(root, "reset", "--hard", "--quiet", commit)


def merge_base(root: Path, one: str, other: str) -> str:
    """The newest commit both histories share."""
    return _git(root, "merge-base", one, other).decode().strip()


def changed_release_names(root: Path, older: str, newer: str) -> list[str]:
    """Names of the release files that differ between two commits."""
    output = _git(root, "diff", "--name-only", "-z", older, newer, "--", "releases/").decode("utf-8")
    return sorted(Path(path).stem for path in output.split("\0") if path.endswith((".yaml", ".yml")))


def add_worktree(root: Path, folder: Path, branch: str) -> None:
    """A new worktree of HEAD in `folder`, on a new branch `branch`."""
    _git(root, "worktree", "add", "--quiet", "-b", branch, str(folder), "HEAD")


def remove_worktree(root: Path, folder: Path, branch: str) -> None:
    """Remove a worktree and its branch, whatever state they were left in."""
    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=root, capture_output=True, check=False)
    subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False)
    subprocess.run(["git", "branch", "-D", branch], cwd=root, capture_output=True, check=False)


def commit_subject(root: Path, revision: str) -> str:
    return _git(root, "log", "-1", "--format=%s", revision).decode("utf-8").strip()


def remote_url(root: Path, remote: str) -> str:
    try:
        return _git(root, "remote", "get-url", remote).decode("utf-8").strip()
    except GitError:
        return ""


def renames_since(root: Path, base: str, folder: str | None = None) -> list[tuple[str, str, int]]:
    """(old path, new path, how alike in %) of every file git's rename detection sees moved
    between `base` and the working tree, paths from the top: anywhere in the repository,
    or, with `folder`, among the files under it only (git pairs no file outside it)."""
    pathspec = ["--", folder] if folder is not None else []
    tokens = _git(root, "diff", "--find-renames", "--name-status", "-z", base, *pathspec).decode("utf-8").split("\0")
    renames, index = [], 0
    while index < len(tokens):
        status = tokens[index]
        if status[:1] in ("R", "C") and index + 2 < len(tokens):
            if status.startswith("R"):
                renames.append((tokens[index + 1], tokens[index + 2], int(status[1:] or 100)))
            index += 3
        else:
            index += 2
    return renames


def renamed_since(root: Path, base: str, folder: str) -> dict[str, str]:
    """{new path: old path} for files under `folder` that git's rename detection sees
    moved between `base` and the working tree (a `git mv` in a pull request)."""
    return {new: old for old, new, _ in renames_since(root, base, folder)}


def messages_between(root: Path, base: str, head: str) -> list[tuple[str, str]]:
    """(commit, full message) of each commit in `head` and not in `base`, newest first."""
    output = _git(root, "log", "--format=%H%x00%B%x00", f"{base}..{head}").decode("utf-8", errors="replace")
    fields = output.split("\0")
    return [(fields[i].strip(), fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i].strip()]


def changed_release_files(root: Path) -> list[str]:
    """Release files modified, added or untracked in the working tree (a change in progress)."""
    output = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "releases/").decode("utf-8")
    return sorted(path for path in _status_paths(output) if path.endswith((".yaml", ".yml")))


def _status_paths(output: str) -> list[str]:
    """The paths of `git status --porcelain=v1 -z`: `XY path`, except that a rename or copy
    is followed by its source as a bare field, which is not an entry of its own."""
    entries = iter(output.split("\0"))
    paths = []
    for entry in entries:
        if len(entry) > 3:
            paths.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                next(entries, None)
    return paths


def changed_release_names_between(root: Path, base: str) -> list[str]:
    """Release files that differ between `base` and the working tree."""
    output = _git(root, "diff", "--name-only", "-z", base, "--", "releases/").decode("utf-8")
    return sorted(path for path in output.split("\0") if path.endswith((".yaml", ".yml")))


def author_and_message(root: Path, commit: str) -> tuple[str, str]:
    """`Name <email>` and the full message of one commit."""
    output = _git(root, "log", "-1", "--format=%an <%ae>%x00%B", commit).decode("utf-8", errors="replace")
    author, _, message = output.partition("\0")
    return author, message
