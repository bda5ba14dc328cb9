"""Check release files: every rule (`compiler.rules`) on each file, then across files.

A repository is checked one file at a time. A release's parsed document and Release
are let go once it is checked (they are re-made from its bytes if a later stage asks),
so memory does not grow with every position table. With a cache (`compiler.cache`), an
unchanged release is recognised from its digest and costs no parse at all.
"""

from __future__ import annotations

import os
import zlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from compiler.diagnostics import Diagnostic, define, has_errors
from compiler import files
from compiler.files import FileReadError, read_input_file
from compiler.load import LoadLimits, Position, refusal_diagnostic

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache
    from compiler.load import LoadedDocument
    from compiler.render import ReleaseFragments
    from compiler.spec import Release


@dataclass(frozen=True)
class ReleaseFacts:
    """What later stages need of a checked release without parsing it again."""

    name: str
    route_model: str
    route_model_position: Position
    name_position: Position
    gateways: tuple[str, ...]
    # Each trigger's name and metric, and where its metric is written.
    triggers: tuple[tuple[str, str, Position], ...]
    # Each bundle's version, content digest, and where its version is written.
    bundles: tuple[tuple[str, str, Position], ...]
    # How many bundles name their model in a registry (`relc validate` says how many it did not check).
    registry_references: int = 0
    # The bundle being rolled out, if any: what `relc watch` and `relc status --in-progress` ask.
    candidate: str | None = None


class CheckedRelease:
    """A release that passed every check: its path, bytes and facts.

    `document`, `release` and the templates' bytes are kept only as long as needed;
    asked for later, they are re-made from the checked bytes (which passed, so they
    parse the same way) and templates read again must still match their pins.
    """

    def __init__(
        self,
        path: str,
        raw: bytes,
        facts: ReleaseFacts,
        root: Path,
        document: "LoadedDocument | None" = None,
        release: "Release | None" = None,
        limits: LoadLimits = LoadLimits(),
        templates: dict[str, bytes] | None = None,
    ) -> None:
        self.path = path
        self._raw: bytes | None = raw
        self._packed_raw = b""
        self.facts = facts
        self.root = root
        self.limits = limits
        self.fragments: ReleaseFragments | None = None
        self._document = document
        self._release = release
        self._templates = templates

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def document(self) -> "LoadedDocument":
        if self._document is None:
            self._reparse()
        assert self._document is not None
        return self._document

    @property
    def release(self) -> "Release":
        if self._release is None:
            self._reparse()
        assert self._release is not None
        return self._release

    def template_texts(self) -> dict[str, str]:
        """Each prompt template's checked text, by its path in the release."""
        if self._templates is None:
            self._templates = _read_pinned_templates(self.release, self.root)
        # The pinned bytes exactly: text mode would turn CRLF into LF behind the sha256.
        return {template: raw.decode("utf-8") for template, raw in self._templates.items()}

    @property
    def raw(self) -> bytes:
        """The checked bytes of the release file."""
        return self._raw if self._raw is not None else zlib.decompress(self._packed_raw)

    def free(self, release: bool = True, pack: bool = True) -> None:
        """Let go of the document and its position tables (and, with `release`, the
        Release and the templates' bytes, and with `pack` keep the file's bytes
        compressed: ten thousand releases wait in memory for the gateway files)."""
        self._document = None
        if release:
            self._release = None
            self._templates = None
            if pack and self._raw is not None:
                self._packed_raw, self._raw = zlib.compress(self._raw, 1), None

    def _reparse(self) -> None:
        from compiler.load import load_bytes
        from compiler.model import build_release

        document, _ = load_bytes(self.raw, self.path, self.limits)
        assert document is not None, f"{self.path} passed its checks, so it parses"
        release, _ = build_release(document)
        assert release is not None, f"{self.path} passed its checks, so it fits the spec"
        self._document, self._release = document, release


@dataclass
class ValidationResult:
    releases: list[CheckedRelease] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def _read_pinned_templates(release: "Release", root: Path) -> dict[str, bytes]:
    """The templates of a release that passed its checks earlier in this run, read
    through the same guards; one that no longer matches its pin changed under relc."""
    from compiler import prompts
    from compiler.errors import RelcError

    texts: dict[str, bytes] = {}
    for bundle in release.bundles:
        ref = bundle.prompt
        raw = prompts.template_bytes(root, ref.template)
        if isinstance(raw, prompts.TemplateProblem) or prompts.sha256_hex(raw) != ref.sha256:
            raise RelcError(
                f"`{ref.template}` changed while relc was running (it no longer matches bundle "
                f"`{bundle.version}`'s pin); nothing was written: run relc again"
            )
        texts[ref.template] = raw
    return texts


def _facts(document: "LoadedDocument", release: "Release") -> ReleaseFacts:
    from compiler.digest import bundle_digest

    return ReleaseFacts(
        name=release.name,
        route_model=release.route.model,
        route_model_position=document.position_of(("route", "model")),
        name_position=document.position_of(("name",)),
        gateways=tuple(release.route.gateways),
        triggers=tuple(
            (trigger.name, trigger.metric, document.position_of(("triggers", index, "metric")))
            for index, trigger in enumerate(release.triggers)
        ),
        bundles=tuple(
            (bundle.version, bundle_digest(bundle), document.position_of(("bundles", index, "version")))
            for index, bundle in enumerate(release.bundles)
        ),
        registry_references=sum(1 for bundle in release.bundles if bundle.model.registry is not None),
        candidate=release.rollout.candidate,
    )


# Template analyses a check made, by their cache key: stored beside the release's entry.
Analyses = dict[str, dict[str, Any]]


def _check_bytes(
    raw: bytes, display_path: str, root: Path, limits: LoadLimits, cache: "ReleaseCache | None" = None
) -> tuple[CheckedRelease | None, list[Diagnostic], dict[str, list[Any]], Analyses]:
    """The file's result, the fingerprint of each template its checks read, and the
    template analyses it made (with `cache`, which also gives those made before)."""
    from compiler.prompts import RememberedAnalyses
    from compiler.rules import check_release_bytes

    analyses = RememberedAnalyses(cache) if cache is not None else None
    outcome = check_release_bytes(raw, display_path, root, limits, analyses)
    made = analyses.made if analyses is not None else {}
    release = outcome.release
    templates = sorted({bundle.prompt.template for bundle in release.bundles}) if release is not None else []
    fingerprints = {template: _fingerprint_as_checked(root, template, outcome.templates, outcome.template_statuses)
                    for template in templates}  # fmt: skip
    if release is None or outcome.document is None or has_errors(outcome.diagnostics):
        return None, outcome.diagnostics, fingerprints, made
    facts = _facts(outcome.document, release)
    checked = CheckedRelease(display_path, raw, facts, root, outcome.document, release, limits, outcome.templates)
    return checked, outcome.diagnostics, fingerprints, made


def _fingerprint_as_checked(
    root: Path, template: str, read: dict[str, bytes], statuses: dict[str, os.stat_result]
) -> list[Any]:
    """A template's fingerprint from the very bytes and status the checks used (no second
    read, which could meet a newer file than the one checked); read afresh only for a
    template the checks could not use."""
    from compiler import prompts
    from compiler.files import settled_stamp

    if template not in read:
        return list(template_fingerprint(root, template))
    status = statuses.get(template)
    return ["sha256 " + prompts.sha256_hex(read[template]), settled_stamp(status) if status is not None else None]


def validate_release_bytes(
    raw: bytes, display_path: str, root: Path, limits: LoadLimits = LoadLimits()
) -> tuple[CheckedRelease | None, list[Diagnostic]]:
    """Every check that needs only this file (and its templates)."""
    checked, diagnostics, _, _ = _check_bytes(raw, display_path, root, limits)
    return checked, diagnostics


def _read_release(path: Path, display_path: str, root: Path, limits: LoadLimits) -> bytes | list[Diagnostic]:
    # Release files come from pull requests: no link at all, and no linked folder out of the repository.
    try:
        return read_input_file(path, limits.max_bytes, inside=root)
    except FileReadError as error:
        return [refusal_diagnostic(display_path, error, " for a release")]


def validate_release_file(
    path: Path, root: Path, limits: LoadLimits = LoadLimits(), content: bytes | None = None
) -> tuple[CheckedRelease | None, list[Diagnostic]]:
    """Check one file; `content`, when given, stands for the file's bytes (a change not yet written)."""
    display_path = display(path)
    raw = content if content is not None else _read_release(path, display_path, root, limits)
    if isinstance(raw, list):
        return None, raw
    return validate_release_bytes(raw, display_path, root, limits)


Render = Callable[[CheckedRelease], "ReleaseFragments"]


def _check_file(
    path: Path, root: Path, limits: LoadLimits, content: bytes | None, cache: "ReleaseCache | None", render: Render | None
) -> tuple[CheckedRelease | None, list[Diagnostic]]:
    """One file's result: from the cache when its entry still holds, else checked (and
    rendered, with `render`) and stored."""
    found = _cached_result(path, root, limits, content, cache, render is not None)
    if not isinstance(found, _Miss):
        return found
    return _compute(found.raw, found.display_path, root, limits, cache, found.key, render)


@dataclass(frozen=True)
class _Miss:
    """A file whose result must be computed: its bytes, as displayed, and its cache key."""

    raw: bytes
    display_path: str
    key: str | None


def _cached_result(
    path: Path, root: Path, limits: LoadLimits, content: bytes | None, cache: "ReleaseCache | None", want_fragments: bool
) -> tuple[CheckedRelease | None, list[Diagnostic]] | _Miss:
    """The file's result when it needs no check (unreadable, or its cache entry holds), else a miss."""
    display_path = display(path)
    raw = content if content is not None else _read_release(path, display_path, root, limits)
    if isinstance(raw, list):
        return None, raw
    if cache is None:
        return _Miss(raw, display_path, None)
    key = cache.key(display_path, raw, repr(limits))
    entry = cache.load(key)
    restored = _restore(entry, raw, display_path, root, limits, want_fragments) if entry is not None else None
    if restored is None:
        return _Miss(raw, display_path, key)
    _mark_analyses_used(cache, entry)
    return restored


def _mark_analyses_used(cache: "ReleaseCache", entry: dict[str, Any]) -> None:
    """A release kept in the cache keeps its templates' analyses too (a prune spares
    them): its next change is checked without parsing its templates again."""
    from compiler.prompts import analysis_key

    for fingerprint, _ in entry["templates"].values():
        if fingerprint.startswith("sha256 "):
            cache.used.add(analysis_key(cache, fingerprint.removeprefix("sha256 ")))


def _compute(
    raw: bytes, display_path: str, root: Path, limits: LoadLimits, cache: "ReleaseCache | None", key: str | None,
    render: Render | None,
) -> tuple[CheckedRelease | None, list[Diagnostic]]:
    """Check (and render) a file's bytes, and store the result under `key`."""
    checked, diagnostics, fingerprints, analyses = _check_and_render(raw, display_path, root, limits, cache, render)
    if cache is not None and key is not None:
        _store(cache, key, _entry(checked, diagnostics, fingerprints), analyses)
    return checked, diagnostics


def _check_and_render(
    raw: bytes, display_path: str, root: Path, limits: LoadLimits, cache: "ReleaseCache | None", render: Render | None
) -> tuple[CheckedRelease | None, list[Diagnostic], dict[str, list[Any]], Analyses]:
    """`_check_bytes`, with the fragments made too when `render` is given."""
    checked, diagnostics, fingerprints, analyses = _check_bytes(raw, display_path, root, limits, cache)
    if checked is not None and render is not None:
        checked.fragments = render(checked)
    return checked, diagnostics, fingerprints, analyses


def _store(cache: "ReleaseCache", key: str, entry: dict[str, Any], analyses: Analyses) -> None:
    """A release's entry and the template analyses its check made, written with the others of the run."""
    cache.store_batched(key, entry)
    for analysis_key, analysis in analyses.items():
        cache.store_batched(analysis_key, analysis)


def template_fingerprint(root: Path, template: str) -> tuple[str, list[int] | None]:
    """What a release's checks and render read of a template: its digest, or why it
    cannot be read; and the file's stamp, when it has settled (`files.settled_stamp`)."""
    from compiler import prompts
    from compiler.files import settled_stamp

    raw, status = prompts.template_bytes_and_status(root, template)
    if isinstance(raw, prompts.TemplateProblem):
        return f"problem {raw.code} {raw.message}", None
    return "sha256 " + prompts.sha256_hex(raw), settled_stamp(status) if status is not None else None


# Each template as this run found it (its fingerprint), by root and name: releases share
# a few templates, and each is looked at once a run (`validate_paths` starts afresh).
_TEMPLATES_SEEN: dict[tuple[str, str], str] = {}


def _template_unchanged(root: Path, template: str, fingerprint: str, stamp: list[int] | None) -> bool:
    """Whether a template still reads as an entry recorded it. A file still bearing the
    stamp it had when read is not read again: a warm run of a thousand releases would
    otherwise spend most of its time reading their templates."""
    from compiler.files import still_stamped

    seen_key = (os.fspath(root), template)
    seen = _TEMPLATES_SEEN.get(seen_key)
    if seen is None:
        if stamp is not None and still_stamped(os.path.join(root, template), root, stamp):
            seen = fingerprint  # the very file the entry read, so the bytes it read
        else:
            seen = template_fingerprint(root, template)[0]
        _TEMPLATES_SEEN[seen_key] = seen
    return seen == fingerprint


def _entry(checked: CheckedRelease | None, diagnostics: list[Diagnostic], templates: dict[str, list[Any]]) -> dict[str, Any]:
    facts = None
    if checked is not None:
        f = checked.facts
        facts = {
            "name": f.name, "route_model": f.route_model, "route_model_position": list(f.route_model_position),
            "name_position": list(f.name_position),
            "gateways": list(f.gateways), "triggers": [[name, metric, list(position)] for name, metric, position in f.triggers],
            "bundles": [[version, digest, list(position)] for version, digest, position in f.bundles],
            "registry_references": f.registry_references, "candidate": f.candidate,
        }  # fmt: skip
    blobs: list[bytes] = []
    fragments = checked.fragments.to_plain(blobs) if checked is not None and checked.fragments is not None else None
    return {
        "templates": templates,
        "diagnostics": [[d.path, d.line, d.column, d.code, d.message, d.severity.value] for d in diagnostics],
        "facts": facts,
        "fragments": fragments,
        "blobs": blobs,
    }


def _restore(
    entry: dict[str, Any], raw: bytes, display_path: str, root: Path, limits: LoadLimits, want_fragments: bool,
    templates_checked: bool = False,
) -> tuple[CheckedRelease | None, list[Diagnostic]] | None:
    """The result an entry holds, or None when it cannot be used (a template changed,
    fragments are wanted and absent, or anything in it is not as written). With
    `templates_checked` (an entry this run just made) its templates are not looked at again."""
    from compiler.render import ReleaseFragments

    try:
        for template, (fingerprint, stamp) in entry["templates"].items():
            if not templates_checked and not _template_unchanged(root, template, fingerprint, stamp):
                return None
        diagnostics = [Diagnostic.restored(*stored) for stored in entry["diagnostics"]]
        plain = entry["facts"]
        if plain is None:
            return None, diagnostics
        if want_fragments and entry["fragments"] is None:
            return None
        facts = ReleaseFacts(
            name=plain["name"], route_model=plain["route_model"], route_model_position=Position(*plain["route_model_position"]),
            name_position=Position(*plain["name_position"]),
            gateways=tuple(plain["gateways"]),
            triggers=tuple((name, metric, Position(*position)) for name, metric, position in plain["triggers"]),
            bundles=tuple((version, digest, Position(*position)) for version, digest, position in plain["bundles"]),
            registry_references=int(plain["registry_references"]),
            candidate=None if plain["candidate"] is None else str(plain["candidate"]),
        )  # fmt: skip
        checked = CheckedRelease(display_path, raw, facts, root, limits=limits)
        if want_fragments:
            checked.fragments = ReleaseFragments.from_plain(entry["fragments"], entry["blobs"])
        return checked, diagnostics
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


# Release bytes kept as they are before later ones are kept compressed: compressing
# every file costs a warm run of a thousand releases more than reading them.
PLAIN_BYTES_HELD = 16 << 20

Touched = frozenset[str] | Callable[[], frozenset[str]]
# Given the number of files, a context whose value is told of each one checked.
Progress = Callable[[int], AbstractContextManager[Callable[[int], None]]]


def _ignore(count: int) -> None:
    pass


RELC209 = define(
    "RELC209",
    title="route.model used by another release",
    meaning="`route.model` is already served by another release",
    fix="each public model name belongs to one release",
)
RELC214 = define(
    "RELC214",
    title="release name used by another file",
    meaning="two release files hold releases of the same name (`chat.yaml` and `chat.yml`, or two folders given), "
    "so both would write the same `rendered/bundles/` file and gateway routes and clusters",
    fix="keep one file a release: remove or rename the other",
)


def _unique_route_models(releases: list[CheckedRelease], touched: Touched = frozenset()) -> Iterator[Diagnostic]:
    """RELC209 on the second release that claims a public model name: the one a change
    touched, when one did (the untouched file was fine before), else the later path."""
    for checked, first in _second_claims(releases, touched, lambda facts: facts.route_model):
        position = checked.facts.route_model_position
        yield Diagnostic(
            checked.path, position.line, position.column, "RELC209",
            f"route.model `{checked.facts.route_model}` is already served by {first.path}; clients could not tell them apart",
        )  # fmt: skip


def _unique_names(releases: list[CheckedRelease], touched: Touched = frozenset()) -> Iterator[Diagnostic]:
    """RELC214 on the second file that holds a release of the same name, chosen as RELC209's."""
    for checked, first in _second_claims(releases, touched, lambda facts: facts.name):
        position = checked.facts.name_position
        yield Diagnostic(
            checked.path, position.line, position.column, "RELC214",
            f"release `{checked.name}` is also in {first.path}; keep one file a release",
        )  # fmt: skip


def _second_claims(
    releases: list[CheckedRelease], touched: Touched, claimed: Callable[[ReleaseFacts], str]
) -> Iterator[tuple[CheckedRelease, CheckedRelease]]:
    """Each release that claims what an earlier one did, with that one: the one a change
    touched comes later, when one did (the untouched file was fine before), else by path."""
    values = [claimed(checked.facts) for checked in releases]
    if len(set(values)) == len(values):
        return  # the common case: no need to ask git what a change touched
    touched_files = touched() if callable(touched) else touched
    first_by_value: dict[str, CheckedRelease] = {}
    for checked in sorted(releases, key=lambda c: (c.path in touched_files, c.path)):
        value = claimed(checked.facts)
        if value in first_by_value:
            yield checked, first_by_value[value]
        else:
            first_by_value[value] = checked


def discover_release_files(paths: list[Path]) -> list[Path]:
    """Files named on the command line, and the `*.yaml` files in named folders, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            with os.scandir(path) as entries:  # each entry's kind without a stat
                named = [entry.name for entry in entries
                         if os.path.splitext(entry.name)[1] in (".yaml", ".yml") and (entry.is_symlink() or entry.is_file())]  # fmt: skip
            files.extend(path / name for name in sorted(named))
        else:
            files.append(path)
    return files


def display(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    real, here = files.real_path(path), files.real_path(".")
    if real == here:
        return "."
    if real.startswith(here.rstrip("/") + "/"):
        return real[len(here.rstrip("/")) + 1 :]
    return path.as_posix()


def validate_paths(
    paths: list[Path],
    root: Path,
    limits: LoadLimits = LoadLimits(),
    overrides: dict[Path, bytes] | None = None,
    touched: Touched = frozenset(),
    cache: "ReleaseCache | None" = None,
    render: Render | None = None,
    progress: "Progress | None" = None,
    keep_releases: bool = True,
    jobs: int = 1,
) -> ValidationResult:
    """Check every release file under `paths`; prompt templates resolve against `root`.

    `overrides` gives new contents for some files, so a change can be checked (and
    rendered) in full before anything is written. `touched` names the files a change
    touched (as displayed; or a function that finds them, asked only when needed), so a
    conflict between two files is reported on the new side. With `render`, each release's
    fragments are made while it is parsed, so the parse can be let go at once. `progress`
    makes the function told of each file checked, given their number (a progress bar).
    Without `keep_releases` (or with `render`), only facts are kept: `release` parses again if asked.
    With `jobs` > 1, the files the cache does not hold are checked in that many worker
    processes when there are enough of them (`compiler.parallel`); the result is the same.
    """
    validation = Validation(paths, root, limits, overrides, touched, cache, render, progress, keep_releases, jobs)
    for _ in validation.releases():
        pass
    return validation.finish()


class Validation:
    """`validate_paths` taken a release at a time: `releases()` gives each release as soon
    as its own checks are done, in file order, and `finish()` then checks across files and
    gives the result. `relc build` stages each release's files while the workers check
    the next, instead of writing every file once all are checked."""

    def __init__(
        self, paths: list[Path], root: Path, limits: LoadLimits = LoadLimits(), overrides: dict[Path, bytes] | None = None,
        touched: Touched = frozenset(), cache: "ReleaseCache | None" = None, render: Render | None = None,
        progress: "Progress | None" = None, keep_releases: bool = True, jobs: int = 1,
    ) -> None:  # fmt: skip
        self.paths, self.root, self.limits, self.touched, self.cache = paths, root, limits, touched, cache
        self.render, self.progress, self.keep_releases, self.jobs = render, progress, keep_releases, jobs
        self.pending = {path.resolve(): content for path, content in (overrides or {}).items()}
        self.result = ValidationResult()

    def releases(self) -> Iterator[CheckedRelease]:
        """Each release that passed its own checks (another file may still conflict with it)."""
        files.forget_real_folders()
        _TEMPLATES_SEEN.clear()
        files_to_check = discover_release_files(self.paths)
        render, keep_releases = self.render, self.keep_releases
        # Parallel workers hand back facts and fragments, not a Release: only for callers that need no more.
        parallel = self.jobs > 1 and (render is not None or not keep_releases) and len(files_to_check) >= PARALLEL_MIN_FILES
        workers = self.jobs if parallel else 1
        progress = self.progress
        with progress(len(files_to_check)) if progress is not None else nullcontext(_ignore) as advance:
            results = _results_in_order(files_to_check, self.pending, self.root, self.limits, self.cache, render, workers, advance)
            held = 0
            for checked, diagnostics in results:
                self.result.diagnostics.extend(diagnostics)
                if checked is not None:
                    held += len(checked.raw)
                    # Rendered, a release is needed no more; else the caller may have come for the Release.
                    checked.free(release=render is not None or not keep_releases, pack=held > PLAIN_BYTES_HELD)
                    self.result.releases.append(checked)
                    yield checked

    def finish(self) -> ValidationResult:
        """The checks across files, once every release is checked, and the result."""
        result = self.result
        if self.cache is not None:
            self.cache.flush()
            self.cache.prune()
        names = list(_unique_names(result.releases, self.touched))
        cross = [*_unique_route_models(result.releases, self.touched), *names]
        if cross:
            failed = {d.path for d in cross}
            # A release in two files is in neither: which one a watcher should act on is not known.
            second_files = {d.path for d in names}
            twice = {c.name for c in result.releases if c.path in second_files}
            result.releases = [c for c in result.releases if c.path not in failed and c.name not in twice]
            result.diagnostics.extend(cross)
        result.diagnostics = sorted(set(result.diagnostics), key=lambda d: (d.path, d.line, d.column, d.code, d.message))
        return result


# Below this many files, forking workers costs more than it saves.
PARALLEL_MIN_FILES = 32
# Misses a worker takes at a time after the first (sent alone, at once): fewer round trips.
PARALLEL_CHUNK = 8

Outcome = tuple[CheckedRelease | None, list[Diagnostic]]
# A miss sent to the workers: its index among the files, its path, and the bytes that stand for it.
Task = tuple[int, Path, bytes | None]


def _results_in_order(
    files_to_check: list[Path], pending: dict[Path, bytes], root: Path, limits: LoadLimits,
    cache: "ReleaseCache | None", render: Render | None, workers: int, advance: Callable[[int], None],
) -> Iterator[Outcome]:
    """Each file's outcome in file order, as soon as it and those before it are known.
    With `workers` > 1, each file the cache does not hold is sent to worker processes as
    soon as it is met, so they check the misses (and load the modules checking needs)
    while this process reads the cache's hits."""
    from compiler.parallel import can_fork

    if workers <= 1 or not can_fork():
        for path in files_to_check:
            yield _check_file(path, root, limits, pending.get(path.resolve()) if pending else None, cache, render)
            advance(1)
        return
    from compiler.parallel import Workers

    global _WORKER_CONTEXT
    _WORKER_CONTEXT = (root, limits, cache, render)  # before the fork: the workers inherit it
    outcomes: list[Outcome | None] = []
    sent: list[tuple[list[Task], Any]] = []
    try:
        with Workers(workers) as pool:
            batch: list[Task] = []
            for path in files_to_check:
                content = pending.get(path.resolve()) if pending else None
                found = _cached_result(path, root, limits, content, cache, render is not None)
                if isinstance(found, _Miss):
                    if not sent and not batch and (cache is None or not cache.holds_packs()):
                        _load_checking_modules(render)  # a cold run: every file will miss
                    batch.append((len(outcomes), path, content))  # its bytes are read again by the worker
                    outcomes.append(None)
                    if len(batch) >= (PARALLEL_CHUNK if sent else 1):
                        sent.append((batch, pool.send(_check_in_worker, [(path, content) for _, path, content in batch])))
                        batch = []
                else:
                    outcomes.append(found)
                    advance(1)
            if batch:
                sent.append((batch, pool.send(_check_in_worker, [(path, content) for _, path, content in batch])))
            sent.reverse()
            handed_on = 0
            while True:
                # Each outcome is handed on as soon as those before it are: the caller works
                # on it (`relc build` stages its files) while the workers check the next.
                while handed_on < len(outcomes) and (ready := outcomes[handed_on]) is not None:
                    outcomes[handed_on] = None  # let each result go once it is handed on
                    handed_on += 1
                    yield ready
                    del ready
                if not sent:
                    break
                tasks, answer = sent.pop()  # each answer let go once taken: it holds its batch's entries whole
                for index, outcome in _answered(tasks, answer, root, limits, cache, render):
                    outcomes[index] = outcome
                    advance(1)
                del tasks, answer
            assert handed_on == len(outcomes), "every miss was answered"
    finally:
        _WORKER_CONTEXT = None


def _load_checking_modules(render: Render | None) -> None:
    """Import what checking (and rendering) a release needs, and build the models, once
    here before the workers are forked, not once in each: they share what they inherit,
    and `build` and `check` need the models here for the schema anyway. Only for a cold
    run (no cache, or none packed by this relc): when a few files changed, the workers
    load these while this process reads the cache's hits."""
    import compiler.rules  # noqa: F401
    import ruamel.yaml.cyaml  # noqa: F401  (the parser `load` uses)

    if render is not None:
        import compiler.manifest  # noqa: F401
        import compiler.traffic  # noqa: F401
        from compiler.gateways import renderers

        renderers()  # imports every gateway's module


def _answered(
    tasks: list[Task], answer: Any, root: Path, limits: LoadLimits, cache: "ReleaseCache | None", render: Render | None
) -> Iterator[tuple[int, Outcome]]:
    """The outcomes of a batch a worker checked, each stored in the cache by the bytes the
    worker checked. When the worker failed, or could not read a file, this process checks
    it itself and meets the same problem, where it is reported as usual."""
    try:
        results = answer.get()
        outcomes = [
            None if answered is None else _restored_answer(*answered, root, limits, cache, render is not None)
            for answered in results
        ]
    except Exception:  # noqa: BLE001 - re-met, and reported, by the check below
        outcomes = [None] * len(tasks)
    for (index, path, content), outcome in zip(tasks, outcomes):
        yield index, outcome if outcome is not None else _check_file(path, root, limits, content, cache, render)


def _restored_answer(
    entry: dict[str, Any], raw: bytes, display_path: str, analyses: Analyses, root: Path, limits: LoadLimits,
    cache: "ReleaseCache | None", want_fragments: bool,
) -> Outcome | None:
    """A worker's result for `raw`, as this process holds it, stored in the cache."""
    outcome = _restore(entry, raw, display_path, root, limits, want_fragments, templates_checked=True)
    if outcome is not None and cache is not None:
        _store(cache, cache.key(display_path, raw, repr(limits)), entry, analyses)
    return outcome


# What a forked worker checks with: set before the fork, so a task is only a path.
_WORKER_CONTEXT: tuple[Path, LoadLimits, "ReleaseCache | None", Render | None] | None = None


def _check_in_worker(tasks: list[tuple[Path, bytes | None]]) -> list[tuple[dict[str, Any], bytes, str, Analyses] | None]:
    """In a worker: each file's outcome as a cache entry holds it, with the bytes checked
    and the template analyses made (None for a file it could not read). The parent
    stores them: a worker's writes would be one file each, the parent's are packed."""
    assert _WORKER_CONTEXT is not None, "set before the workers were forked"
    root, limits, cache, render = _WORKER_CONTEXT
    answers: list[tuple[dict[str, Any], bytes, str, Analyses] | None] = []
    for path, content in tasks:
        display_path = display(path)
        raw = content if content is not None else _read_release(path, display_path, root, limits)
        if isinstance(raw, list):
            answers.append(None)
            continue
        checked, diagnostics, fingerprints, analyses = _check_and_render(raw, display_path, root, limits, cache, render)
        answers.append((_entry(checked, diagnostics, fingerprints), raw, display_path, analyses))
    return answers
