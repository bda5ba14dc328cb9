"""`relc pin`: fill in every pin a release needs, so a person never copies a sha256 by hand.

Today the pins are the prompt templates' sha256; the registry issue adds registry
digests here. Pinning a bundle already published changes its content: `relc check
--base` then says so (RELC701), as it should.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler import history, prompts
from compiler.errors import RelcError, UsageError


@dataclass(frozen=True)
class PinChange:
    name: str
    before: bytes
    after: bytes
    pinned: tuple[str, ...]  # what changed, for a person


def pin_release(root: Path, name: str) -> PinChange:
    """The release file with each bundle's prompt sha256 set to its template's bytes."""
    from compiler.edit import edit_document
    from compiler.files import FileReadError, read_input_file
    from compiler.load import load_bytes

    path = root / history.release_path(name)
    if not path.exists():
        raise UsageError(f"no release `{name}`: {history.release_path(name)} does not exist")
    try:
        raw = read_input_file(path, 1024 * 1024)
    except FileReadError as error:
        raise RelcError(f"{history.release_path(name)} {error}") from None
    document, diagnostics = load_bytes(raw, history.release_path(name))
    if document is None:
        raise RelcError(f"{history.release_path(name)} cannot be read as YAML; fix it first", diagnostics)
    wanted: dict[int, str] = {}
    pinned: list[str] = []
    for index, bundle in _bundles(document.data):
        template = bundle.get("prompt", {}).get("template") if isinstance(bundle.get("prompt"), dict) else None
        if not isinstance(template, str):
            continue
        resolved = prompts.resolve_template_path(root, template)
        content = resolved if isinstance(resolved, prompts.TemplateProblem) else prompts.read_template(resolved, template)
        if isinstance(content, prompts.TemplateProblem):
            raise RelcError(f"cannot pin bundle {bundle.get('version', index)}: {content.message}")
        digest = prompts.sha256_hex(content)
        if bundle["prompt"].get("sha256") != digest:
            wanted[index] = digest
            pinned.append(f"bundle {bundle.get('version', index)}: prompt {template} sha256 {digest[:12]}…")

    def change(data: Any) -> None:
        for index, digest in wanted.items():
            data["bundles"][index]["prompt"]["sha256"] = digest

    after = edit_document(raw, change) if wanted else raw
    return PinChange(name, raw, after, tuple(pinned))


def _bundles(data: Any) -> list[tuple[int, dict]]:
    """(index in the file's list, bundle) for each bundle that is a mapping."""
    bundles = data.get("bundles") if isinstance(data, dict) else None
    return [(i, b) for i, b in enumerate(bundles) if isinstance(b, dict)] if isinstance(bundles, list) else []
