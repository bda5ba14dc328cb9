"""Render checked releases into the files of `rendered/`, in memory.

Each release is turned into a `TrafficState`, each gateway renders its fragment of
plain data from that alone, and the fragments of all releases are assembled into the
gateway's files. Serializing is the last step, so the same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.emit import to_json, to_yaml
from compiler.gateways import renderers, write_first_files
from compiler.manifest import bundle_manifest
from compiler.traffic import traffic_state
from compiler.validate import CheckedRelease

RENDERED_DIR = "rendered"


def serialize(path: str, data: Any) -> bytes:
    return (to_json(data) if path.endswith(".json") else to_yaml(data)).encode("utf-8")


def render_tree(releases: list[CheckedRelease], root: Path) -> dict[str, bytes]:
    """Every file of `rendered/`, by path relative to it."""
    ordered = sorted(releases, key=lambda checked: checked.release.name)
    states = [traffic_state(checked.release) for checked in ordered]
    files: dict[str, Any] = {}
    for name, renderer in renderers().items():
        fragments = [renderer.render(state) for state in states if name in state.gateways]
        if fragments:
            files.update(renderer.assemble(fragments))
    for checked, state in zip(ordered, states):
        files[f"bundles/{state.release}.json"] = bundle_manifest(state, _template_texts(checked, root))
    first = write_first_files()
    order = sorted(files, key=lambda path: (path not in first, path))
    return {path: serialize(path, files[path]) for path in order}


def _template_texts(checked: CheckedRelease, root: Path) -> dict[str, str]:
    templates = {bundle.prompt.template for bundle in checked.release.bundles}
    # The pinned bytes exactly: text mode would turn CRLF into LF behind the sha256.
    return {template: (root / template).read_bytes().decode("utf-8") for template in templates}
