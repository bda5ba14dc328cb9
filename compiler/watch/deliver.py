"""Deliver a commit to a gateway: render its releases and replace the changed files.

The deploy folder gets the same layout as `rendered/`; each changed file is renamed
into place (Envoy reloads on a move, LiteLLM and decK read whole files), clusters
before routes. Nothing is written unless every release is valid: a gateway keeps its
last good configuration rather than receive half of a broken one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.errors import RelcError


@dataclass(frozen=True)
class Delivery:
    written: tuple[str, ...]
    removed: tuple[str, ...]
    releases: int


def deliver(root: Path, deploy_dir: Path, inside: Path | None = None) -> Delivery:
    """Render the releases in `root` into `deploy_dir`; a RelcError when any is invalid.
    With `inside`, no link in `deploy_dir` leads out of that folder (for `rendered/`
    itself, made again from releases a rebase merged)."""
    from compiler.cache import open_cache
    from compiler.emit import write_tree
    from compiler.render import release_fragments, render_files
    from compiler.reporter import format_text
    from compiler.validate import validate_paths

    releases_dir = root / "releases"
    paths = [releases_dir] if releases_dir.is_dir() else []
    result = validate_paths(paths, root, cache=open_cache(root), render=release_fragments)
    if not result.ok:
        raise RelcError(f"not delivered: the releases are invalid\n{format_text(result.diagnostics)}", result.diagnostics)
    if not result.releases:
        raise RelcError("not delivered: the branch holds no release; the gateway keeps its last configuration")
    change = write_tree(deploy_dir, render_files(result.releases), inside=inside)  # streamed: never the whole tree in memory
    return Delivery(change.written, change.removed, len(result.releases))
