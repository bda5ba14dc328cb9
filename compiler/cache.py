"""A content-addressed cache of each release's checks and rendered fragments.

An entry is found by a digest of everything a release's result depends on: its bytes
and path, the repository root, relc's version and code, the cache format, and the
versions of the libraries that check it. Its prompt templates are named inside the
entry with their digests and stamps (size, times, inode). A template is re-read on
every use unless it is still the very file its stamp describes, so a template shared
by many releases invalidates each of them when it changes. Checks across releases (a unique
`route.model`) are made on every run from facts the entries keep.

The cache is an optimisation only: an entry that is missing, truncated, corrupted,
written by another version or unreadable is ignored and recomputed, and a cache that
cannot be written (a read-only folder) is skipped. Entries live under `.git/` (never
in the tree) or, outside a repository, in `$XDG_CACHE_HOME/relc`: one file each, or,
when a run writes many (a cold build), packed many to a file behind an index line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

# Bump when an entry's layout or meaning changes: older entries are then ignored.
CACHE_FORMAT = 3
CACHE_FOLDER = "relc-cache"
_HEADER = b"relc-cache"
# The libraries whose behaviour shapes a result (messages, parsing, template analysis).
_LIBRARIES = ("pydantic", "pydantic_core", "jinja2", "ruamel", "markupsafe")


# Entries many at a time (a cold build) are written into packs: one file for up to
# PACK_MAX_ENTRIES entries, since creating a file costs more here than checking a
# release's templates. A run with fewer new entries than PACK_MIN_ENTRIES writes them
# loose, so editing one release now and then does not pile up packs; beyond MAX_PACKS,
# the least recently used packs go.
PACKS_FOLDER = "packs"
PACK_MIN_ENTRIES = 32
PACK_MAX_ENTRIES = 2048
MAX_PACKS = 64
# Loads a run makes by searching each pack's index text before it parses them all.
FEW_LOADS = 16
_PACK_HEADER = b"relc-pack"
# A pack's header line is shorter than this; its index (2,048 keys take about 190 KB)
# is never read past the second.
_PACK_HEADER_LIMIT = 128
_PACK_INDEX_LIMIT = 4 << 20


# Pruning: at most once a day, entries no run has used for 30 days are removed, so the
# folder does not grow with every edit ever checked (git gc's way with loose objects).
PRUNE_EVERY_SECONDS = 86400
UNUSED_FOR_SECONDS = 30 * 86400
_PRUNED_MARKER = ".pruned"


class ReleaseCache:
    """Entries in one folder, one file each, named by their key."""

    def __init__(self, folder: Path, salt: str) -> None:
        self.folder = folder
        self.salt = salt
        self.writable = True
        self.used: set[str] = set()  # the keys this run read or wrote: kept by a prune
        self._shards_made: set[Path] = set()  # folders known to exist: one mkdir each a run
        self._salted = hashlib.sha256(salt.encode())  # copied for each key: the salt is long
        self._pending: dict[str, bytes] = {}  # encoded entries `store_batched` holds for `flush`
        # Packs of this salt only: another relc's packs are never opened.
        self._packs_folder = folder / PACKS_FOLDER / hashlib.sha256(salt.encode()).hexdigest()[:16]
        self._packs: list[_Pack] | None = None  # opened at the first load
        self._packed: dict[str, _Pack] | None = None  # every packed key, once many loads asked
        self._loads = 0
        self._written_packs: set[str] = set()  # never evicted by the run that wrote them

    def key(self, *parts: bytes | str) -> str:
        digest = self._salted.copy()
        for part in parts:
            data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The entry stored under `key`, or None when there is none fit to use."""
        self.used.add(key)
        if key in self._pending:
            return decode_entry(self._pending[key], key)
        found = self._load_packed(key)
        if found is not None:
            return found
        # Plain string paths and an unbuffered read: a warm run loads thousands of entries.
        try:
            descriptor = os.open(f"{self.folder}/{key[:2]}/{key}.json", os.O_RDONLY)
        except OSError:
            return None
        try:
            chunks, size = [], os.fstat(descriptor).st_size + 1  # asking for the size spares a large buffer
            while chunk := os.read(descriptor, size):
                chunks.append(chunk)
        except OSError:
            return None
        finally:
            os.close(descriptor)
        return decode_entry(b"".join(chunks), key)

    def store(self, key: str, entry: dict[str, Any]) -> None:
        """Write atomically (a temporary file renamed over); give up quietly when the
        folder refuses, as the cache only saves time."""
        self.used.add(key)
        if not self.writable:
            return
        try:
            content = encode_entry(entry, key)
        except (TypeError, ValueError):
            return  # not JSON (cannot happen with relc's own data): simply not cached
        self._write(self._path(key), content)

    def store_batched(self, key: str, entry: dict[str, Any]) -> None:
        """`store`, kept for `flush` to write with the others of this run (a pack when
        there are many); written at once when PACK_MAX_ENTRIES wait."""
        self.used.add(key)
        if not self.writable:
            return
        try:
            self._pending[key] = encode_entry(entry, key)
        except (TypeError, ValueError):
            return  # not JSON (cannot happen with relc's own data): simply not cached
        if len(self._pending) >= PACK_MAX_ENTRIES:
            self.flush()

    def flush(self) -> None:
        """Write what `store_batched` holds: loose when it is little, else as one pack."""
        pending, self._pending = self._pending, {}
        if len(pending) < PACK_MIN_ENTRIES:
            for key, content in pending.items():
                self._write(self._path(key), content)
            return
        index, offset = [], 0
        for key, content in pending.items():
            index.append([key, offset, len(content)])
            offset += len(content)
        listing = json.dumps(index, separators=(",", ":")).encode() + b"\n"
        header = b"%s %d %d %d\n" % (_PACK_HEADER, CACHE_FORMAT, len(index), len(listing))
        data = header + listing + b"".join(pending.values())
        target = self._packs_folder / f"{hashlib.sha256(data).hexdigest()[:32]}.pack"
        self._write(target, data)
        self._written_packs.add(os.fspath(target))
        self._evict_packs()
        self._close_packs()  # the next load opens them again, this one with them

    def __del__(self) -> None:
        try:
            self._close_packs()  # a long `relc watch` opens a cache on every round
        except Exception:  # noqa: BLE001 - at interpreter exit there is nothing left to do
            pass

    def _close_packs(self) -> None:
        for pack in getattr(self, "_packs", None) or []:
            pack.close()
        self._packs, self._packed = None, None

    def _write(self, target: Path, content: bytes) -> None:
        """Write atomically (a temporary file renamed over); give up quietly when the
        folder refuses, as the cache only saves time."""
        if not self.writable:
            return
        try:
            if target.parent not in self._shards_made:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._shards_made.add(target.parent)
            descriptor, temporary = tempfile.mkstemp(prefix=".entry.", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(content)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError:
            self.writable = False  # read-only or full: stop trying for this run

    def _all_packs(self) -> list[tuple[float, str]]:
        """(modification time, path) of every pack, of any salt, oldest first."""
        found = []
        try:
            for salt_folder in os.scandir(self.folder / PACKS_FOLDER):
                if salt_folder.is_dir(follow_symlinks=False):
                    found += [(entry.stat(follow_symlinks=False).st_mtime, entry.path)
                              for entry in os.scandir(salt_folder.path) if entry.name.endswith(".pack")]  # fmt: skip
        except OSError:
            pass  # none yet, or another run removed some
        return sorted(found)

    def _evict_packs(self) -> None:
        """Beyond MAX_PACKS (of any relc), remove those least recently written or marked
        used, never one this run wrote."""
        packs = [path for _, path in self._all_packs() if path not in self._written_packs]
        for path in packs[: max(0, len(packs) + len(self._written_packs) - MAX_PACKS)]:
            try:
                os.unlink(path)
            except OSError:
                pass  # another run removed it first

    def holds_packs(self) -> bool:
        """Whether this relc packed entries here before: without, a run is cold."""
        return bool(self._opened_packs())

    def _opened_packs(self) -> list["_Pack"]:
        """This salt's packs, opened at the first load; one whose header or index is not
        as written is left closed."""
        if self._packs is None:
            self._packs = []
            try:
                names = sorted(entry.name for entry in os.scandir(self._packs_folder) if entry.name.endswith(".pack"))
            except OSError:
                names = []  # no packs yet
            for name in names:
                pack = _Pack.open(f"{self._packs_folder}/{name}")
                if pack is not None:
                    self._packs.append(pack)
        return self._packs

    def _load_packed(self, key: str) -> dict[str, Any] | None:
        """The entry a pack holds under `key`. The first few loads of a run search each
        pack's index text (a one-file validate parses no index); after that, every index
        is parsed once into one table."""
        packs = self._opened_packs()
        if not packs:
            return None
        self._loads += 1
        if self._packed is None and self._loads > FEW_LOADS:
            self._packed = {}
            for pack in reversed(packs):
                self._packed.update(dict.fromkeys(pack.keys(), pack))
        if self._packed is None:
            candidates = packs
        else:
            candidates = [self._packed[key]] if key in self._packed else []
        for pack in candidates:
            raw = pack.read(key)
            found = decode_entry(raw, key) if raw is not None else None
            if found is not None:
                return found
        return None

    def prune(self, now: float | None = None) -> int:
        """Remove the entries unused for UNUSED_FOR_SECONDS, and temporary files a killed
        writer left, at most once every PRUNE_EVERY_SECONDS; the number removed. The
        entries this run used are marked used first. Quiet on any file system error."""
        now = time.time() if now is None else now
        marker = self.folder / _PRUNED_MARKER
        try:
            if now - marker.stat().st_mtime < PRUNE_EVERY_SECONDS:
                return 0
        except OSError:
            pass  # never pruned (or no folder yet)
        if not self.writable or not self.folder.is_dir():
            return 0
        removed = 0
        try:
            marker.touch()
            os.utime(marker, (now, now))
            for key in self.used:
                try:
                    os.utime(self._path(key), (now, now))
                except OSError:
                    continue  # packed, or not stored (unwritable, or not cacheable)
            for pack in self._opened_packs():
                if not pack.keys().isdisjoint(self.used):
                    os.utime(pack.path, (now, now))
            for _, path in self._all_packs():
                if now - os.stat(path).st_mtime > UNUSED_FOR_SECONDS:
                    os.unlink(path)
                    removed += 1
            for shard in os.scandir(self.folder):
                if not shard.is_dir(follow_symlinks=False) or shard.name == PACKS_FOLDER:
                    continue
                for entry in os.scandir(shard.path):
                    unused_for = now - entry.stat(follow_symlinks=False).st_mtime
                    stale_entry = entry.name.endswith(".json") and unused_for > UNUSED_FOR_SECONDS
                    left_by_a_killed_writer = entry.name.endswith(".tmp") and unused_for > 3600
                    if stale_entry or left_by_a_killed_writer:
                        os.unlink(entry.path)
                        removed += 1
        except OSError:
            self.writable = False
        return removed


class _Pack:
    """A pack opened for reading: its index text, searched for a key or parsed whole."""

    def __init__(self, path: str, descriptor: int, listing: bytes, base: int, count: int) -> None:
        self.path, self.descriptor, self.listing, self.base, self.count = path, descriptor, listing, base, count
        self._located: dict[str, tuple[int, int]] | None = None

    @classmethod
    def open(cls, path: str) -> "_Pack | None":
        """The pack at `path`, or None when it cannot be read or its header is not what
        a pack of this format holds (its index is looked at only when searched)."""
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            header, newline, _ = os.pread(descriptor, _PACK_HEADER_LIMIT, 0).partition(b"\n")
            parts = header.split(b" ")
            if (newline and len(parts) == 4 and parts[0] == _PACK_HEADER and parts[1] == str(CACHE_FORMAT).encode()
                    and parts[2].isdigit() and parts[3].isdigit() and int(parts[3]) <= _PACK_INDEX_LIMIT):  # fmt: skip
                listing = os.pread(descriptor, int(parts[3]), len(header) + 1)
                if listing.endswith(b"\n"):
                    return cls(path, descriptor, listing, len(header) + 1 + len(listing), int(parts[2]))
        except OSError:
            pass
        os.close(descriptor)
        return None

    def read(self, key: str) -> bytes | None:
        """The bytes the index gives for `key` (the entry checks its own key and checksum)."""
        located = self._located.get(key) if self._located is not None else self._search(key)
        if located is None:
            return None
        try:
            return os.pread(self.descriptor, located[1], self.base + located[0])
        except (OSError, ValueError, OverflowError):
            return None

    def _search(self, key: str) -> tuple[int, int] | None:
        """Where the index text says `key`'s entry is, without parsing the rest of it."""
        needle = b'["' + key.encode() + b'",'
        at = self.listing.find(needle)
        found = _INDEX_ITEM_TAIL.match(self.listing, at + len(needle)) if at >= 0 else None
        return (int(found[1]), int(found[2])) if found else None

    def keys(self) -> set[str]:
        """Every key of the index; none when it is not a list of [key, offset, length]."""
        if self._located is None:
            self._located = {}
            try:
                index = json.loads(self.listing)
                if isinstance(index, list) and len(index) == self.count:
                    for key, offset, length in index:
                        if type(key) is str and type(offset) is int and type(length) is int and offset >= 0 and length >= 0:
                            self._located[key] = (offset, length)
            except (ValueError, TypeError):
                self._located = {}
        return set(self._located)

    def close(self) -> None:
        try:
            os.close(self.descriptor)
        except OSError:
            pass  # closed already


_INDEX_ITEM_TAIL = re.compile(rb"(\d{1,15}),(\d{1,15})\]")


def encode_entry(entry: dict[str, Any], key: str) -> bytes:
    """A header line (format, key, digest of the payload), then the payload: one line of
    JSON, then the entry's `blobs` (packed rendered fragments) back to back."""
    blobs = entry.get("blobs", [])
    meta = {**{name: value for name, value in entry.items() if name != "blobs"}, "key": key,
            "blob_lengths": [len(blob) for blob in blobs]}  # fmt: skip
    payload = json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode() + b"\n"
    payload += b"".join(blobs)
    checksum = hashlib.sha256(payload).hexdigest()
    return b"%s %d %s %s\n" % (_HEADER, CACHE_FORMAT, key.encode(), checksum.encode()) + payload


def decode_entry(raw: bytes, key: str) -> dict[str, Any] | None:
    """The entry, or None when the header, checksum, key or layout is not what was written."""
    header, newline, payload = raw.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 4 or parts[0] != _HEADER or parts[1] != str(CACHE_FORMAT).encode():
        return None
    if parts[2] != key.encode() or parts[3] != hashlib.sha256(payload).hexdigest().encode():
        return None
    meta, newline, joined = payload.partition(b"\n")
    try:
        entry = json.loads(meta)
    except ValueError:
        return None
    if not newline or not isinstance(entry, dict) or entry.get("key") != key:
        return None
    lengths = entry.pop("blob_lengths", None)
    if not isinstance(lengths, list) or not all(isinstance(n, int) and n >= 0 for n in lengths) or sum(lengths) != len(joined):
        return None
    blobs, start = [], 0
    for length in lengths:
        blobs.append(joined[start : start + length])
        start += length
    entry["blobs"] = blobs
    return entry


def cache_folder(root: Path) -> Path:
    """`.git/relc-cache` of the repository holding `root`, else the user's cache folder."""
    git_dir = _git_dir(Path(os.path.abspath(root)))
    if git_dir is not None:
        return git_dir / CACHE_FOLDER
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "relc"


def _git_dir(start: Path) -> Path | None:
    """Found the way git finds it (a `.git` folder, or a `.git` file naming a worktree's),
    without starting git: this runs on every command."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            try:
                text = dot_git.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return None
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (folder / target)
            return None
    return None


_SALTS: dict[str, str] = {}


def open_cache(root: Path) -> ReleaseCache:
    absolute = os.path.abspath(root)
    if absolute not in _SALTS:
        _SALTS[absolute] = _salt(root)
    return ReleaseCache(cache_folder(root), _SALTS[absolute])


def _salt(root: Path) -> str:
    """What every entry depends on besides the release: relc's version and code, the
    format, the libraries' versions, Python's, and the repository root."""
    import compiler
    import sys

    parts = [f"format={CACHE_FORMAT}", f"relc={compiler.__version__}", f"python={sys.version}",
             f"root={os.path.abspath(root)}", f"code={_code_digest()}", *_library_versions()]  # fmt: skip
    return "\n".join(parts)


def _code_digest() -> str:
    """relc's own source: an edited renderer (in a checkout, before any version bump)
    must never be answered from entries its old code wrote."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _library_versions() -> list[str]:
    """The installed distributions' folder names (`pydantic-2.9.2.dist-info`), read from
    the folder that holds them rather than through importlib.metadata (slow to start)."""
    from importlib.util import find_spec

    names: list[str] = []
    folders: set[str] = set()
    for library in _LIBRARIES:
        try:
            spec = find_spec(library)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            names.append(f"{library}=absent")
            continue
        folders.add(os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0])))
    for folder in sorted(folders):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        names += sorted(entry for entry in entries if entry.endswith(".dist-info")
                        and entry.split("-")[0].lower().replace("_", ".").startswith(("pydantic", "jinja2", "ruamel", "markupsafe")))  # fmt: skip
    return names


def remembered_text(cache: ReleaseCache | None, name: str, compute: Callable[[], str]) -> str:
    """Text that depends on relc's code alone (the generated schemas), computed once per
    version of the code."""
    if cache is None:
        return compute()
    key = cache.key("text", name)
    entry = cache.load(key)
    if entry is not None and isinstance(entry.get("text"), str):
        return entry["text"]
    text = compute()
    cache.store(key, {"text": text})
    return text
