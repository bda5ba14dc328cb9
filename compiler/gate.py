"""The rollout gate: a pull request may move a rollout only as `relc promote` would.

Compared with the base branch, a change to a release may advance its step by one after
the step's hold, promote the candidate at the last step, or go back (rollback, abort)
at any time. It may not skip steps, skip a hold, make a bundle stable without passing
the steps, or rewrite steps already passed. An explicit, visible override lets such a
change through: a `Relc-Override: <release>: <reason>` trailer (or `Relc-Override:
<reason>` for every release) on a commit of the pull request, a `Relc-Forced` trailer
(what `relc promote --force` writes), or `relc check --override REASON`, which a
workflow can map from a pull request label. Overridden problems are warnings, and the
plan shows them loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compiler import git, history
from compiler.diagnostics import Diagnostic, Severity, define
from compiler.validate import CheckedRelease

if TYPE_CHECKING:
    from typing import Callable

    from compiler.cache import ReleaseCache
    from compiler.load import Position
    from compiler.spec import Release

_OVERRIDE = re.compile(r"^Relc-Override:[ \t]*(?P<text>.+)$", re.MULTILINE)
_FORCED = re.compile(r"^Relc-Forced:[ \t]*true[ \t]*$", re.MULTILINE)
_RELEASE_REASON = re.compile(r"^(?P<release>[a-z0-9][a-z0-9-]*):[ \t]*(?P<reason>.+)$")


@dataclass(frozen=True)
class Override:
    """Who may bypass the gate, and why: `release` None applies to every release."""

    release: str | None
    reason: str
    source: str  # the commit, or "--override"

    def covers(self, release: str) -> bool:
        return self.release is None or self.release == release


def overrides_in(root: Path, base: str, flag_reason: str | None = None) -> list[Override]:
    """Overrides stated on the commits between `base` and HEAD, and by the flag."""
    found = [Override(None, flag_reason, "--override")] if flag_reason else []
    for commit, message in git.messages_between(root, base, "HEAD"):
        for match in _OVERRIDE.finditer(message):
            text = match.group("text").strip()
            named = _RELEASE_REASON.match(text)
            release, reason = (named.group("release"), named.group("reason")) if named else (None, text)
            found.append(Override(release, reason.strip(), git.short(commit)))
        if _FORCED.search(message):
            release = next(iter(re.findall(r"^Relc-Release:[ \t]*(\S+)", message, re.MULTILINE)), None)
            found.append(Override(release, "relc promote --force", git.short(commit)))
    return found


def release_at(root: Path, commit: str, name: str) -> Release | None:
    """The release `name` as committed at `commit`; None when it is absent or invalid there."""
    # `.yaml` or `.yml`, in one git call; `./`: from relc's folder, not the top (`relc -C deploy`).
    revisions = {f"{commit}:./{path}": path for path in history.release_paths(name)}
    found = git.read_blobs(root, list(revisions))
    revision = next((revision for revision in revisions if revision in found), None)
    return None if revision is None else _parsed_release(found[revision], revisions[revision])


def _parsed_release(content: bytes, path: str) -> Release | None:
    from compiler.load import load_bytes
    from compiler.model import build_release

    document, _ = load_bytes(content, path)
    return build_release(document)[0] if document is not None else None


RELC702 = define(
    "RELC702",
    title="rollout skips a step",
    meaning="the pull request advances a rollout by more than one step",
    fix="promote one step at a time (`relc promote`), or override visibly (below)",
)
RELC703 = define(
    "RELC703",
    title="rollout advanced before its hold ended",
    meaning="the pull request advances a rollout before the current step's hold ended (timed from the commit "
            "that entered the step on the base branch)",
    fix="wait for the hold (the message says when it ends), or override",
)
RELC704 = define(
    "RELC704",
    title="bundle made stable without passing the rollout",
    meaning="a bundle becomes stable without passing the rollout's steps (a candidate promoted before its last "
            "step, or a new stable with no rollout)",
    fix="roll it out step by step, or override",
)
RELC705 = define(
    "RELC705",
    title="a passed rollout step was edited",
    meaning="a rollout step the base branch has already passed was edited",
    fix="leave passed steps as they are; change the steps still to come",
)

RELC706 = define(
    "RELC706",
    title="a release file moved in from another releases folder and changed",
    meaning="the change moves a release file from another `releases/` folder (relc's files moved within the "
            "repository) and edits it too: the base branch has no history under the new path, so the gate and the "
            "immutability check could not judge the edit",
    fix="move relc's files in a pull request that changes nothing else, then make the edit in the next one",
)


RELC707 = define(
    "RELC707",
    title="a release file changed its suffix in a way git does not see as a move",
    meaning="the change turns `releases/NAME.yaml` into `NAME.yml` (or back) and git sees one file deleted and "
            "another added, in the whole change (edited too much) or in its commits (deleted in one, added in "
            "another), or the new file is not in git yet (a plain `mv`): the release's history, which rollback, "
            "`relc history` and the step timing read, would begin again there",
    fix="rename the file with `git mv` in a pull request that changes nothing else, then edit it in the next one",
)


def suffix_switch_diagnostics(root: Path, base: str, releases: list[CheckedRelease]) -> list[Diagnostic]:
    """RELC707 for each release file whose suffix changed since `base` where git's rename
    detection does not pair the two files, in the whole change (what a merge commit or a
    squash records) or in the commit that made it (what a rebase or fast-forward merge
    keeps): rollback would find no history before it."""
    base_ids = git.blob_ids(root, base, history.RELEASES_DIR)
    switched = {}  # the file now -> (its release, its file at the base), from relc's folder
    for checked in releases:
        own = f"{history.RELEASES_DIR}/{Path(checked.path).name}"
        before = history.release_path_in(checked.name, base_ids)
        if own not in base_ids and before is not None:
            switched[own] = (checked, before)
    if not switched:
        return []
    prefix = git.path_prefix(root)  # git names renames from the top
    whole = {(old, new) for old, new, _ in git.renames_since(root, base, history.RELEASES_DIR)}
    committed = git.blob_ids(root, "HEAD", history.RELEASES_DIR)
    commits = git.changes_under(root, f"{base}..HEAD", history.RELEASES_DIR, first_parent=True)
    each = {(change.renamed_from, change.path) for change in commits if change.renamed_from is not None}
    problems = []
    untracked = git.untracked_files(root, history.RELEASES_DIR)
    for own, (checked, before) in switched.items():
        pair = (prefix + before, prefix + own)
        if own in untracked:  # a plain `mv`: git's diff sees the old file gone and nothing added
            problems.append(Diagnostic(checked.path, 1, 1, "RELC707",
                                       f"was {before} at {base} and is not in git yet: `git add` it (or move it with "
                                       f"`git mv {before} {own}`), so that git sees the move, then check again"))  # fmt: skip
            continue
        if pair not in whole:
            how = f"is edited so much that git sees it deleted and {own} added"
        elif own in committed and pair not in each:
            how = f"is deleted in one commit and {own} added in another (a rebase or fast-forward merge keeps both)"
        else:
            continue
        problems.append(
            Diagnostic(checked.path, 1, 1, "RELC707",
                       f"was {before} at {base} and {how}: its history would begin again there and rollback find "
                       f"none; `git mv {before} {own}` in a commit and pull request that change nothing else, then edit")  # fmt: skip
        )
    return problems


def moved_in_diagnostics(root: Path, base: str, releases: list[CheckedRelease]) -> list[Diagnostic]:
    """RELC706 for each release file moved in from another `releases/` folder since `base`
    and edited as well; moved as it was, it is checked against its history as before."""
    folder = git.path_prefix(root) + history.RELEASES_DIR + "/"
    checked = {c.name: c for c in releases}  # a release file is named after its release (RELC201)
    diagnostics = []
    for old, new, alike in git.renames_since(root, base):
        release = checked.get(Path(new).stem) if new.startswith(folder) and history.is_release_file(new) else None
        if release is None or alike == 100 or old.startswith(folder) or Path(old).parent.name != history.RELEASES_DIR:
            continue
        diagnostics.append(
            Diagnostic(release.path, 1, 1, "RELC706",
                       f"moved from {old} since {base} and edited in the same change ({alike}% alike): the base branch has "
                       "no history under the new path to check the edit against; move relc's files in a pull request "
                       "that changes nothing else, then edit")  # fmt: skip
        )
    return diagnostics


def _step_problems(
    before: Release, after: Release, now: float, began_at_base: "Callable[[str], git.Commit | None]"
) -> list[tuple[tuple, str, str]]:
    """(field path, code, message) for each way `after` moves the rollout past the gate."""
    from compiler.spec import duration_seconds
    from compiler.traffic import step_position

    old, new = before.rollout, after.rollout
    problems: list[tuple[tuple, str, str]] = []
    going_back = new.stable == old.previous or (new.stable == old.stable and new.candidate is None)
    if new.stable != old.stable and not going_back:
        promoted_at_end = (
            old.candidate == new.stable and old.current_step is not None and old.current_step == len(old.steps)
        )
        if not promoted_at_end:
            at = step_position(old.current_step, len(old.steps)) if old.candidate == new.stable else "no rollout"
            problems.append(((("rollout", "stable")), "RELC704",
                             f"`{new.stable}` becomes stable from {at} on the base branch, without passing the "
                             "rollout's steps: promote step by step with `relc promote`"))  # fmt: skip
    same_rollout = old.candidate is not None and new.candidate == old.candidate
    if same_rollout and old.current_step is not None and new.current_step is not None:
        passed = old.current_step - 1
        for index in range(min(passed, len(old.steps), len(new.steps))):
            if old.steps[index] != new.steps[index]:
                problems.append((("rollout", "steps", index), "RELC705",
                                 f"rollout.steps[{index}] was already passed (the base branch is at step "
                                 f"{old.current_step}) and must not change"))  # fmt: skip
        if new.current_step > old.current_step + 1:
            problems.append((("rollout", "step"), "RELC702",
                             f"the step jumps from {old.current_step} to {new.current_step}: a rollout advances one "
                             "step at a time (`relc promote`)"))  # fmt: skip
    advancing = (same_rollout and (new.current_step or 0) > (old.current_step or 0)) or (
        old.candidate is not None and new.stable == old.candidate and new.stable != old.stable
    )
    if advancing and old.current_step is not None:
        began = began_at_base(after.name)
        hold = duration_seconds(old.steps[old.current_step - 1].hold)
        if began is not None and now < began.timestamp + hold:
            from compiler.times import format_span, format_utc

            ready = began.timestamp + hold
            problems.append((("rollout", "step") if new.current_step else ("rollout", "stable"), "RELC703",
                             f"step {old.current_step} began in {git.short(began.sha)}; its hold ({old.steps[old.current_step - 1].hold}) "
                             f"ends at {format_utc(ready)} (in {format_span(ready - now)}): promote after it"))  # fmt: skip
    return problems


def gate_diagnostics(
    root: Path, base: str, releases: list[CheckedRelease], now: float, overrides: list[Override],
    cache: "ReleaseCache | None" = None,
) -> list[Diagnostic]:
    """Every rollout move past the gate; a warning instead of an error where overridden."""
    base_commit = git.resolve_revision(root, base)
    # Releases whose bytes are the base's moved nothing: told apart by blob id, one git
    # process for all, and only the others are read and parsed.
    base_ids = git.blob_ids(root, base_commit, history.RELEASES_DIR)
    # Each release's file at the base, `.yaml` or `.yml`: renamed from one to the other, however
    # much it is also edited, it is no new release.
    base_paths = {c.name: path for c in releases if (path := history.release_path_in(c.name, base_ids)) is not None}
    changed = [c for c in releases if c.name in base_paths and base_ids[base_paths[c.name]] != git.blob_id(c.raw)]
    base_contents = git.read_blobs(root, [base_ids[base_paths[c.name]] for c in changed])
    began: dict[str, git.Commit | None] = {}

    def began_at_base(name: str) -> git.Commit | None:
        """Where each changed release's step began on the base branch: one walk of history
        for all of them, made only when one advances."""
        if not began:
            began.update(history.steps_began(root, base_commit, [c.name for c in changed], cache))
        return began[name]

    diagnostics = []

    def add(checked: CheckedRelease, position: "Position", code: str, message: str) -> None:
        """A gate problem; a warning where an override covers the release."""
        diagnostic = Diagnostic(checked.path, position.line, position.column, code, message)
        override = next((o for o in overrides if o.covers(checked.name)), None)
        if override is not None:
            diagnostic = replace(diagnostic, severity=Severity.WARNING,
                                 message=f"OVERRIDDEN ({override.source}: {override.reason}): {message}")  # fmt: skip
        diagnostics.append(diagnostic)

    for checked in changed:
        content = base_contents.get(base_ids[base_paths[checked.name]])
        if content is None or content == checked.raw:
            continue  # a new release may start in any state; an unchanged one moved nothing
        before = _parsed_release(content, base_paths[checked.name])
        if before is None:
            continue
        for path, code, message in _step_problems(before, checked.release, now, began_at_base):
            add(checked, checked.document.position_of(path), code, message)
    return diagnostics


def base_diagnostics(
    root: Path, base: str, releases: list[CheckedRelease], override: str | None = None,
    cache: "ReleaseCache | None" = None,
) -> list[Diagnostic]:
    """Everything `relc check --base` judges against the base branch: published bundles
    changed in place (RELC701), rollout moves past the gate (RELC702-705), release files
    moved in and edited (RELC706) or given another suffix in a way git cannot pair
    (RELC707). `relc plan --base` shows the same, so a plan never reads as a go-ahead
    for a pull request the gate fails."""
    import time

    from compiler.immutability import immutability_diagnostics

    return [
        *immutability_diagnostics(root, base, releases, cache),
        *gate_diagnostics(root, base, releases, time.time(), overrides_in(root, base, override), cache),
        *moved_in_diagnostics(root, base, releases),
        *suffix_switch_diagnostics(root, base, releases),
    ]
