"""Render checked releases into the files of `rendered/`, in memory.

Each release is turned into a `TrafficState`, each gateway renders its fragment of
plain data from that alone, and the fragments of all releases are assembled into the
gateway's files. A release's fragments are serialized as soon as they are rendered
(`ReleaseFragments`), so they can be cached and a gateway file is the splice of its
releases' pieces; the bytes are those of serializing the assembled data in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler.emit import EmittedFile, EmittedItem, emit_item, to_json, to_yaml

if TYPE_CHECKING:
    from compiler.traffic import TrafficState
    from compiler.validate import CheckedRelease

RENDERED_DIR = "rendered"


@dataclass(frozen=True)
class ReleaseFragments:
    """One release's share of `rendered/`: each gateway's fragment, its list items already
    emitted as YAML, and the bundle manifest's whole JSON text."""

    gateways: dict[str, dict[str, Any]]
    manifest: str
    # What `relc plan` says of each gateway the release lists, in its order.
    descriptions: tuple[tuple[str, str], ...] = ()

    def to_plain(self, texts: list[str]) -> dict[str, Any]:
        """JSON-ready form, for the cache: each emitted text is appended to `texts` and
        named by its index there."""

        def stored(text: str) -> int:
            texts.append(text)
            return len(texts) - 1

        gateways = {
            gateway: {key: {"items": [stored(item.text) for item in value]} if _is_emitted_list(value) else {"data": value}
                      for key, value in fragment.items()}  # fmt: skip
            for gateway, fragment in self.gateways.items()
        }
        return {"gateways": gateways, "manifest": stored(self.manifest), "descriptions": [list(d) for d in self.descriptions]}

    @classmethod
    def from_plain(cls, plain: dict[str, Any], texts: list[str]) -> "ReleaseFragments":
        """The inverse of `to_plain`; raises on anything else (a damaged cache entry)."""
        gateways: dict[str, dict[str, Any]] = {}
        for gateway, fragment in plain["gateways"].items():
            gateways[gateway] = {}
            for key, value in fragment.items():
                if "items" in value:
                    gateways[gateway][key] = [EmittedItem(texts[index]) for index in value["items"]]
                else:
                    gateways[gateway][key] = value["data"]
        descriptions = tuple((str(gateway), str(text)) for gateway, text in plain["descriptions"])
        return cls(gateways, texts[plain["manifest"]], descriptions)


def _is_emitted_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, EmittedItem) for item in value)


def serialize(path: str, data: Any) -> bytes:
    if isinstance(data, EmittedFile):
        return data.text.encode("utf-8")
    return (to_json(data) if path.endswith(".json") else to_yaml(data)).encode("utf-8")


def release_fragments(checked: "CheckedRelease") -> ReleaseFragments:
    """Everything one release contributes to `rendered/`, serialized piece by piece.

    The top-level lists of a gateway's fragment are spliced into that gateway's YAML
    files, so their items are emitted now; other values stay data.
    """
    from compiler.gateways import renderers
    from compiler.manifest import bundle_manifest
    from compiler.traffic import traffic_state

    state = traffic_state(checked.release)
    gateways = {}
    for name, renderer in renderers().items():
        if name in state.gateways:
            fragment = renderer.render(state)
            gateways[name] = {
                key: [emit_item(item) for item in value] if isinstance(value, list) else value
                for key, value in fragment.items()
            }
    manifest = to_json(bundle_manifest(state, checked.template_texts()))
    return ReleaseFragments(gateways, manifest, describe_gateways(state))


def describe_gateways(state: "TrafficState") -> tuple[tuple[str, str], ...]:
    """Each listed gateway's one line for `relc plan`."""
    from compiler.gateways import renderers

    available = renderers()
    return tuple((name, available[name].describe(state)) for name in state.gateways)


def render_tree(releases: "list[CheckedRelease]", consume: bool = False) -> dict[str, bytes]:
    """Every file of `rendered/`, by path relative to it.

    Each gateway's files are serialized as soon as they are assembled. With `consume`,
    the releases' fragments are let go as they are used (a later render re-makes them),
    so the fragments and the files they become are not both held whole.
    """
    from compiler.gateways import renderers, write_first_files

    ordered = sorted(releases, key=lambda checked: checked.name)
    pieces = [checked.fragments if checked.fragments is not None else release_fragments(checked)
              for checked in ordered]  # fmt: skip
    if consume:
        for checked in ordered:
            checked.fragments = None
    files: dict[str, bytes] = {}
    for name, renderer in renderers().items():
        fragments = [piece.gateways[name] for piece in pieces if name in piece.gateways]
        if fragments:
            files.update((path, serialize(path, data)) for path, data in renderer.assemble(fragments).items())
        del fragments
        if consume:
            pieces = [ReleaseFragments({k: v for k, v in p.gateways.items() if k != name}, p.manifest, p.descriptions)
                      for p in pieces]  # fmt: skip
    for checked, piece in zip(ordered, pieces):
        files[f"bundles/{checked.name}.json"] = piece.manifest.encode("utf-8")
    del pieces
    first = write_first_files()
    return {path: files[path] for path in sorted(files, key=lambda path: (path not in first, path))}
