"""What Git history says about releases: published bundles, step start times, known-good.

History replaces a controller's database: a bundle version seen on the base branch is
published for good, a step began with the commit that entered it, and the last
known-good revision is the newest one in which a suspect bundle took no part.
Reading is fast on long histories: one `git log` and one `git cat-file --batch`, and a
file revision whose `bundles:` block was already seen is not parsed again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Container, Iterator, Mapping

from typing import TYPE_CHECKING

from compiler import git
from compiler.load import load_bytes
from compiler.progress import progress

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.parallel import Workers
    from compiler.spec import Release

RELEASES_DIR = "releases"
RELEASE_SUFFIXES = (".yaml", ".yml")  # `.yaml` first: where a release is looked for first


@dataclass(frozen=True)
class Publication:
    """The first time a bundle version reached the history: its digest then, and where
    its content can be read again (`publication_content`): a scan of ten thousand
    releases keeps digests, not every published bundle whole."""

    release: str
    version: str
    digest: str
    commit: str
    timestamp: int
    path: str = field(compare=False, repr=False)  # the release file's path in that commit


def is_release_file(path: str) -> bool:
    """Whether `path` (from any folder) is a release file in a folder named `releases`:
    relc's own, or relc's before its files moved."""
    source = PurePosixPath(path)
    return source.parent.name == RELEASES_DIR and source.suffix in RELEASE_SUFFIXES


def release_path(name: str) -> str:
    """Where a release's file is made (`relc init`) and looked for first."""
    return f"{RELEASES_DIR}/{name}{RELEASE_SUFFIXES[0]}"


def release_paths(name: str) -> tuple[str, ...]:
    """Where release `name` may be kept, in the order relc looks: `.yaml`, then `.yml`."""
    return tuple(f"{RELEASES_DIR}/{name}{suffix}" for suffix in RELEASE_SUFFIXES)


def release_path_in(name: str, paths: Container[str]) -> str | None:
    """The release's file among `paths` (relative to relc's folder): `releases/NAME.yaml`,
    else `releases/NAME.yml`; None when neither is."""
    return next((path for path in release_paths(name) if path in paths), None)


def _release_files_present(root: Path, name: str) -> Iterator[str]:
    """The files of release `name` in the working tree, in the order relc looks."""
    return (path for path in release_paths(name) if (root / path).is_file())


def release_files(root: Path, name: str) -> list[str]:
    """Every file of release `name` in the working tree, from relc's folder: one, or two
    when both `NAME.yaml` and `NAME.yml` are there (RELC214 when checked together); the
    `.yaml` path, to name, when neither is."""
    return list(_release_files_present(root, name)) or [release_path(name)]


def release_file(root: Path, name: str) -> str:
    """The release's file in the working tree, from relc's folder: `releases/NAME.yaml`,
    else `releases/NAME.yml`, and `releases/NAME.yaml` (to name) when neither is there.
    Stops at the first found: the watcher asks it of every release in rollout each tick."""
    return next(_release_files_present(root, name), release_path(name))


def release_paths_at(root: Path, revision: str, names: list[str]) -> dict[str, str]:
    """Each release's file at `revision`, so that its history is read under the name it
    has there (a `.yml` one too); `releases/NAME.yaml` for a release with no file there."""
    present = git.blob_ids(root, revision, RELEASES_DIR)
    return {name: release_path_in(name, present) or release_path(name) for name in names}


def _parse(content: bytes) -> Any:
    document, _ = load_bytes(content, "history.yaml")
    return document.data if document is not None else None


def _bundles_key(content: bytes) -> bytes:
    """What decides a file version's bundles: the exact text of its top-level `bundles`
    entry, as the YAML parser delimits it, when nothing outside that text can change
    its meaning (no alias in it; the first document's); else the whole file.

    Versions that share this text share their bundles, so each is parsed once. A text
    search for the block would not do: a block whose dashes stand at the left edge, or
    a multi-line string holding `bundles:`, would make versions with other bundles
    look the same, and a bundle published there could then be changed unseen."""
    span = _plain_bundles_block(content)
    if span is None:
        span = _bundles_span(content)
    return b"whole\0" + content if span is None else b"bundles\0" + span


# Lines at the left edge, searched for after a newline (put before the first line):
# `^` with re.MULTILINE is tried at every character, ten times slower.
_BUNDLES_LINE = re.compile(rb"\nbundles[ \t]*:")
_ANY_TOP_LEVEL_LINE = re.compile(rb"\n[^\s#]")
# A line at the left edge that is not blank, a comment, or a plain `key:`.
_OTHER_TOP_LEVEL_LINE = re.compile(rb"\n(?=[^\s#])(?![A-Za-z_][A-Za-z0-9_-]*[ \t]*:(?:[ \t]|$))", re.MULTILINE)
# Backslash escapes, taken out before quotes are matched: `\"` closes no string.
_ESCAPES = re.compile(rb'\\\\|\\"')
# The quotes and brackets of a line (all else deleted) when the line closes each one it
# opens: quoted strings, and flow collections two deep at most. Every alternative
# starts with its own character, so a failed match backtracks little.
_QUOTED = rb"\"\"|''"
_FLOW_SEQUENCE = rb"\[(?:" + _QUOTED + rb"|\{(?:" + _QUOTED + rb")*\})*\]"
_FLOW_MAPPING = rb"\{(?:" + _QUOTED + rb"|\[(?:" + _QUOTED + rb")*\])*\}"
_CLOSED_LINE = rb"(?:" + _QUOTED + rb"|" + _FLOW_SEQUENCE + rb"|" + _FLOW_MAPPING + rb")*"
_CLOSED_LINES = re.compile(rb"(?:" + _CLOSED_LINE + rb"\n)*" + _CLOSED_LINE)
_NOT_FLOW_CHARACTERS = bytes(set(range(256)) - set(b"[]{}\"'\n"))


def _plain_bundles_block(content: bytes) -> bytes | None:
    """The same text as `_bundles_span`, found without the parser in a file laid out
    plainly (most are): each line at the left edge is a plain `key:`, one of them
    `bundles:`, and every line closes each quote and bracket it opens, so no value
    spans into a line at the left edge; and no alias in the block. None otherwise."""
    lines = b"\n" + content
    starts = list(_BUNDLES_LINE.finditer(lines))
    if len(starts) != 1 or _OTHER_TOP_LEVEL_LINE.search(lines) is not None:
        return None
    flow = (_ESCAPES.sub(b"", content) if b"\\" in content else content).translate(None, _NOT_FLOW_CHARACTERS)
    if _CLOSED_LINES.fullmatch(flow) is None:
        return None
    following = _ANY_TOP_LEVEL_LINE.search(lines, starts[0].end())
    block = lines[starts[0].start() + 1 : following.start() + 1 if following else len(lines)]
    return None if b"*" in block else block


def _bundles_span(content: bytes) -> bytes | None:
    """The text from the top-level `bundles` key to the next top-level key (or the
    mapping's end), found from the parser's events, which are read no further; None
    when there is no clean one."""
    from ruamel.yaml import events
    from ruamel.yaml.cyaml import CParser
    from ruamel.yaml.error import YAMLError

    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    parser = CParser(text)
    opening, closing = (events.MappingStartEvent, events.SequenceStartEvent), (events.MappingEndEvent, events.SequenceEndEvent)
    depth, at_key, start, end, documents = 0, False, None, None, 0
    try:
        while (event := parser.get_event()) and type(event) is not events.StreamEndEvent:
            kind = type(event)
            if kind is events.AliasEvent and start is not None:
                return None  # its anchor may stand outside the span
            if kind is events.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None
                continue
            if depth == 1 and at_key:  # a top-level key, or the end of the top-level mapping
                if start is not None:
                    # The span ends here. What follows cannot change its meaning: a second
                    # `bundles` key or document makes the file fail to load, so it published
                    # nothing, and crediting it with these bundles errs on the side of caution.
                    end = event.start_mark.index
                    break
                if kind is events.MappingEndEvent:
                    depth = 0
                    continue
                if kind is not events.ScalarEvent:
                    return None  # a collection as a key: the file does not load as a release
                if event.value == "bundles":
                    start = event.start_mark.index
                at_key = False  # its value comes next
                continue
            if kind in opening:
                depth += 1
                if depth == 1:
                    if kind is not events.MappingStartEvent:
                        return None
                    at_key = True
                    continue
            elif kind in closing:
                depth -= 1
            if depth == 1:
                at_key = True  # a top-level value is complete
    except YAMLError:
        return None
    if start is None:
        return None
    return text[start : len(text) if end is None else end].encode("utf-8")


def _bundle_digests(content: bytes) -> list[tuple[str, str, dict[str, Any]]] | None:
    """(version, digest, content) of every bundle in a revision that fits today's spec;
    None when the revision does not load as a mapping (it published nothing)."""
    from pydantic import ValidationError

    from compiler.digest import bundle_content, bundle_digest
    from compiler.spec import Bundle

    data = _parse(content)
    if not isinstance(data, dict):
        return None
    if not isinstance(data.get("bundles"), list):
        return []
    found = []
    for item in data["bundles"]:
        try:
            bundle = Bundle.model_validate(item)
        except ValidationError:
            continue  # an old revision this spec no longer reads; it published nothing checkable
        found.append((bundle.version, bundle_digest(bundle), bundle_content(bundle)))
    return found


def _digests(content: bytes) -> list[tuple[str, str]] | None:
    """(version, digest) of each bundle a revision publishes; None when it does not load."""
    found = _bundle_digests(content)
    return None if found is None else [(version, digest) for version, digest, _ in found]


def _digests_of_batch(contents: list[bytes]) -> list[list[tuple[str, str]] | None]:
    return [_digests(content) for content in contents]


# Revisions a worker parses in one task, and the fewest new bundle blocks worth the workers.
DIGESTS_AT_ONCE = 64


def _first_of_each_key(changes: list[git.FileChange], keys: dict[str, bytes], parsed: dict[bytes, Any]) -> list[str]:
    """The first blob in `changes` of each bundles block not parsed yet: the one the walk parses."""
    first: dict[bytes, str] = {}
    for change in changes:
        if change.blob is not None and keys[change.blob] not in parsed:
            first.setdefault(keys[change.blob], change.blob)
    return list(first.values())


def _digests_ahead(pool: "Workers", blobs: list[str], contents: dict[str, bytes]) -> dict[str, list[tuple[str, str]] | None]:
    """`_digests` of `blobs`, worked out in the worker processes, or none when there are
    too few to share or workers cannot be forked (the walk parses each as it meets it)."""
    from compiler.parallel import worked_out_ahead

    import compiler.spec  # noqa: F401  (the models, built once here rather than in each worker)

    found = worked_out_ahead(pool, _digests_of_batch, [contents[blob] for blob in blobs], DIGESTS_AT_ONCE)
    return dict(zip(blobs, found)) if found is not None else {}


def publication_content(root: Path, publication: Publication) -> dict[str, Any]:
    """The bundle's content as first published (read from its commit again), or empty
    when that revision no longer reads as a release."""
    revision = f"{publication.commit}:{publication.path}"
    blob = git.read_blobs(root, [revision]).get(revision)
    for version, _, content in (_bundle_digests(blob) or []) if blob is not None else []:
        if version == publication.version:
            return content
    return {}


def published_bundles(root: Path, revision: str, cache: "ReleaseCache | None" = None) -> dict[tuple[str, str], Publication]:
    """Every bundle version ever in a release file in the history of `revision`.

    With `cache`, the scan is remembered by the last commit it read: the next scan of
    the same commit reads nothing, and of a descendant reads only the new commits. It
    starts afresh when the remembered commit is no longer an ancestor (history was
    rewritten) or a new commit is dated before the newest one read (then git's log order
    could interleave them, and the first publication might be another).
    """
    git.require_full_history(root)
    commit = git.resolve_revision(root, revision)
    remembered = _remembered_scan(cache)
    if remembered is not None and remembered.commit == commit:
        return remembered.published
    if remembered is not None and git.is_ancestor(root, remembered.commit, commit):
        changes = git.changes_under(root, f"{remembered.commit}..{commit}", RELEASES_DIR)
        if all(change.timestamp > remembered.newest for change in changes):
            published = dict(remembered.published)
            _add_moved_in(root, changes, git.path_prefix(root) + RELEASES_DIR, published)
            _add_publications(root, changes, published)
            _remember_scan(cache, commit, published, max([remembered.newest, *(c.timestamp for c in changes)]))
            return published
    changes = git.changes_under(root, commit, RELEASES_DIR)
    published: dict[tuple[str, str], Publication] = {}
    _add_moved_in(root, changes, git.path_prefix(root) + RELEASES_DIR, published)  # older: before a rename maps names
    _add_publications(root, changes, published)
    _remember_scan(cache, commit, published, max((change.timestamp for change in changes), default=0))
    return published


# Moves of release files between releases folders a scan follows back, one after another.
MAX_FOLDER_MOVES = 4


def _add_moved_in(
    root: Path, changes: list[git.FileChange], folder: str, published: dict[tuple[str, str], Publication], moves: int = 0
) -> None:
    """The publications of release files that came into `folder` (git's name for it, from
    the top) moved from another `releases/` folder: relc's files moved within a monorepo
    (`git mv releases deploy/releases`, then `relc -C deploy`). What they published
    there stays published here; the scan of `folder` alone sees them added at the move.
    A file moved in from a folder of another name (a draft) published nothing before."""
    if moves >= MAX_FOLDER_MOVES:
        return
    added = {(change.commit, change.path) for change in changes if change.added and change.path.startswith(folder + "/")}
    moved: dict[tuple[str, str], dict[str, str]] = {}  # (commit, old folder) -> {old name: new name}
    for rename in git.renames_in(root, sorted({commit for commit, _ in added})):
        source = Path(rename.renamed_from or "")
        if (rename.commit, rename.path) in added and is_release_file(str(source)) and not str(source).startswith(folder + "/"):
            moved.setdefault((rename.commit, str(source.parent)), {})[source.stem] = Path(rename.path).stem
    for (commit, old_folder), names in sorted(moved.items()):
        earlier = git.changes_under(root, f"{commit}^", f":(top){old_folder}")
        there: dict[tuple[str, str], Publication] = {}
        _add_moved_in(root, earlier, old_folder, there, moves + 1)
        _add_publications(root, earlier, there)
        for (release, version), publication in there.items():
            if release in names:
                here = published.get((names[release], version))
                if here is None or publication.timestamp < here.timestamp:
                    published[(names[release], version)] = publication


# Release file versions read from git in one `git cat-file` call.
BLOBS_AT_ONCE = 1000


def _add_publications(root: Path, changes: list[git.FileChange], published: dict[tuple[str, str], Publication]) -> None:
    """Record the first sighting of each bundle version in `changes` (given newest first).
    Their files are read BLOBS_AT_ONCE at a time: ten thousand releases' history is
    hundreds of MB of YAML. The bundles new to each such chunk are parsed in worker
    processes ahead of the walk when there are many (a cold `check --base`)."""
    from compiler.parallel import Workers, available_jobs

    parsed: dict[bytes, list[tuple[str, str]]] = {}  # (version, digest) of each bundle, by `_bundles_key`
    renamed: list[tuple[str, str]] = []  # (old name, new name), oldest first
    oldest_first = changes[::-1]  # the first sighting is the publication
    blobs: dict[str, bytes] = {}
    keys: dict[str, bytes] = {}  # each blob's `_bundles_key` digest
    ahead: dict[str, list[tuple[str, str]] | None] = {}  # `_digests` of blobs, worked out ahead
    with progress(len(changes), "reading history", "change") as advance, Workers(available_jobs()) as pool:
        for position, change in enumerate(oldest_first):
            if position % BLOBS_AT_ONCE == 0:
                blobs.clear()
                chunk = oldest_first[position : position + BLOBS_AT_ONCE]
                blobs = git.read_blobs(root, [c.blob for c in chunk if c.blob])
                releases = [c for c in chunk if c.blob in blobs and c.path.endswith(RELEASE_SUFFIXES)]
                keys = {c.blob: hashlib.sha256(_bundles_key(blobs[c.blob])).digest() for c in releases if c.blob}
                ahead = _digests_ahead(pool, _first_of_each_key(releases, keys, parsed), blobs)
            advance(1)
            if change.renamed_from is not None:
                renamed.append((Path(change.renamed_from).stem, Path(change.path).stem))
            if change.blob is None or not change.path.endswith(RELEASE_SUFFIXES) or change.blob not in blobs:
                continue
            key = keys[change.blob]
            digests = parsed.get(key)
            if digests is None:
                found = ahead.pop(change.blob) if change.blob in ahead else _digests(blobs[change.blob])
                digests = found or []
                if found is not None:  # a version that does not load says nothing of others with its bundles
                    parsed[key] = digests
            release = Path(change.path).stem
            for version, digest in digests:
                published.setdefault(
                    (release, version), Publication(release, version, digest, change.commit, change.timestamp, change.path)
                )
    # A release file moved with `git mv` keeps what it published under its new name:
    # renaming a release is no way to change a published bundle.
    for old, new in renamed:
        for (release, version), publication in list(published.items()):
            if release == old:
                earlier = published.get((new, version))
                if earlier is None or publication.timestamp < earlier.timestamp:
                    published[(new, version)] = publication


@dataclass(frozen=True)
class _Scan:
    commit: str
    newest: int  # the latest commit time among the changes read
    published: dict[tuple[str, str], Publication]


_SCAN_ENTRY = "history-scan"


def _remembered_scan(cache: "ReleaseCache | None") -> _Scan | None:
    """The last scan, if the cache holds one this code wrote (the key has relc's code in it)."""
    if cache is None:
        return None
    entry = cache.load(cache.key(_SCAN_ENTRY, RELEASES_DIR))
    if entry is None:
        return None
    try:
        published = {
            (release, version): Publication(str(release), str(version), str(digest), str(commit), int(timestamp), str(path))
            for release, version, digest, commit, timestamp, path in entry["published"]
        }
        return _Scan(str(entry["commit"]), int(entry["newest"]), published)
    except (KeyError, TypeError, ValueError):
        return None


def _remember_scan(cache: "ReleaseCache | None", commit: str, published: dict[tuple[str, str], Publication], newest: int) -> None:
    if cache is None:
        return
    rows = [[p.release, p.version, p.digest, p.commit, p.timestamp, p.path] for p in published.values()]
    cache.store(cache.key(_SCAN_ENTRY, RELEASES_DIR), {"commit": commit, "newest": newest, "published": rows})


@dataclass(frozen=True)
class Revision:
    """One revision of a release file: the commit and the rollout it declared."""

    commit: git.Commit
    content: bytes | None
    stable: str | None
    candidate: str | None
    step: int | None

    def involves(self, version: str) -> bool:
        return version in (self.stable, self.candidate)


def rollout_roles(content: bytes | None) -> tuple[str | None, str | None, int | None]:
    data = _parse(content) if content is not None else None
    rollout = data.get("rollout") if isinstance(data, dict) else None
    if not isinstance(rollout, dict):
        return None, None, None
    candidate = rollout.get("candidate")
    step = rollout.get("step") if candidate is not None else None
    if candidate is not None and step is None:
        step = 1
    return rollout.get("stable"), candidate, step


def revisions(root: Path, revision: str, name: str, batch: int = 64, path: str | None = None) -> Iterator[Revision]:
    """Revisions of the release's file (`path`, else the one it has at `revision`),
    newest first, read lazily in batches.

    Renames are followed within the releases folder and from another `releases/` folder
    (relc's files moved), not from a folder of another name: a draft served no traffic,
    so none of its revisions is a known-good one to roll back to."""
    git.require_full_history(root)
    kept = path or release_path_in(name, git.blob_ids(root, revision, RELEASES_DIR))
    # Deleted at `revision`: the spelling the release was last kept under (changed last).
    histories = [git.file_history(root, revision, spelling, follows=is_release_file)
                 for spelling in ([kept] if kept is not None else release_paths(name))]  # fmt: skip
    history = max(histories, key=lambda commits: commits[0].timestamp if commits else -1)
    for start in range(0, len(history), batch):
        chunk = history[start : start + batch]
        contents = git.read_blobs(root, [f"{commit.sha}:{commit.path}" for commit in chunk])
        for commit in chunk:
            content = contents.get(f"{commit.sha}:{commit.path}")
            yield Revision(commit, content, *rollout_roles(content))


def step_began(root: Path, revision: str, name: str, cache: "ReleaseCache | None" = None) -> git.Commit | None:
    """The commit that entered the release's current rollout step (None: no rollout).

    Read as `steps_began` reads it for many, so `relc promote`, the gate, `relc status`
    and `relc watch` time every hold from the same commit: git's rename detection within
    the releases folder, never `git log --follow`'s, which pairs files one at a time
    against the whole tree (a file moved in from another folder, or two renamed in one
    commit, can be followed to another ancestor)."""
    return steps_began(root, revision, [name], cache)[name]


class _StepStart:
    """Where a release's current step began, told its revisions newest first: the oldest
    of the unbroken run that has the newest revision's candidate and step; None when
    the newest has no candidate (no rollout in progress)."""

    def __init__(self) -> None:
        self.newest: tuple[str | None, int | None] | None = None
        self.began: git.Commit | None = None
        self.known = False

    def told(self, candidate: str | None, step: int | None, commit: git.Commit) -> bool:
        """Take the next older revision; True once where the step began is known."""
        if self.newest is None:
            self.newest = (candidate, step)
            self.known = candidate is None
        if self.known or (candidate, step) != self.newest:
            self.known = True
        else:
            self.began = commit
        return self.known


# Revisions of each release read from git in one round of `steps_began`, after a first
# round of FIRST_REVISIONS; and revisions a worker parses in one task.
REVISIONS_AT_ONCE = 8
FIRST_REVISIONS = 2
ROLES_AT_ONCE = 64


def steps_began(
    root: Path, revision: str, names: list[str], cache: "ReleaseCache | None" = None
) -> dict[str, git.Commit | None]:
    """`step_began` of each release in `names`, from one walk of the branch's history:
    `relc status` asks it of every release in progress, and a `git log --follow` each
    took minutes at 1,000 releases and 10,000 commits. Each round reads the next few
    revisions of every release not yet decided, in one `git cat-file` call.

    With the cache (on-call engineers run `relc status` again and again during an
    incident), the answer is remembered by commit: the same commit reads no history,
    a later one only the commits since; and a revision read before is not read again."""
    from compiler.parallel import Workers, available_jobs

    git.require_full_history(root)
    commit = git.resolve_revision(root, revision)
    roles, starts = _RolesMemo(cache), _StartsMemo(cache)
    remembered = starts.remembered()
    covered = remembered is not None and all(name in remembered.searches for name in names)
    with Workers(available_jobs()) as pool:
        searches = _searches_since(root, remembered, commit, names, roles, pool) if remembered is not None and covered else None
        if searches is None:
            changes = git.changes_under(root, commit, RELEASES_DIR, first_parent=True)
            paths = release_paths_at(root, commit, names)
            searches = _walk(root, _file_histories(changes, paths, git.path_prefix(root)), roles, pool)
            for search in searches.values():
                search.known = True  # undecided only when its whole history is in the step
    same_commit = remembered is not None and remembered.commit == commit
    if remembered is not None and same_commit:  # keep what is known here of releases not asked (`relc status NAME`)
        searches = {**remembered.searches, **searches}
    roles.store()
    if not (covered and same_commit):
        starts.store(commit, searches)
    return {name: searches[name].began for name in names}


def _searches_since(
    root: Path, remembered: "_Starts", commit: str, names: list[str], roles: "_RolesMemo", pool: "Workers"
) -> dict[str, _StepStart] | None:
    """The remembered searches of `names` carried forward to `commit` by reading only the
    commits since; None when they cannot be: history was rewritten, or a file was
    renamed since (the full walk follows renames), or a release's file is another now
    (`chat.yaml` deleted and `chat.yml` added: the walk since would not see the deletion)."""
    if not git.on_first_parent_chain(root, remembered.commit, commit):
        return None
    if remembered.commit == commit:
        return {name: remembered.searches[name] for name in names}
    since = git.changes_under(root, f"{remembered.commit}..{commit}", RELEASES_DIR, first_parent=True)
    if any(change.renamed_from is not None for change in since):
        return None
    paths = release_paths_at(root, commit, names)
    if release_paths_at(root, remembered.commit, names) != paths:
        return None
    searches = _walk(root, _file_histories(since, paths, git.path_prefix(root)), roles, pool)
    for name, search in searches.items():
        earlier = remembered.searches[name]
        if search.newest is None:  # not changed since
            searches[name] = earlier
        elif not search.known:  # every revision since has the step it had: the step may be older
            search.known = True
            if earlier.newest == search.newest:
                search.began = earlier.began
    return searches


def _walk(root: Path, histories: dict[str, list[git.FileChange]], roles: "_RolesMemo", pool: "Workers") -> dict[str, _StepStart]:
    """Each release's search, told its revisions newest first until it knows where the
    step began or they run out (then it is left undecided). Revisions whose roles the
    memo knows are told without reading; the rest are read a few a release a round (the
    newest FIRST_REVISIONS, then REVISIONS_AT_ONCE), in one `git cat-file` call for all
    releases, and parsed in the worker processes when there are many."""
    searches = {name: _StepStart() for name in histories}
    told = dict.fromkeys(histories, 0)  # how many of each release's revisions its search was told

    def tell(name: str, contents: dict[str, bytes] | None, until: int) -> None:
        """Tell the search its next revisions, up to `until`, while it is undecided;
        without `contents` (none read), only those whose roles the memo knows."""
        history, search = histories[name], searches[name]
        while told[name] < min(until, len(history)) and not search.known:
            change = history[told[name]]
            if contents is None and roles.lacks(change.blob):
                return
            _, candidate, step = roles.roles(change.blob, contents or {})
            search.told(candidate, step, git.Commit(change.commit, change.timestamp, change.subject, change.path))
            told[name] += 1

    def undecided(names: list[str]) -> list[str]:
        return [name for name in names if not searches[name].known and told[name] < len(histories[name])]

    pending, size = list(histories), FIRST_REVISIONS  # a step most often began a revision or two ago
    while pending:
        for name in pending:
            tell(name, None, len(histories[name]))
        pending = undecided(pending)
        rounds = {name: histories[name][told[name] : told[name] + size] for name in pending}
        contents = git.read_blobs(root, [change.blob for chunk in rounds.values() for change in chunk if roles.lacks(change.blob)])
        roles.work_out(pool, contents)
        for name in pending:
            tell(name, contents, told[name] + size)
        pending, size = undecided(pending), REVISIONS_AT_ONCE
    return searches


@dataclass(frozen=True)
class _Starts:
    commit: str
    searches: dict[str, _StepStart]


class _StartsMemo:
    """Where each release's step began, as of the last commit `steps_began` read, in the
    cache; a missing or damaged entry is simply not used."""

    KEY = "where rollout steps began"

    def __init__(self, cache: "ReleaseCache | None") -> None:
        self.cache = cache
        self.key = cache.key(self.KEY) if cache is not None else ""

    def remembered(self) -> _Starts | None:
        """The last answer, for every release it was asked of."""
        entry = self.cache.load(self.key) if self.cache is not None else None
        if entry is None:
            return None
        try:
            commit, stored = entry["commit"], entry["releases"]
            searches = {name: _stored_search(search) for name, search in stored.items() if type(name) is str}
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return _Starts(commit, searches) if type(commit) is str else None

    def store(self, commit: str, searches: dict[str, _StepStart]) -> None:
        if self.cache is None:
            return
        self.cache.store(self.key, {"commit": commit, "releases": {name: _search_stored(s) for name, s in searches.items()}})


def _search_stored(search: _StepStart) -> list[Any]:
    began = search.began
    return [
        None if search.newest is None else list(search.newest),
        None if began is None else [began.sha, began.timestamp, began.subject, began.path],
    ]


def _stored_search(stored: Any) -> _StepStart:
    """A decided search from its stored form; ValueError when it is not as written."""
    newest, began = stored
    search = _StepStart()
    search.known = True
    if newest is not None:
        candidate, step = newest
        if not (candidate is None or type(candidate) is str) or not (step is None or type(step) is int):
            raise ValueError("not a step")
        search.newest = (candidate, step)
    if began is not None:
        sha, timestamp, subject, path = began
        if not all(type(text) is str for text in (sha, subject, path)) or type(timestamp) is not int:
            raise ValueError("not a commit")
        search.began = git.Commit(sha, timestamp, subject, path)
    return search


Roles = tuple[str | None, str | None, int | None]


class _RolesMemo:
    """Each release file revision's `rollout_roles`, by its blob: a blob's content never
    changes, so a revision `relc status` parsed once is not read again (on-call engineers
    run it again and again during an incident). Kept in the cache as one entry, with the
    blobs the last run used; a missing or damaged entry is simply not used."""

    KEY = "rollout roles of release blobs"

    def __init__(self, cache: "ReleaseCache | None") -> None:
        self.cache = cache
        self.key = cache.key(self.KEY) if cache is not None else ""
        entry = cache.load(self.key) if cache is not None else None
        known = entry.get("roles") if entry is not None else None
        self.known: dict[str, Any] = known if isinstance(known, dict) else {}
        self.used: dict[str, list[Any]] = {}
        self.ahead: dict[str, Roles] = {}  # parsed by the workers, not told yet

    def lacks(self, blob: str | None) -> bool:
        return blob is not None and _as_roles(self.known.get(blob)) is None

    def roles(self, blob: str | None, contents: dict[str, bytes]) -> Roles:
        """The revision's roles; a deleted file (no blob) has none."""
        if blob is None:
            return rollout_roles(None)
        found = _as_roles(self.known.get(blob))
        if found is None:
            found = self.ahead.pop(blob) if blob in self.ahead else rollout_roles(contents.get(blob))
        if _as_roles(list(found)) is not None:  # a revision with odd values (`step: .nan`) is read each time
            self.used[blob] = list(found)
        return found

    def work_out(self, pool: "Workers", contents: dict[str, bytes]) -> None:
        """Parse the roles of many revisions read in the worker processes, ahead of the
        walk (a cold `relc status` of thousands of releases)."""
        from compiler.parallel import worked_out_ahead

        blobs = list(contents)
        found = worked_out_ahead(pool, _roles_of_batch, [contents[blob] for blob in blobs], ROLES_AT_ONCE)
        self.ahead.update(zip(blobs, found or []))

    def store(self) -> None:
        """Remember the blobs this run used, if that is news."""
        if self.cache is not None and any(self.known.get(blob) != roles for blob, roles in self.used.items()):
            self.cache.store(self.key, {"roles": self.used})


def _roles_of_batch(contents: list[bytes]) -> list[Roles]:
    return [rollout_roles(content) for content in contents]


def _as_roles(stored: Any) -> Roles | None:
    if not isinstance(stored, list) or len(stored) != 3:
        return None
    stable, candidate, step = stored
    if not all(value is None or type(value) is str for value in (stable, candidate)):
        return None
    if not (step is None or type(step) is int):
        return None
    return stable, candidate, step


def _file_histories(changes: list[git.FileChange], paths: dict[str, str], prefix: str) -> dict[str, list[git.FileChange]]:
    """Each release file's changes, newest first, under the name the file had in each
    (followed back through a `git mv`, as `git log --follow` does), from its path now
    (`paths`, by release). Paths are git's, from the top of the repository; `prefix` is
    where relc runs in it (`relc -C deploy`).

    A file renamed away from a release's name is, for the release that has the name now,
    deleted there (as `git log --follow` of the name shows it), whichever other releases
    are asked: what came before belongs to the file under its new name."""
    histories: dict[str, list[git.FileChange]] = {name: [] for name in paths}
    following = {prefix + path: name for name, path in paths.items()}  # a file's name in older commits, to its release
    for change in changes:
        name = following.pop(change.path, None)
        left = following.pop(change.renamed_from, None) if change.renamed_from is not None else None
        if left is not None:
            histories[left].append(git.FileChange(change.commit, change.timestamp, change.renamed_from or "", None, None, change.subject))
        if name is None:
            continue
        histories[name].append(change)
        # Followed from a release file (a sub-folder of releases/ holds none: a draft there served nothing).
        followed = change.renamed_from if change.renamed_from is not None and is_release_file(change.renamed_from) else None
        following[followed or change.path] = name
    return histories


@dataclass(frozen=True)
class RollbackTarget:
    suspect: str
    known_good: Revision
    reverted: tuple[Revision, ...]  # newer than known_good, newest first


def rollback_target(root: Path, revision: str, name: str, to: str | None = None) -> RollbackTarget:
    """The suspect bundle and the newest revision in which it took no part in the rollout."""
    newer: list[Revision] = []
    suspect: str | None = None
    target = git.resolve_revision(root, to) if to else None
    path = release_paths_at(root, revision, [name])[name]
    for current in revisions(root, revision, name, path=path):
        if suspect is None:
            if current.content is None:
                raise git.GitError(f"{path} does not exist at {revision}; nothing to roll back")
            suspect = current.candidate or current.stable
            if target is None and current.candidate is None and _previous_of(current.content) is None:
                raise git.GitError(
                    f"{name} has no rollout in progress and no previous bundle: there is nothing to roll back to"
                )
        reached = current.commit.sha == target if target else (current.content is not None and not current.involves(suspect))
        if reached:
            if current.content is None:
                raise git.GitError(f"{path} was deleted in {git.short(current.commit.sha)}; pick another --to")
            return RollbackTarget(suspect, current, tuple(newer))
        newer.append(current)
    if suspect is None:
        raise git.GitError(f"{path} has no history at {revision}: commit it first")
    if target:
        raise git.GitError(f"commit {git.short(target)} did not change {path}: name a revision of that file")
    raise NoKnownGoodRevision(
        f"no known-good revision of {path}: bundle `{suspect}` took part in every revision; "
        "fix forward with a new bundle, or name a revision with --to",
        suspect,
    )


class NoKnownGoodRevision(git.GitError):
    """History has no revision without the suspect bundle (it entered Git mid-rollout, or
    history was squashed)."""

    def __init__(self, message: str, suspect: str) -> None:
        super().__init__(message)
        self.suspect = suspect


def _previous_of(content: bytes) -> str | None:
    data = _parse(content)
    rollout = data.get("rollout") if isinstance(data, dict) else None
    return rollout.get("previous") if isinstance(rollout, dict) else None


def traffic_fields(content: bytes | None) -> tuple[Any, Any]:
    """The parts of a release that decide traffic: a commit changing neither is kept by rollback."""
    data = _parse(content) if content is not None else None
    if not isinstance(data, dict):
        return None, None
    return data.get("bundles"), data.get("rollout")


@dataclass(frozen=True)
class StepTiming:
    """The commit that entered the current step, and the step's hold."""

    began: git.Commit | None
    hold_seconds: float

    @property
    def ready_at(self) -> float | None:
        return None if self.began is None else self.began.timestamp + self.hold_seconds


def step_timing(
    root: Path, release: Release, began: "Mapping[str, git.Commit | None] | None" = None, cache: "ReleaseCache | None" = None
) -> StepTiming:
    """When the current step began (from history) and how long its hold is. `began`, from
    `steps_began` of many releases at HEAD, spares this release its own walk of history."""
    hold = hold_seconds(release)
    if hold is None:
        return StepTiming(None, 0)
    if began is not None and release.name in began:
        return StepTiming(began[release.name], hold)
    return StepTiming(step_began(root, "HEAD", release.name, cache), hold)


def step_timings(root: Path, holds: dict[str, float | None], cache: "ReleaseCache | None" = None) -> dict[str, StepTiming]:
    """`step_timing` of many releases, given each one's `hold_seconds`, by name, from one
    walk of history (`steps_began`)."""
    began = steps_began(root, "HEAD", [name for name, hold in holds.items() if hold is not None], cache)
    return {name: StepTiming(None, 0) if hold is None else StepTiming(began[name], hold) for name, hold in holds.items()}


def hold_seconds(release: Release) -> float | None:
    """The current step's hold; None when no step is in progress."""
    from compiler.spec import duration_seconds

    step_number = release.rollout.current_step
    return None if step_number is None else duration_seconds(release.rollout.steps[step_number - 1].hold)
