"""Rollback as a commit: revert the rollout changes since the last known-good revision.

Commits since then that changed bundles or rollout are reverted newest first, each a
three-way merge in memory; commits that changed only owners, description or triggers
are kept. With no known-good revision the rollout is aborted in the file instead.
"""

from __future__ import annotations

from pathlib import Path

from compiler import git, history
from compiler.changes import ReleaseChange, RolloutError, current_release, trailer_lines
from compiler.spec import Release


def plan_rollback(
    root: Path, name: str, reason: str | None = None, trigger: str | None = None, to: str | None = None,
    evidence: tuple[str, ...] = (),
) -> ReleaseChange:
    """Revert the rollout changes since the last known-good revision of the release file.

    With no known-good revision in history while a candidate is rolling out, the
    rollout is aborted in the file instead (as Argo Rollouts' abort does): all traffic
    goes to stable and the candidate bundle stays defined for a later retry.
    """
    release, current = current_release(root, name)
    path = history.release_file(root, name)
    try:
        target = history.rollback_target(root, "HEAD", name, to)
    except history.NoKnownGoodRevision:
        if to is not None or release.rollout.candidate is None:
            raise
        return plan_abort(release, path, current, reason, trigger, evidence)
    if to is not None:
        # An explicit revision is restored whole: every later change to the file is reverted.
        content = _named(target.known_good.content or b"", name)
        reverted = [revision.commit for revision in target.reverted]
    else:
        content, reverted = _revert_traffic_changes(current, target, path, name)
    if not reverted or content == current:
        raise RolloutError(f"{name} already matches its known-good revision {git.short(target.known_good.commit.sha)}")
    stable_after, candidate_after, step_after = history.rollout_roles(content)
    warnings: tuple[str, ...] = ()
    if to is not None:
        known_good = target.known_good.commit
        serving = f"{stable_after} stable" + (f", {candidate_after} at step {step_after}" if candidate_after else "")
        subject = f"Restore {name} as of {git.short(known_good.sha)}: {serving}"
        warnings = _rolled_back_before(root, known_good.sha, name, {stable_after, candidate_after} - {None})
    elif len(reverted) == 1:
        subject = f'Revert "{reverted[0].subject}"'
    else:
        subject = f"Roll back {name}: {target.suspect} -> {stable_after}"
    body = "\n".join(f"This reverts commit {commit.sha}." for commit in reverted)
    body += "".join(f"\n\nWarning: {warning}" for warning in warnings)
    trailers = trailer_lines(
        evidence,
        Relc_Release=name,
        Relc_Rolled_Back=target.suspect,
        Relc_Known_Good=target.known_good.commit.sha,
        Relc_Reason=reason,
        Relc_Trigger=trigger,
    )
    return ReleaseChange(name, path, current, content, f"{subject}\n\n{body}\n\n{trailers}\n", warnings)


def _rolled_back_before(root: Path, since: str, name: str, serving: set[str]) -> tuple[str, ...]:
    """Bundles a restore puts back on traffic that a rollback took off since `since`."""
    import re

    warnings = []
    for commit, message in git.messages_between(root, since, "HEAD"):
        if re.search(rf"^Relc-Release:[ \t]*{re.escape(name)}[ \t]*$", message, re.MULTILINE) is None:
            continue
        for version in re.findall(r"^Relc-Rolled-Back:[ \t]*(\S+)", message, re.MULTILINE):
            if version in serving:
                warnings.append(f"{version} serves again, though {git.short(commit)} rolled it back "
                                f"(\"{message.splitlines()[0]}\")")  # fmt: skip
    return tuple(dict.fromkeys(warnings))


def plan_abort(
    release: Release, path: str, current: bytes, reason: str | None = None, trigger: str | None = None,
    evidence: tuple[str, ...] = (),
) -> ReleaseChange:
    """End the rollout in the file (`path`): candidate and step removed, every request to stable."""
    from compiler.edit import edit_rollout

    rollout = release.rollout
    body = (
        f"History holds no revision of {path} without {rollout.candidate} (the release entered Git mid-rollout, "
        f"or its history was squashed), so this commit aborts the rollout in the file instead of reverting "
        f"commits. {rollout.candidate} stays defined for a later retry."
    )
    trailers = trailer_lines(
        evidence, Relc_Release=release.name, Relc_Rolled_Back=rollout.candidate, Relc_Aborted="true",
        Relc_Reason=reason, Relc_Trigger=trigger,
    )  # fmt: skip
    subject = f"Abort rollout of {release.name}: all traffic back to {rollout.stable}"
    after = edit_rollout(current, {"candidate": None, "step": None})
    return ReleaseChange(release.name, path, current, after, f"{subject}\n\n{body}\n\n{trailers}\n")


def _revert_traffic_changes(
    current: bytes, target: history.RollbackTarget, path: str, name: str
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
                f"{path} conflicts with a later change to the same lines; nothing was "
                f"written. Restore the known-good revision whole instead: "
                f"`relc rollback {name} --to {git.short(target.known_good.commit.sha)}`"
            )
        reverted.append(revision.commit)
    return content, reverted


def _named(content: bytes, name: str) -> bytes:
    """A revision from before a `git mv` names the release as its old file did: restored
    whole, it keeps the name the file has now (the rename is not a traffic change)."""
    named = history._parse(content) if content else None
    if not isinstance(named, dict) or named.get("name") in (None, name):
        return content
    from compiler.edit import edit_document

    def rename(data: dict) -> None:
        data["name"] = name  # route.model, the clients' contract, stays as that revision had it

    return edit_document(content, rename)
