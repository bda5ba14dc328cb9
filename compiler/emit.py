"""Serialize plain data deterministically, and write files so a crash leaves whole files.

Renderers produce dicts; this is the only place they become bytes (sorted keys, fixed
float formatting, no timestamps) and the only place `rendered/` is written.
"""

from __future__ import annotations

import difflib
import io
import json
import json.encoder
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping


def write_atomically(target: Path, content: bytes) -> None:
    """Write to a temporary file beside `target`, flush it to disk, then rename over."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~_current_umask())
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A plain scalar is safe to leave unquoted only if every YAML reader (1.1 or 1.2) reads
# it back as the same string: no indicators, not a number, bool, null or timestamp.
_PLAIN_SAFE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@%+-]*(?::[A-Za-z0-9_./@%+-]+)*$")
_AMBIGUOUS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN|<<|=)$"
)


# Characters YAML does not allow raw, or reads as line breaks; JSON escapes are YAML escapes.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _scalar(value: Any) -> str:
    text_of = _SCALAR_TEXT.get(type(value))
    return text_of(value) if text_of is not None else _any_scalar(value)


def _any_scalar(value: Any) -> str:
    """`_scalar` of a value whose exact type `_SCALAR_TEXT` does not list (a subclass)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return _string_scalar(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


@lru_cache(maxsize=16384)  # keys and common values repeat in every release's fragments
def _string_scalar(value: str) -> str:
    if _PLAIN_SAFE.fullmatch(value) and not _AMBIGUOUS.fullmatch(value):  # fullmatch: `$` would allow a trailing newline
        return value
    quoted = json.dumps(value, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)


def format_float(value: float) -> str:
    """Fixed notation with a decimal point, read as a float by YAML 1.1 and 1.2 alike."""
    if not math.isfinite(value):
        raise ValueError(f"cannot emit non-finite float {value}")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


# The text of each scalar by its exact type: a gateway file of a thousand releases emits
# hundreds of thousands of them. Subclasses (a str enum) take `_any_scalar`.
_SCALAR_TEXT: dict[type, Callable[[Any], str]] = {
    str: _string_scalar,
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    float: format_float,
    type(None): lambda value: "null",
}


@dataclass(frozen=True)
class EmittedItem:
    """A list item already written as block YAML, with indentation relative to the item.

    Gateway files are assembled from per-release fragments; an item emitted once (and
    cached) is spliced into any list at any depth with the same bytes `to_yaml` writes.
    """

    text: str


@dataclass(frozen=True)
class EmittedFile:
    """A whole file's text, already serialized (a per-release JSON file from the cache)."""

    text: str


def emit_item(value: Any) -> EmittedItem:
    """`value` as the block YAML of a list item at no indentation (see `EmittedItem`)."""
    lines: list[str] = []
    _emit(value, "", lines, "")
    return EmittedItem("\n".join(lines))


def _emit(value: Any, indent: str, lines: "list[str] | _EncodedLines", prefix: str) -> None:
    """Append `value` as block YAML. `prefix` starts its first line, `indent` the others."""
    if isinstance(value, dict) and value:
        head = prefix
        for key in sorted(value):
            label = f"{head}{_string_scalar(key) if type(key) is str else _scalar(str(key))}:"
            head = indent
            child = value[key]
            text_of = _SCALAR_TEXT.get(type(child))
            if text_of is not None:
                lines.append(f"{label} {text_of(child)}")
            elif isinstance(child, dict) and child:
                lines.append(label)
                _emit(child, indent + "  ", lines, indent + "  ")
            elif isinstance(child, list) and child:
                lines.append(label)
                _emit(child, indent, lines, indent)
            else:
                lines.append(f"{label} {_flow_empty(child)}")
    elif isinstance(value, list) and value:
        head = prefix + "- "
        for item in value:
            text_of = _SCALAR_TEXT.get(type(item))
            if text_of is not None:
                lines.append(head + text_of(item))
            elif isinstance(item, EmittedItem):
                # Every line `_emit` writes is the indent plus a relative line; the first takes the head.
                lines.append(head + item.text.replace("\n", "\n" + indent + "  "))
            elif isinstance(item, (dict, list)) and item:
                _emit(item, indent + "  ", lines, head)
            else:
                lines.append(head + _flow_empty(item))
            head = indent + "- "
    else:
        lines.append(prefix + _flow_empty(value))


def _flow_empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(data: Any) -> str:
    """Deterministic block YAML for plain data: sorted keys, fixed floats, safe quoting."""
    lines: list[str] = []
    _emit(data, "", lines, "")
    lines.append("")  # the final newline, without a second copy of the whole text
    return "\n".join(lines)


class _EncodedLines:
    """Where `_emit` appends lines, kept as UTF-8 bytes in one buffer, each line ended."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def append(self, line: str) -> None:
        self.buffer.write(line.encode("utf-8"))
        self.buffer.write(b"\n")


def to_yaml_bytes(data: Any) -> bytes:
    """`to_yaml(data)` as UTF-8, with neither its lines nor its text ever whole in memory
    beside the bytes: a gateway file of ten thousand releases is tens of MB."""
    lines = _EncodedLines()
    _emit(data, "", lines, "")
    return lines.buffer.getvalue()  # the buffer's own bytes, not a copy


def to_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline.

    The bytes of `json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False,
    allow_nan=False)`, made in half the time: with an indent, `json` encodes in pure
    Python generators, and a build writes a manifest for every release. Data it does
    not expect (a key that is not a string) goes to `json` itself, errors and all."""
    parts: list[str] = []
    try:
        _json_parts(data, parts, "\n")
    except _NotPlainJson:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    parts.append("\n")
    return "".join(parts)


class _NotPlainJson(Exception):
    """A value `to_json`'s fast path leaves to `json.dumps`."""


_encode_string = json.encoder.encode_basestring  # C-accelerated, for ensure_ascii=False


def _json_parts(value: Any, parts: list[str], newline: str) -> None:
    """Append `value` as indented JSON; `newline` is a line break with this level's indent."""
    if isinstance(value, str):
        parts.append(_encode_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _NotPlainJson
        parts.append(float.__repr__(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        if not all(type(key) is str for key in value):
            raise _NotPlainJson
        inner = newline + "  "
        separator = "{" + inner
        for key in sorted(value):
            parts.append(separator + _encode_string(key) + ": ")
            _json_parts(value[key], parts, inner)
            separator = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            _json_parts(item, parts, inner)
            separator = "," + inner
        parts.append(newline + "]")
    else:
        raise _NotPlainJson


STAGING_PREFIX = ".relc-staging-"


@dataclass(frozen=True)
class TreeChange:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int


# The largest rendered/ file relc reads back (ten thousand releases make tens of MiB):
# a file a pull request put there is not read whole past this.
MAX_RENDERED_BYTES = 256 << 20


def existing_files(folder: Path) -> dict[str, Path]:
    """Every regular file under `folder` by its path relative to it, sorted, leaving out
    staging folders a killed build left (and links, which relc never writes: `existing_entries`)."""
    return existing_entries(folder)[0]


def existing_entries(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The regular files under `folder`, and what else stands there that is not a folder,
    each by its path relative to it: a symbolic link (to a file or a folder, never
    followed: it could lead anywhere) or a pipe or device. Those are foreign: relc
    writes regular files only, so `compare_tree` reports them and `write_tree` replaces them."""
    if not folder.is_dir():
        return {}, {}
    found: dict[str, Path] = {}
    foreign: dict[str, str] = {}
    _collect_files(os.fspath(folder), "", found, foreign)
    return dict(sorted(found.items())), foreign


def _collect_files(folder: str, prefix: str, found: dict[str, Path], foreign: dict[str, str]) -> None:
    # os.scandir knows each entry's kind without a stat: rendered/ holds a file per release.
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(STAGING_PREFIX):
                continue
            if entry.is_symlink():
                foreign[prefix + entry.name] = "a symbolic link"
            elif entry.is_dir(follow_symlinks=False):
                _collect_files(entry.path, f"{prefix}{entry.name}/", found, foreign)
            elif entry.is_file(follow_symlinks=False):
                found[prefix + entry.name] = Path(entry.path)
            else:
                foreign[prefix + entry.name] = "not a regular file"


def on_disk(path: Path) -> bytes | None:
    """The bytes of the regular file relc wrote at `path`, or None when there is none:
    missing, a link (never followed), anything but a regular file, or too large."""
    from compiler.files import FileReadError, read_input_file

    try:
        return read_input_file(path, MAX_RENDERED_BYTES)
    except FileReadError:
        return None


def _refuse_outside(folder: Path, inside: Path | None) -> None:
    from compiler.files import refuse_folder_outside

    if inside is not None:
        refuse_folder_outside(folder, inside)


class KnownCurrent(bytes):
    """Stands for a file's bytes in what `compare_tree` or `write_tree` is given: the
    caller knows the file there already holds them (`compiler.fresh`), so they are
    neither made nor read."""


KNOWN_CURRENT = KnownCurrent()


Files = Mapping[str, bytes] | Iterable[tuple[str, bytes]]


def items_of(files: Files) -> Iterable[tuple[str, bytes]]:
    return files.items() if isinstance(files, Mapping) else files


def write_tree(
    folder: Path, files: Files, move_anyway: frozenset[str] = frozenset(), inside: Path | None = None,
    matched: dict[str, os.stat_result] | None = None,
) -> TreeChange:
    """Make `folder` hold exactly `files`, each file replaced atomically, in the given order.

    Everything is written and flushed in a staging folder beside the files first; only
    then is each changed file renamed into place, so every file is always whole and file
    watchers (Envoy) see one move per file. Unchanged files are not touched at all.
    `files` may be a stream of (path, bytes) (`render.render_files`): each file is
    compared and staged as it comes, so the tree is never held whole; the files a
    gateway reloads on a move are held, and moved last in the order its transition
    gives (`gateways.write_phases`). An error while the stream runs moves nothing.
    A crash leaves a staging folder that the next run removes, and a tree of whole files
    that the next `relc build` (or `relc check`) sets right. A link or pipe in `folder`
    is replaced like a stale file; with `inside` (the repository), `folder` itself may
    not lead out of it. A file given as KNOWN_CURRENT is left as it is (never one a
    gateway reloads, nor one of `move_anyway`); `matched` is given the status of each
    file found equal, as `compare_tree` gives it.
    """
    _refuse_outside(folder, inside)
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder):
        for leftover in folder.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
        try:
            return _write_tree_locked(folder, staging, files, move_anyway, matched)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _place(folder: Path, files: dict[str, bytes]) -> None:
    """An early write: these files only, each renamed into place, nothing removed."""
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        for path, content in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            _write_synced(staging / path, content)
        for path in files:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, folder / path)
        _sync_folder(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One writer per output folder: a second `relc build` waits rather than deleting the
    first one's staging folder. The lock is on the folder itself, so it adds no file and
    the kernel drops it when a killed process dies."""
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _write_tree_locked(
    folder: Path, staging: Path, files: Files, move_anyway: frozenset[str], matched: dict[str, os.stat_result] | None
) -> TreeChange:
    from compiler.gateways import reload_on_move_files, write_phases

    existing, foreign = existing_entries(folder)
    watched = reload_on_move_files()
    held: dict[str, bytes] = {}
    order: list[str] = []
    changed: set[str] = set()
    to_place: list[str] = []
    folders_made: set[Path] = set()
    writes = _StagedWrites(0o666 & ~_current_umask())

    def stage(path: str, content: bytes) -> None:
        status = _status_if_same(existing[path], content) if path in existing and path not in foreign else None
        if status is None:
            changed.add(path)
        elif path not in move_anyway:
            if matched is not None:
                matched[path] = status
            return  # the same bytes; only a file rewritten in place (by git) is moved anyway, for its watcher
        staged = staging / path
        if staged.parent not in folders_made:
            staged.parent.mkdir(parents=True, exist_ok=True)
            folders_made.add(staged.parent)
        writes.write(staged, content)
        to_place.append(path)

    spool = staging / ".held"
    try:
        for path, content in items_of(files):
            order.append(path)
            if isinstance(content, KnownCurrent):
                if path in watched or path in move_anyway:
                    raise ValueError(f"{path}: its bytes are needed, not only known")
                continue
            if path in watched:
                # Set aside on disk, not in memory, while the rest of the tree streams by.
                (spool / path).parent.mkdir(parents=True, exist_ok=True)
                (spool / path).write_bytes(content)
                held[path] = b""
            else:
                stage(path, content)
            del content
        writes.wait()  # every staged file whole and synced before anything moves
    finally:
        writes.close()
    held = {path: (spool / path).read_bytes() for path in held}
    _clear_linked_folders(folder, foreign, order)
    # Gateways that read several files get early writes, so every state they can read is whole.
    phases, held = write_phases(folder, held)
    for phase in phases:
        _place(folder, phase)
    existing, foreign = existing_entries(folder)
    for path, content in held.items():
        stage(path, content)  # a few files: `writes` is closed, so written here, in order
    for path in to_place:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / path, target)
    removed = sorted((set(existing) | set(foreign)) - set(order))
    for path in removed:
        (folder / path).unlink()
    _remove_empty_folders(folder)
    _sync_folder(folder)
    return TreeChange(tuple(path for path in order if path in changed), tuple(removed), len(order) - len(changed))


def _clear_linked_folders(folder: Path, foreign: dict[str, str], order: list[str]) -> None:
    """Remove the links that stand where a folder of the new tree goes: files moved
    into place must never go through one (to wherever it leads)."""
    if not foreign:
        return
    folders = {path[:end] for path in order for end in range(len(path)) if path[end] == "/"}
    for path in sorted(set(foreign) & folders):
        (folder / path).unlink()


def _write_synced(path: Path, content: bytes, mode: int | None = None) -> None:
    _sync_and_close(_written_descriptor(path, content, 0o666 & ~_current_umask() if mode is None else mode))


class _StagedWrites:
    """Staged files synced by a few threads while the caller makes the next: syncing a
    file is time spent waiting on the disk. The caller creates and fills each file
    itself: creating files in one folder takes the folder's lock, and threads that
    contend for it spin (a fifth of a cold build's kernel time here, measured with perf).
    At most IN_FLIGHT files wait, open, to be synced. The mode is given, as the umask
    cannot be read from several threads (reading it sets it). Once closed, writes happen
    at once."""

    THREADS = 4
    IN_FLIGHT = 64

    def __init__(self, mode: int) -> None:
        self.mode = mode
        self._pool: Any = None
        self._slots: Any = None
        self._pending: list[tuple[Any, int]] = []  # each sync under way, and the file it syncs
        self._closed = False

    def write(self, path: Path, content: bytes) -> None:
        if self._closed:
            _write_synced(path, content, self.mode)
            return
        if self._pool is None:  # a run that writes nothing starts no thread
            import threading
            from concurrent.futures import ThreadPoolExecutor

            self._pool, self._slots = ThreadPoolExecutor(self.THREADS), threading.BoundedSemaphore(self.IN_FLIGHT)
        self._slots.acquire()
        try:
            descriptor = _written_descriptor(path, content, self.mode)
        except BaseException:
            self._slots.release()
            raise
        try:
            future = self._pool.submit(_sync_and_close, descriptor)
        except BaseException:
            os.close(descriptor)
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._pending.append((future, descriptor))

    def wait(self) -> None:
        """Return once every file is written; raise the first write's error, if any."""
        for future, _ in self._pending:
            future.result()
        self._pending = []

    def close(self) -> None:
        """Stop the threads (after the writes under way): a fork later in the process
        must find none (`parallel.can_fork`). Files left unsynced after an error are closed."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for future, descriptor in self._pending:
            if future.cancelled():
                os.close(descriptor)
        self._pending = []


def _written_descriptor(path: Path, content: bytes, mode: int) -> int:
    """A new file holding `content` with `mode`, still open (to be synced)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fchmod(descriptor, mode)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _sync_and_close(descriptor: int) -> None:
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_empty_folders(folder: Path) -> None:
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(path.iterdir()) and not path.name.startswith(STAGING_PREFIX):
            path.rmdir()


def file_identities(folder: Path, paths: frozenset[str]) -> dict[str, list[int]]:
    """(inode, mtime) of each file: a file rewritten in place by someone else (git) has
    another identity than the one relc left, though perhaps the same bytes."""
    identities = {}
    for path in sorted(paths):
        try:
            status = (folder / path).stat()
        except OSError:
            continue
        identities[path] = [status.st_ino, status.st_mtime_ns]
    return identities


def rewritten_since(folder: Path, paths: frozenset[str], left: dict[str, list[int]] | None) -> frozenset[str]:
    """The files whose identity is not the one relc left (all of them when nothing is known)."""
    current = file_identities(folder, paths)
    if left is None:
        return frozenset(current)
    return frozenset(path for path, identity in current.items() if left.get(path) != identity)


@dataclass(frozen=True)
class FileDifference:
    path: str
    status: str  # "missing", "stale" or "extra"
    diff: str


def compare_tree(
    folder: Path, files: Files, label: str, inside: Path | None = None, matched: dict[str, os.stat_result] | None = None,
    with_diffs: bool = True,
) -> list[FileDifference]:
    """How `folder` differs from `files` (a mapping, or a stream compared as it comes),
    with a unified diff for each differing file, by path. A link or pipe there is a
    difference too, and never read; with `inside`, `folder` may not lead out of it.
    `matched` is given the status of each file found equal, taken before it was read.
    Without `with_diffs`, only which files differ is found (each diff left empty): a
    gateway file of ten thousand releases, split into lines twice, is hundreds of MB."""
    _refuse_outside(folder, inside)
    existing, foreign = existing_entries(folder)
    differences = []
    for path, expected in items_of(files):
        if isinstance(expected, KnownCurrent):
            existing.pop(path, None)
            foreign.pop(path, None)  # a link at the listing, a file bearing the stamp since
            continue
        if path in foreign:
            differences.append(_foreign_difference(path, foreign.pop(path), expected, label))
            continue
        found = existing.pop(path, None)
        status = _status_if_same(found, expected) if found is not None else None
        if status is None:
            differences.append(_difference(path, found, expected, label, with_diffs))
        elif matched is not None:
            matched[path] = status
    differences += [_difference(path, existing[path], None, label, with_diffs) for path in existing]
    differences += [_foreign_difference(path, kind, None, label) for path, kind in foreign.items()]
    return sorted(differences, key=lambda difference: difference.path)


def _shown(path: Path | None) -> bytes | None:
    if path is None:
        return None
    content = on_disk(path)
    # Swapped for something else since the listing, or too large to quote: said, not read.
    return content if content is not None else b"(not shown: no longer a regular file, or over the size limit)\n"


def _foreign_difference(path: str, kind: str, expected: bytes | None, label: str) -> FileDifference:
    after = (expected or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    return FileDifference(path, kind, unified_diff([], after, f"a/{label}/{path} ({kind}, not read)", f"b/{label}/{path}"))


def same_bytes(path: Path, content: bytes) -> bool:
    """Whether the regular file holds exactly `content`, read a block at a time: a gateway
    file of ten thousand releases is not read whole beside its new bytes. A link, a pipe
    or an unreadable file is different."""
    return _status_if_same(path, content) is not None


def _status_if_same(path: Path, content: bytes) -> os.stat_result | None:
    """`same_bytes`, giving the file's status (taken before its bytes were read) when it holds `content`."""
    from compiler.files import FileReadError, open_input_file

    try:
        descriptor, status = open_input_file(path, len(content))
    except FileReadError:
        return None
    view = memoryview(content)
    offset = 0
    try:
        if status.st_size != len(content):
            return None
        while block := os.read(descriptor, 1 << 20):
            if view[offset : offset + len(block)] != block:
                return None
            offset += len(block)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return status if offset == len(content) else None


def _difference(path: str, found: Path | None, expected: bytes | None, label: str, with_diff: bool = True) -> FileDifference:
    """How the file at `found` (None: missing) differs from `expected` (None: extra); the
    file is read only for the diff."""
    status = "missing" if found is None else "extra" if expected is None else "stale"
    if not with_diff:
        return FileDifference(path, status, "")
    before = (_shown(found) or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    after = (expected or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    return FileDifference(path, status, unified_diff(before, after, f"a/{label}/{path}", f"b/{label}/{path}"))


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def unified_diff(before: list[str], after: list[str], before_name: str, after_name: str, context: int = 3) -> str:
    """`difflib.unified_diff`, run only on the part that differs.

    A gateway file is thousands of releases' fragments and a change touches a few, so
    the common lines at both ends are set aside (keeping the context) and the hunks'
    line numbers shifted back: difflib's matcher costs grow with the whole file.
    """
    limit = min(len(before), len(after))
    start = 0
    while start < limit and before[start] == after[start]:
        start += 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    skip_start, skip_end = max(0, start - context), max(0, end - context)
    inner = difflib.unified_diff(
        before[skip_start : len(before) - skip_end], after[skip_start : len(after) - skip_end], before_name, after_name, n=context
    )
    return "".join(_shifted(line, skip_start) if line.startswith("@@") else line for line in inner)


def _shifted(header: str, offset: int) -> str:
    """A hunk header with both starting lines moved down by `offset`."""
    match = _HUNK.match(header)
    if match is None or offset == 0:
        return header
    before_start, before_length, after_start, after_length = match.groups()
    return (
        f"@@ -{int(before_start) + offset}{before_length or ''} +{int(after_start) + offset}{after_length or ''} @@"
        + header[match.end():]
    )
