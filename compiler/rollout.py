"""Promote and roll back as commits: Git stays the one place that holds rollout state.

Each operation is planned first as a `ReleaseChange` (the release file's new bytes and
the commit message), checked and rendered in full in memory, and only then written and
committed together with `rendered/`, under a lock. A plan that fails writes nothing.
Both work in any worktree: they take the repository root and read only from it.
"""

from __future__ import annotations

import difflib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from compiler import git, history
from compiler.diagnostics import Diagnostic
from compiler.reporter import format_text
from compiler.errors import RelcError
from compiler.emit import compare_tree, write_atomically, write_tree
from compiler.render import RENDERED_DIR, render_tree
from compiler.spec import Release, duration_seconds
from compiler.traffic import step_text
from compiler.validate import ValidationResult, validate_paths


class RolloutError(RelcError):
    """A promote or rollback that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ReleaseChange:
    """A new content for one release file, and the commit that would record it."""

    name: str
    before: bytes
    after: bytes
    message: str

    @property
    def path(self) -> str:
        return history.release_path(self.name)

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
def repository_lock(root: Path) -> Iterator[None]:
    """One writing relc per repository; a lock left by a dead process is taken over."""
    path = _lock_path(root)
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                holder = int(path.read_text().strip() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and _process_alive(holder):
                raise RolloutError(
                    f"another relc (process {holder}) is writing in this repository; wait for it to finish "
                    f"(or remove {path} if no relc is running)"
                ) from None
            path.unlink(missing_ok=True)
    else:
        raise RolloutError(f"could not take the lock {path}")
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(str(os.getpid()))
        yield
    finally:
        path.unlink(missing_ok=True)


def current_release(root: Path, name: str) -> tuple[Release, bytes]:
    path = root / history.release_path(name)
    if not path.exists():
        raise RolloutError(f"no release `{name}`: {history.release_path(name)} does not exist")
    result = validate_paths([path], root)
    if not result.ok:
        raise RolloutError(f"{history.release_path(name)} is not valid; fix it first", result.diagnostics)
    return result.releases[0].release, path.read_bytes()


def _checked_with(root: Path, change: ReleaseChange) -> ValidationResult:
    """Every release, with the change in place, checked as `relc build` would."""
    result = validate_paths([root / history.RELEASES_DIR], root, overrides={root / change.path: change.after})
    if not result.ok:
        raise RolloutError(
            f"the change would leave the repository invalid, so nothing was written:\n{format_text(result.diagnostics)}",
            result.diagnostics,
        )
    return result


def preview(root: Path, change: ReleaseChange) -> tuple[str, list[str]]:
    """The release file's diff and the rendered files that would change; writes nothing."""
    result = _checked_with(root, change)
    differences = compare_tree(root / RENDERED_DIR, render_tree(result.releases, root), RENDERED_DIR)
    return change.diff(), [f"{RENDERED_DIR}/{difference.path}" for difference in differences]


def apply(root: Path, change: ReleaseChange) -> str:
    """Write the release file and the re-rendered tree, and commit both; the commit id."""
    git.require_committable(root)
    with repository_lock(root):
        result = _checked_with(root, change)
        files = render_tree(result.releases, root)
        release_file = root / change.path
        try:
            write_atomically(release_file, change.after)
            write_tree(root / RENDERED_DIR, files)
            return git.commit_paths(root, [change.path, RENDERED_DIR], change.message)
        except BaseException:
            # Put back what this run wrote, so a failed commit leaves the tree as it found it.
            git.restore_paths(root, [change.path, RENDERED_DIR], RENDERED_DIR)
            raise


def _trailers(**values: str | None) -> str:
    lines = [f"{key.replace('_', '-')}: {value}" for key, value in values.items() if value]
    return "\n".join(lines)


def plan_rollback(
    root: Path, name: str, reason: str | None = None, trigger: str | None = None, to: str | None = None
) -> ReleaseChange:
    """Revert the rollout changes since the last known-good revision of the release file.

    With no known-good revision in history while a candidate is rolling out, the
    rollout is aborted in the file instead (as Argo Rollouts' abort does): all traffic
    goes to stable and the candidate bundle stays defined for a later retry.
    """
    release, current = current_release(root, name)
    try:
        target = history.rollback_target(root, "HEAD", name, to)
    except history.NoKnownGoodRevision:
        if to is not None or release.rollout.candidate is None:
            raise
        return plan_abort(release, current, reason, trigger)
    path = history.release_path(name)
    if to is not None:
        # An explicit revision is restored whole: every later change to the file is reverted.
        content = target.known_good.content or b""
        reverted = [revision.commit for revision in target.reverted]
    else:
        content, reverted = _revert_traffic_changes(current, target, name)
    if not reverted or content == current:
        raise RolloutError(f"{name} already matches its known-good revision {git.short(target.known_good.commit.sha)}")
    stable_after = history.rollout_roles(content)[0]
    if len(reverted) == 1:
        subject = f'Revert "{reverted[0].subject}"'
    else:
        subject = f"Roll back {name}: {target.suspect} -> {stable_after}"
    body = "\n".join(f"This reverts commit {commit.sha}." for commit in reverted)
    trailers = _trailers(
        Relc_Release=name,
        Relc_Rolled_Back=target.suspect,
        Relc_Known_Good=target.known_good.commit.sha,
        Relc_Reason=reason,
        Relc_Trigger=trigger,
    )
    return ReleaseChange(name, current, content, f"{subject}\n\n{body}\n\n{trailers}\n")


def plan_abort(release: Release, current: bytes, reason: str | None = None, trigger: str | None = None) -> ReleaseChange:
    """End the rollout in the file: candidate and step removed, every request to stable."""
    from compiler.edit import edit_rollout

    rollout = release.rollout
    path = history.release_path(release.name)
    body = (
        f"History holds no revision of {path} without {rollout.candidate} (the release entered Git mid-rollout, "
        f"or its history was squashed), so this commit aborts the rollout in the file instead of reverting "
        f"commits. {rollout.candidate} stays defined for a later retry."
    )
    trailers = _trailers(
        Relc_Release=release.name, Relc_Rolled_Back=rollout.candidate, Relc_Aborted="true",
        Relc_Reason=reason, Relc_Trigger=trigger,
    )  # fmt: skip
    subject = f"Abort rollout of {release.name}: all traffic back to {rollout.stable}"
    after = edit_rollout(current, {"candidate": None, "step": None})
    return ReleaseChange(release.name, current, after, f"{subject}\n\n{body}\n\n{trailers}\n")


def _revert_traffic_changes(
    current: bytes, target: history.RollbackTarget, name: str
) -> tuple[bytes, list[git.Commit]]:
    """Revert, newest first, each commit since known-good that changed bundles or rollout.

    Commits that changed only owners, description or triggers are kept. Each revert is
    a three-way merge in memory, so a conflict writes nothing.
    """
    chain = [*target.reverted, target.known_good]
    content, reverted = current, []
    for revision, older in zip(chain, chain[1:]):
        if history.traffic_fields(revision.content) == history.traffic_fields(older.content):
            continue
        labels = ("current", git.short(revision.commit.sha), git.short(older.commit.sha))
        content, conflicted = git.merge_file(content, revision.content or b"", older.content or b"", labels)
        if conflicted:
            raise RolloutError(
                f"reverting {git.short(revision.commit.sha)} (\"{revision.commit.subject}\") on "
                f"{history.release_path(name)} conflicts with a later change to the same lines; nothing was "
                f"written. Restore the known-good revision whole instead: "
                f"`relc rollback {name} --to {git.short(target.known_good.commit.sha)}`"
            )
        reverted.append(revision.commit)
    return content, reverted


@dataclass(frozen=True)
class StepTiming:
    began: git.Commit | None
    hold_seconds: float

    @property
    def ready_at(self) -> float | None:
        return None if self.began is None else self.began.timestamp + self.hold_seconds


def step_timing(root: Path, release: Release) -> StepTiming:
    step_number = release.rollout.current_step
    if step_number is None:
        return StepTiming(None, 0)
    hold = duration_seconds(release.rollout.steps[step_number - 1].hold)
    return StepTiming(history.step_began(root, "HEAD", release.name), hold)


def _describe_step(release: Release, number: int) -> str:
    step = release.rollout.steps[number - 1]
    return f"step {number} of {len(release.rollout.steps)} ({step_text(step.kind, step.percent)})"


def plan_promote(root: Path, name: str, force: bool = False, now: float | None = None) -> ReleaseChange:
    """Advance the rollout one step; at the last step the candidate becomes stable."""
    from compiler.edit import edit_rollout

    release, current = current_release(root, name)
    rollout = release.rollout
    if rollout.candidate is None or rollout.current_step is None:
        raise RolloutError(f"{name} has no rollout in progress: set rollout.candidate to start one")
    timing = step_timing(root, release)
    moment = time.time() if now is None else now
    if timing.began is None:
        raise RolloutError(f"the current step of {name} is not committed yet: commit it, then promote after its hold")
    if not force and timing.ready_at is not None and moment < timing.ready_at:
        remaining = timing.ready_at - moment
        raise RolloutError(
            f"{name} entered {_describe_step(release, rollout.current_step)} in {git.short(timing.began.sha)} at "
            f"{format_utc(timing.began.timestamp)}; its hold ends at {format_utc(timing.ready_at)} (in {format_span(remaining)}). "
            "Promote then, or now with --force"
        )
    number = rollout.current_step
    if number < len(rollout.steps):
        changes: dict[str, object] = {"step": number + 1}
        subject = f"Promote {name}: {rollout.candidate} to {_describe_step(release, number + 1)}"
    else:
        changes = {"stable": rollout.candidate, "candidate": None, "previous": rollout.stable, "step": None}
        subject = f"Promote {name}: {rollout.candidate} is stable ({rollout.stable} kept as previous)"
    trailers = _trailers(Relc_Release=name, Relc_Forced="true" if force and timing.ready_at and moment < timing.ready_at else None)
    after = edit_rollout(current, changes)
    return ReleaseChange(name, current, after, f"{subject}\n\n{trailers}\n")


def format_utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def format_span(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
