"""Git access, in one place: short functions over the git command line.

Only read-only queries live here for now; every caller passes the repository root.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """A git command failed; the message says what was asked and what git answered."""


def _git(root: Path, *arguments: str, input: bytes | None = None) -> bytes:
    try:
        completed = subprocess.run(["git", *arguments], cwd=root, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", errors="replace").strip()
        raise GitError(f"`git {' '.join(arguments)}` failed: {message}")
    return completed.stdout


def resolve_revision(root: Path, revision: str) -> str:
    """The full commit id of `revision`; a clear error when it does not exist."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"no commit `{revision}` in {root}; fetch it (CI: use fetch-depth: 0)") from None


def files_at(root: Path, revision: str, folder: str) -> dict[str, bytes]:
    """Every file under `folder` at `revision`, by path relative to the repository root."""
    listing = _git(root, "ls-tree", "-r", "-z", "--name-only", revision, "--", folder).decode("utf-8")
    paths = [path for path in listing.split("\0") if path]
    if not paths:
        return {}
    # One `git cat-file --batch` for all files: one process, not one per file.
    requests = "".join(f"{revision}:{path}\n" for path in paths).encode("utf-8")
    output = _git(root, "cat-file", "--batch", input=requests)
    contents: dict[str, bytes] = {}
    offset = 0
    for path in paths:
        header_end = output.index(b"\n", offset)
        size = int(output[offset:header_end].split()[2])
        contents[path] = output[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return contents
