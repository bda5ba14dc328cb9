"""A release change as a commit: planned in memory, checked in full, then written and
committed together with `rendered/`, under a lock. A plan that fails writes nothing.

Promote and rollback (`promote.py`, `rollback.py`) each plan a `ReleaseChange`; this
module is the one place that turns one into a commit. Every function takes the
repository root and reads only from it, so it works in any worktree.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import pickle
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from compiler import git, history
from compiler.emit import compare_tree, write_atomically, write_tree
from compiler.errors import RelcError, UsageError
from compiler.render import RENDERED_DIR, render_files, render_manifests
from compiler.reporter import format_text
from compiler.validate import ValidationResult, validate_paths

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.spec import Release
    from compiler.validate import CheckedRelease


class RolloutError(RelcError):
    """A promote or rollback that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ReleaseChange:
    """A new content for one release file, and the commit that would record it."""

    name: str
    path: str  # the release file, from relc's folder (`releases/NAME.yaml` or `.yml`)
    before: bytes
    after: bytes
    message: str
    # What the person should know before it lands (also in the commit message).
    warnings: tuple[str, ...] = ()

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.decode("utf-8").splitlines(keepends=True),
                self.after.decode("utf-8").splitlines(keepends=True),
                f"a/{self.path}",
                f"b/{self.path}",
            )
        )


def _lock_path(root: Path) -> Path:
    return git.git_dir(root) / "relc.lock"


def _process_alive(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def repository_lock(root: Path, writing: tuple[str, ...] = ()) -> Iterator[None]:
    """One writing relc per repository. The lock names the process and the paths it is
    about to write, so a run that finds the lock of a dead process (killed mid-change)
    first puts those paths back as HEAD has them, then takes the lock over."""
    path = _lock_path(root)
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder, interrupted = _read_lock(path)
            if holder and _process_alive(holder):
                raise RolloutError(
                    f"another relc (process {holder}) is writing in this repository; wait for it to finish "
                    f"(or remove {path} if no relc is running)"
                ) from None
            _undo_interrupted_change(root, holder, interrupted)
            path.unlink(missing_ok=True)
    else:
        raise RolloutError(f"could not take the lock {path}")
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write("\n".join((str(os.getpid()), *writing)))
            stream.flush()
            os.fsync(stream.fileno())
        yield
    finally:
        path.unlink(missing_ok=True)


def _git_locks_left(root: Path) -> list[Path]:
    """The lock files a `git commit` takes (index, HEAD, and the branch HEAD names) that exist."""
    git_dir = git.git_dir(root)
    candidates = [git_dir / "index.lock", git_dir / "HEAD.lock"]
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        head = ""
    if head.startswith("ref: refs/") and ".." not in head:
        candidates.append(git_dir / f"{head.removeprefix('ref: ')}.lock")
    return [lock for lock in candidates if lock.exists()]


def _read_lock(path: Path) -> tuple[int, list[str]]:
    """The holder's process id and the paths it was writing (none for an old or torn lock)."""
    try:
        lines = path.read_text().splitlines()
        return int(lines[0].strip() or "0") if lines else 0, [line for line in lines[1:] if line]
    except (OSError, ValueError):
        return 0, []


def _undo_interrupted_change(root: Path, holder: int, paths: list[str]) -> None:
    """A relc killed between writing and committing left files that no commit has: put
    them back as HEAD has them (if its commit landed, they already are). Git's own
    locks (the index's, HEAD's, the branch's), left by a git killed with it, need a
    person to say no git runs."""
    if not paths:
        return
    locks = _git_locks_left(root)
    if locks:
        named = " and ".join(str(lock) for lock in locks)
        raise RolloutError(
            f"a relc (process {holder}) was stopped while committing and git's {named} remain: once no git "
            f"command runs, remove them and run relc again; relc will then put {', '.join(paths)} back as HEAD has them"
        )
    git.restore_paths(root, paths)
    for written in paths:
        target = root / written
        # write_atomically's temporary file, when the kill came before its rename.
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def recover_interrupted_change(root: Path) -> None:
    """Before reading the tree: undo what a killed promote or rollback left half-written,
    so a later build renders HEAD and a later commit starts from a clean tree."""
    try:
        path = _lock_path(root)
    except git.GitError:
        return  # not a repository: relc commits nothing here
    if path.exists():
        with repository_lock(root):
            pass


def current_release(
    root: Path, name: str, cache: "ReleaseCache | None" = None, checked: "CheckedRelease | None" = None
) -> tuple[Release, bytes]:
    """The release as its file stands, checked (with the cache: `relc watch` asks this of
    every release in rollout each tick, and an unchanged file's checks are known). A
    `cache` already open spares opening its packs again; `checked`, the file's result
    from a check of the whole folder since the last change to the worktree, spares
    checking it again."""
    from compiler.cache import open_cache

    relative = history.release_file(root, name)
    path = root / relative
    if checked is None:
        if not path.exists():
            raise UsageError(missing_release(name))
        files = [root / file for file in history.release_files(root, name)]  # both spellings: RELC214
        result = validate_paths(files, root, cache=cache if cache is not None else open_cache(root))
        if not result.ok:
            raise RolloutError(f"{relative} is not valid; fix it first", result.diagnostics)
        checked = result.releases[0]
    raw = checked.raw  # the bytes checked, not a second read
    model = _model_of(os.path.abspath(path), checked, raw)
    checked.free(pack=False)  # a parse leaves the document on it: the watcher's folder holds ten thousand
    return model, raw


def missing_release(name: str) -> str:
    """Why no release `name` can be changed: it has no file."""
    return f"no release `{name}`: neither {' nor '.join(history.release_paths(name))} exists"


# The model of each release file as last read, by its absolute path: at most MODELS_KEPT
# kept as they are (about 30 KB each), and at most MODELS_PACKED more kept pickled and
# compressed (about 1.5 KB each, and read back in a tenth of the time a parse takes).
MODELS_KEPT = 1024
MODELS_PACKED = 20_000
_MODELS_BY_PATH: dict[str, tuple[bytes, "Release"]] = {}
_PACKED_BY_PATH: dict[str, tuple[bytes, bytes]] = {}


def _model_of(path: str, checked: "CheckedRelease", raw: bytes) -> "Release":
    """The checked release's model, parsed once per version of the file. A long-running
    `relc watch` asks for every release in rollout each tick, and parsing a thousand
    unchanged files again took over a second of every tick (the checks themselves come
    from the cache). Nothing in relc changes a model in place (they are frozen, and their
    lists are only read), so one model serves every tick until its file changes.

    The first MODELS_KEPT files a watcher asks for keep their models as they are; the
    next MODELS_PACKED keep them pickled, with the digest of the bytes they came from:
    ten thousand live models would take 300 MB, and parsing nine thousand files took
    nine tenths of a later tick at 10,000 releases in rollout. A file asked for while
    both are full is parsed every time."""
    known = _MODELS_BY_PATH.get(path)
    if known is not None and known[0] == raw:
        return known[1]
    digest = hashlib.sha256(raw).digest()
    packed = _PACKED_BY_PATH.get(path)
    if packed is not None and packed[0] == digest:
        # Bytes this process pickled from a model it validated: never read from outside.
        return pickle.loads(zlib.decompress(packed[1]))  # noqa: S301
    model = checked.release
    _keep_model(path, raw, digest, model)
    return model


def _keep_model(path: str, raw: bytes, digest: bytes, model: "Release") -> None:
    """Keep a newly read model: where its file's last one was kept, else as it is while
    there is room, else packed. When both are full the newest entry is not replaced (a
    tick asks in the same order each time: replacing would parse every file past the
    bounds, every tick)."""
    if path in _MODELS_BY_PATH or len(_MODELS_BY_PATH) < MODELS_KEPT:
        _PACKED_BY_PATH.pop(path, None)
        _MODELS_BY_PATH[path] = (raw, model)
    elif path in _PACKED_BY_PATH or len(_PACKED_BY_PATH) < MODELS_PACKED:
        _PACKED_BY_PATH[path] = (digest, zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 1))


def _checked_with(root: Path, change: ReleaseChange) -> ValidationResult:
    """Every release, with the change in place, checked as `relc build` would."""
    from compiler.cache import open_cache
    from compiler.render import release_fragments

    result = validate_paths(
        [root / history.RELEASES_DIR], root, overrides={root / change.path: change.after}, cache=open_cache(root),
        render=release_fragments,
    )  # fmt: skip
    if not result.ok:
        raise RolloutError(
            f"the change would leave the repository invalid, so nothing was written:\n{format_text(result.diagnostics)}",
            result.diagnostics,
        )
    return result


@dataclass(frozen=True)
class Preview:
    """What a change would do, written nowhere: the file's diff, the traffic plan, the
    rendered files that would change."""

    diff: str
    plan: str
    rendered: list[str]


def preview(root: Path, change: ReleaseChange) -> Preview:
    """The release file's diff, its traffic plan (as `relc plan` prints it) and the
    rendered files that would change; writes nothing."""
    from compiler import plan

    result = _checked_with(root, change)
    differences = compare_tree(root / RENDERED_DIR, render_files(result.releases), RENDERED_DIR, inside=root, with_diffs=False)
    changed = [checked for checked in result.releases if checked.name == change.name]
    before = {name: traffic for name, traffic in plan.traffic_before(root, None, frozenset({change.name})).items()
              if name == change.name}  # fmt: skip
    after = plan.manifests_from_files(render_manifests(changed))
    from compiler.traffic import traffic_state

    from compiler.render import describe_gateways

    states = {c.name: traffic_state(c.release) for c in changed}
    plans = [
        replace(release_plan, diffs=plan.gateway_diffs(root, ("HEAD", "HEAD"), release_plan.release, states.get(release_plan.release)))
        for release_plan in plan.make_plan(before, after, {name: describe_gateways(state) for name, state in states.items()})
    ]
    return Preview(change.diff(), plan.format_text(plans), [f"{RENDERED_DIR}/{difference.path}" for difference in differences])


def apply(root: Path, change: ReleaseChange) -> str:
    """Write the release file and the re-rendered tree, and commit both; the commit id."""
    with repository_lock(root, (change.path, RENDERED_DIR)):
        git.require_committable(root)
        result = _checked_with(root, change)
        release_file = root / change.path
        try:
            write_atomically(release_file, change.after)
            # Rendered as it is written, never whole (ten thousand releases make hundreds of
            # MB): a render error stops `write_tree` before it moves anything, and the
            # release file is put back below.
            write_tree(root / RENDERED_DIR, render_files(result.releases), inside=root)
            return git.commit_paths(root, [change.path, RENDERED_DIR], change.message)
        except BaseException:
            # Put back what this run wrote, so a failed commit leaves the tree as it found it.
            git.restore_paths(root, [change.path, RENDERED_DIR])
            raise


def trailer_lines(evidence: tuple[str, ...] = (), **values: str | None) -> str:
    """Git trailers (`Relc-Release: chat`); each piece of evidence a `Relc-Evidence` line,
    so `relc history` can say on what a decision rested."""
    lines = [f"{key.replace('_', '-')}: {value}" for key, value in values.items() if value]
    lines += [f"Relc-Evidence: {' '.join(item.split())}" for item in evidence]
    return "\n".join(lines)
