"""The audit trail a registry gives, read from Git: who promoted, rolled back, aborted or
overrode what, when, why, and on which evidence, from each commit of a release file and
its `Relc-*` trailers."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from compiler import git, history
from compiler.times import format_utc

_TRAILER = re.compile(r"^(Relc-[A-Za-z-]+):[ \t]*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class HistoryEntry:
    commit: str
    timestamp: int
    author: str
    subject: str
    action: str  # promote, rollback, abort, restore, override, change
    stable: str | None
    candidate: str | None
    step: int | None
    reason: str | None
    trigger: str | None
    evidence: tuple[str, ...]
    overrides: tuple[str, ...]
    forced: bool


def _action(subject: str, trailers: dict[str, list[str]]) -> str:
    if "Relc-Aborted" in trailers:
        return "abort"
    if subject.startswith("Restore "):
        return "restore"
    if "Relc-Rolled-Back" in trailers:
        return "rollback"
    if subject.startswith("Promote "):
        return "promote"
    if "Relc-Override" in trailers:
        return "override"
    return "change"


def release_history(root: Path, name: str) -> list[HistoryEntry]:
    """Every commit of `releases/NAME.yaml` on the branch, newest first."""
    entries = []
    for revision in history.revisions(root, "HEAD", name):
        commit = revision.commit
        author, message = git.author_and_message(root, commit.sha)
        trailers: dict[str, list[str]] = {}
        for key, value in _TRAILER.findall(message):
            trailers.setdefault(key, []).append(value.strip())
        entries.append(HistoryEntry(
            commit=commit.sha, timestamp=commit.timestamp, author=author, subject=commit.subject,
            action=_action(commit.subject, trailers), stable=revision.stable, candidate=revision.candidate,
            step=revision.step, reason=next(iter(trailers.get("Relc-Reason", [])), None),
            trigger=next(iter(trailers.get("Relc-Trigger", [])), None), evidence=tuple(trailers.get("Relc-Evidence", [])),
            overrides=tuple(trailers.get("Relc-Override", [])), forced="Relc-Forced" in trailers,
        ))  # fmt: skip
    return entries


def history_text(name: str, entries: list[HistoryEntry]) -> str:
    lines = [f"{name}: {len(entries)} change(s), newest first"]
    for entry in entries:
        serving = f"stable {entry.stable}" + (f", {entry.candidate} at step {entry.step}" if entry.candidate else "")
        flags = " FORCED" if entry.forced else ""
        lines.append(f"{format_utc(entry.timestamp)}  {git.short(entry.commit)}  {entry.action:<8} {entry.author}{flags}")
        lines.append(f"    {entry.subject}  [{serving}]")
        lines += [f"    reason: {entry.reason}"] if entry.reason else []
        lines += [f"    trigger: {entry.trigger}"] if entry.trigger else []
        lines += [f"    OVERRIDE: {override}" for override in entry.overrides]
        lines += [f"    evidence: {item}" for item in entry.evidence]
    return "\n".join(lines) + "\n"


def history_records(entries: list[HistoryEntry]) -> list[dict]:
    return [{**asdict(entry), "evidence": list(entry.evidence), "overrides": list(entry.overrides)} for entry in entries]
