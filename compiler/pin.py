"""`relc pin`: fill in every pin a release needs, so a person never copies a sha256 by hand.

The pins are the prompt templates' sha256 and, given a registry, each registry
reference's `registry_digest` (its version's source and run, as the registry says now). Pinning a bundle already published changes its content: `relc check
--base` then says so (RELC701), as it should.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import history, prompts
from compiler.errors import RelcError, UsageError

if TYPE_CHECKING:
    from compiler.registry import Registry


@dataclass(frozen=True)
class PinChange:
    name: str
    path: str  # the release file, from relc's folder (`releases/NAME.yaml` or `.yml`)
    before: bytes
    after: bytes
    pinned: tuple[str, ...]  # what changed, for a person
    unchecked_references: int = 0  # registry references left as they were: no registry given


def pin_release(root: Path, name: str, registry: "Registry | None" = None) -> PinChange:
    """The release file with each bundle's prompt sha256 set to its template's bytes and, with
    a registry, each registry reference's digest set to what the registry holds now."""
    from compiler.edit import edit_document
    from compiler.files import FileReadError, read_input_file
    from compiler.load import load_bytes

    files = history.release_files(root, name)
    relative = files[0]
    path = root / relative
    if not path.exists():
        from compiler.changes import missing_release

        raise UsageError(missing_release(name))
    if len(files) > 1:
        raise UsageError(f"release `{name}` is in both {' and '.join(files)} (RELC214): keep one file a release, then pin it")
    try:
        raw = read_input_file(path, 1024 * 1024, inside=root)
    except FileReadError as error:
        raise RelcError(f"{relative} {error}") from None
    document, diagnostics = load_bytes(raw, relative)
    if document is None:
        raise RelcError(f"{relative} cannot be read as YAML; fix it first", diagnostics)
    wanted: dict[int, str] = {}
    pinned: list[str] = []
    for index, bundle in _bundles(document.data):
        template = bundle.get("prompt", {}).get("template") if isinstance(bundle.get("prompt"), dict) else None
        if not isinstance(template, str):
            continue
        content = prompts.template_bytes(root, template)
        if isinstance(content, prompts.TemplateProblem):
            raise RelcError(f"cannot pin bundle {bundle.get('version', index)}: {content.message}")
        digest = prompts.sha256_hex(content)
        if bundle["prompt"].get("sha256") != digest:
            wanted[index] = digest
            pinned.append(f"bundle {bundle.get('version', index)}: prompt {template} sha256 {digest[:12]}…")

    registry_digests, unchecked = _registry_digests(document.data, registry)
    pinned += [f"bundle {version}: {reference} registry_digest {digest[:19]}… and lineage" for _, version, reference, digest, _ in registry_digests]

    def change(data: Any) -> None:
        for index, digest in wanted.items():
            data["bundles"][index]["prompt"]["sha256"] = digest
        for index, _, _, digest, lineage in registry_digests:
            model = data["bundles"][index]["model"]
            _set_after(model, "registry_digest", _scalar_for(model, digest), "registry")
            _set_after(model, "registry_lineage", _lineage_for(model, lineage), "registry_digest")

    after = edit_document(raw, change) if wanted or registry_digests else raw
    return PinChange(name, relative, raw, after, tuple(pinned), unchecked)


def _set_after(mapping: Any, key: str, value: Any, after: str) -> None:
    """Set `key`, placed right after `after` when it is new, so the file reads in order."""
    if key in mapping:
        mapping[key] = value
    else:
        mapping.insert(list(mapping.keys()).index(after) + 1, key, value)


def _lineage_for(model: Any, lineage: dict[str, Any]) -> Any:
    """The lineage as a mapping in the model's own style, every string quoted (sources and
    tags hold `:` and `#`)."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Quoted

    tags = CommentedMap((Quoted(key), Quoted(value)) for key, value in lineage["tags"].items())
    tags.fa.set_flow_style()
    block = CommentedMap([("run_id", Quoted(lineage["run_id"])), ("source", Quoted(lineage["source"])), ("tags", tags)])
    if getattr(getattr(model, "fa", None), "flow_style", lambda: False)():
        block.fa.set_flow_style()
    return block


def _scalar_for(mapping: Any, value: str) -> Any:
    """`sha256:...` plain in a block mapping; quoted in a flow one, where a plain `:` is not
    read back by every YAML parser."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    flow = getattr(getattr(mapping, "fa", None), "flow_style", lambda: False)()
    return DoubleQuotedScalarString(value) if flow else value


def _registry_digests(data: Any, registry: "Registry | None") -> tuple[list[tuple[int, str, str, str, dict]], int]:
    """(bundle index, version, reference, digest, lineage) for each registry pin to write, and how
    many references were left unchecked (no registry). A version the registry cannot serve
    is refused: pinning it would only hide the problem."""
    from compiler.registry import RegistryReference
    from compiler.registry.check import version_problem

    found = []
    for index, bundle in _bundles(data):
        model = bundle.get("model")
        registry_ref = model.get("registry") if isinstance(model, dict) else None
        mlflow = registry_ref.get("mlflow") if isinstance(registry_ref, dict) else None
        if not isinstance(mlflow, dict) or not isinstance(mlflow.get("name"), str) or isinstance(mlflow.get("version"), bool):
            continue
        if not str(mlflow.get("version", "")).isdigit():
            raise RelcError(f"cannot pin bundle {bundle.get('version', index)}: model.registry.mlflow.version must be "
                            "a version number; `relc validate` says more")  # fmt: skip
        found.append((index, str(bundle.get("version", index)), RegistryReference("mlflow", mlflow["name"], str(mlflow["version"])), model))
    if registry is None:
        return [], len(found)
    digests = []
    for index, version, reference, model in found:
        facts = registry.resolve(reference)
        problem = version_problem(facts)
        if problem is not None:
            raise RelcError(f"cannot pin bundle {version}: {problem[1]} ({problem[0]})")
        if model.get("registry_digest") != facts.digest or _plain(model.get("registry_lineage")) != facts.lineage():
            digests.append((index, version, str(reference), facts.digest, facts.lineage()))
    return digests, 0


def _plain(value: Any) -> Any:
    """Round-trip data as plain dicts and strings, to compare with what the registry says."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value) if isinstance(value, str) else value


def _bundles(data: Any) -> list[tuple[int, dict]]:
    """(index in the file's list, bundle) for each bundle that is a mapping."""
    bundles = data.get("bundles") if isinstance(data, dict) else None
    return [(i, b) for i, b in enumerate(bundles) if isinstance(b, dict)] if isinstance(bundles, list) else []
