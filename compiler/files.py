"""One safe way to read an input file: regular files only, size-limited, links refused.

Release files, prompt templates, `relc.yaml`, the committed schema, `rendered/` and
files named on the command line may come from a pull request. A FIFO or a device would
block `relc` forever and a symbolic link could make it read (and quote) any file on the
machine, so every input goes through here.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from pathlib import Path
from compiler.errors import RelcError


LINK_REFUSED = "is a symbolic link; inputs must be regular files (a link could read any file)"
OUTSIDE_REFUSED = (
    "resolves outside the repository through a symbolic link; inputs must be inside the repository "
    "(a link could read any file)"
)


class FileReadError(RelcError):
    """The file cannot be read as an input; the message says why, for the person.

    The message is the end of a sentence ("is a named pipe ..."): the caller names the
    file, as the person knows it. `outside` marks a path that leaves the repository."""

    def __init__(self, message: str, too_large: bool = False, outside: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large
        self.outside = outside


def read_input_file(path: Path, max_bytes: int, follow_links: bool = False, inside: Path | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes`.

    The file is opened without blocking (a FIFO opens at once) and checked with fstat
    on the open descriptor, so nothing can be swapped in between the check and the read.
    With `inside` (the repository root), a path named inside it that resolves outside it
    is refused, whether through a linked folder or, with `follow_links`, the file's own link.
    """
    return read_input_file_and_status(path, max_bytes, follow_links, inside)[0]


def read_input_file_and_status(
    path: Path, max_bytes: int, follow_links: bool = False, inside: Path | None = None
) -> tuple[bytes, os.stat_result]:
    """`read_input_file`, with the fstat of the file read, taken before its bytes were."""
    descriptor, status = open_input_file(path, max_bytes, follow_links, inside)
    try:
        raw = _read_all(descriptor, max_bytes + 1, status.st_size + 1)
    except OSError as error:
        raise FileReadError(f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if len(raw) > max_bytes:
        raise FileReadError(f"is over the {max_bytes}-byte limit", too_large=True)
    return raw, status


# A file's stamp is only trusted once its times are this far in the past: a file
# rewritten within one tick of the clock that stamps it keeps its times (git's "racy"
# files), and some file systems keep times to the second.
SETTLED_AFTER_NS = 2_000_000_000


def settled_stamp(status: os.stat_result) -> list[int] | None:
    """What identifies a regular file's bytes without reading them (size, times, inode),
    or None while its times are too recent to tell a later rewrite apart."""
    recent = time.time_ns() - SETTLED_AFTER_NS
    if not stat.S_ISREG(status.st_mode) or status.st_mtime_ns >= recent or status.st_ctime_ns >= recent:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev]


def still_stamped(path: str, root: Path, stamp: list[int]) -> bool:
    """Whether `path`, named inside `root`, is still the regular file `stamp` describes,
    inside `root`: one lstat, with folders resolved once a run. A link, or a file whose
    folder is now a link out of the repository, is never taken as unchanged."""
    if "/../" in f"/{path}/":
        return False
    try:
        status = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(status.st_mode) or stamp != [
        status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev
    ]:  # fmt: skip
        return False
    return _folder_inside(os.path.dirname(path), os.fspath(root))


# Whether a folder (as named) leads to a place inside a root, by both: asked once a run.
_FOLDERS_INSIDE: dict[tuple[str, str], bool] = {}


def _folder_inside(folder: str, root: str) -> bool:
    known = _FOLDERS_INSIDE.get((folder, root))
    if known is None:
        if "" not in _REAL_FOLDERS:
            _REAL_FOLDERS[""] = os.getcwd()
        absolute = os.path.normpath(os.path.join(_REAL_FOLDERS[""], folder))
        known = _FOLDERS_INSIDE[folder, root] = within(real_path(root), _real_folder(absolute))
    return known


def open_input_file(
    path: Path, max_bytes: int, follow_links: bool = False, inside: Path | None = None
) -> tuple[int, os.stat_result]:
    """`read_input_file`'s checks, leaving the descriptor open (the caller closes it) for
    a caller that reads a block at a time; with the descriptor, its fstat."""
    if inside is not None and escapes(path, inside):
        raise FileReadError(OUTSIDE_REFUSED, outside=True)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    no_follow = getattr(os, "O_NOFOLLOW", 0)
    if not follow_links:
        flags |= no_follow
    try:
        if not follow_links and not no_follow and os.path.islink(path):
            raise FileReadError(LINK_REFUSED)
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise FileReadError("does not exist") from None
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_links and os.path.islink(path):
            raise FileReadError(LINK_REFUSED) from None  # O_NOFOLLOW met a link: no lstat before every open
        raise FileReadError(f"cannot be read: {error.strerror or error}") from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise FileReadError(f"is not a regular file ({_kind(status.st_mode)}); inputs must be regular files")
    if status.st_size > max_bytes:
        os.close(descriptor)
        raise FileReadError(f"is {status.st_size} bytes, over the {max_bytes}-byte limit", too_large=True)
    return descriptor, status


def escapes(path: str | Path, root: str | Path) -> bool:
    """Whether `path`, named inside the folder `root`, resolves outside it through a link.

    A path named outside `root` (a file given on the command line) is not its concern.
    Both are resolved through `real_path`, which a run has mostly done already, so the
    common case costs no system call; the name is looked at only when that test fails."""
    if within(real_path(root), real_path(path)):
        return False
    return within(os.path.abspath(root), os.path.abspath(path))


def refuse_folder_outside(folder: Path, root: Path) -> None:
    """Refuse a folder of the repository that relc writes (rendered/, schemas/) when a link
    takes it out of the repository: relc would write, quote and delete files there."""
    if escapes(folder, root):
        raise FileReadError(
            f"{repository_name(folder, root)}/ resolves outside the repository through a symbolic link; relc reads "
            "and writes it only inside the repository: replace the link with a folder", outside=True,
        )  # fmt: skip


def read_repository_file(path: Path, max_bytes: int, root: Path) -> bytes:
    """A file of the repository at `root`, links followed only inside it; a refusal is a
    whole sentence naming the file, for callers that let it reach the person."""
    try:
        return read_input_file(path, max_bytes, follow_links=True, inside=root)
    except FileReadError as error:
        raise FileReadError(f"{repository_name(path, root)} {error}", error.too_large, error.outside) from None


def repository_name(path: Path, root: Path) -> str:
    """`path` as the repository names it (relative to `root`), or as given when outside it."""
    relative = os.path.relpath(path, root)
    return Path(path).as_posix() if relative.startswith("..") else Path(relative).as_posix()


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def name_problem(name: str) -> str | None:
    """Why `name`, a path a repository file gives relative to the repository root, could
    name a file outside it ("path `/etc/passwd` is absolute; ..."), or None. String tests
    only (this runs for every template of every release); links are `escapes`'s part."""
    if _CONTROL_CHARACTER.search(name):
        # A NUL makes every file system call raise; no file name needs a control character.
        return f"path {name!r} holds a control character; name a file inside the repository"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"path `{name}` is absolute; write it relative to the repository root"
    if ".." in name.split("/") or "\\" in name:
        return f"path `{name}` leaves its folder (`..`); name a file inside the repository"
    return None


def _read_all(descriptor: int, limit: int, expected: int) -> bytes:
    """Up to `limit` bytes, straight from the descriptor (no buffered file object: a
    repository's thousands of small inputs make that cost show)."""
    chunks = []
    size = 0
    while size < limit:
        # Asking for the size fstat gave (plus one, to see the end) spares a buffer of `limit`.
        chunk = os.read(descriptor, min(limit - size, max(expected - size, 65536)))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


# Folders resolved in this run: a repository's thousands of files share a few folders.
_REAL_FOLDERS: dict[str, str] = {}
# Whole paths resolved in this run: the root and each file are asked for several times.
_REAL_PATHS: dict[str, str] = {}


def real_path(path: str | Path) -> str:
    """`os.path.realpath(path)`, with each folder and path resolved once per run (see
    `forget_real_folders`); a file that is itself a link is resolved in full."""
    text = os.fspath(path)
    known = _REAL_PATHS.get(text)
    if known is None:
        known = _REAL_PATHS[text] = _resolve(text)
    return known


def _resolve(text: str) -> str:
    if "/../" in f"/{text}/":
        return os.path.realpath(text)  # `..` after a link means the link's parent: no shortcut
    if "" not in _REAL_FOLDERS:
        _REAL_FOLDERS[""] = os.getcwd()  # asked once a run, not once a file
    absolute = os.path.normpath(os.path.join(_REAL_FOLDERS[""], text))
    head, tail = os.path.split(absolute)
    if not tail or os.path.islink(absolute):
        return os.path.realpath(absolute)
    return os.path.join(_real_folder(head), tail)


def _real_folder(folder: str) -> str:
    """The real path of an absolute, normalised folder: its parent's, plus its name
    unless it is a link (one lstat for each folder not met before in this run)."""
    known = _REAL_FOLDERS.get(folder)
    if known is None:
        parent, name = os.path.split(folder)
        if not name:
            known = folder  # the root
        elif os.path.islink(folder):
            known = os.path.realpath(folder)
        else:
            known = os.path.join(_real_folder(parent), name)
        _REAL_FOLDERS[folder] = known
    return known


def within(folder: str, path: str) -> bool:
    """Whether `path` is `folder` or inside it; both absolute and normalised (a string
    test: `os.path.commonpath` costs more than the file read, once per file)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def forget_real_folders() -> None:
    """Start a run afresh: a folder may have become a link since the last one (`relc watch`)."""
    _REAL_FOLDERS.clear()
    _REAL_PATHS.clear()
    _FOLDERS_INSIDE.clear()
