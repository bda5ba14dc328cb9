"""Render checked releases into the files of `rendered/`, in memory.

Each release is turned into a `TrafficState`, each gateway renders its fragment of
plain data from that alone, and the fragments of all releases are assembled into the
gateway's files. A release's fragments are serialized as soon as they are rendered
(`ReleaseFragments`), so they can be cached and a gateway file is the splice of its
releases' pieces; the bytes are those of serializing the assembled data in one go.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from compiler.emit import EmittedFile, EmittedItem, emit_item, to_json, to_yaml_bytes

if TYPE_CHECKING:
    from compiler.traffic import TrafficState
    from compiler.validate import CheckedRelease

RENDERED_DIR = "rendered"


@dataclass(frozen=True)
class ReleaseFragments:
    """One release's share of `rendered/`, kept compressed until its files are assembled.

    Each gateway's fragment (its list items already emitted as YAML) and the bundle
    manifest's JSON text are packed with zlib: a repository's releases must all be
    rendered before any gateway file can be assembled, and as text, ten thousand
    releases' fragments cost more memory than the files they become. The packed bytes
    are also what the cache stores (`to_plain`).
    """

    # Each gateway's packed fragment (see `pack_fragment`), by gateway name.
    gateways: dict[str, bytes]
    manifest: bytes
    # What `relc plan` says of each gateway the release lists, in its order.
    descriptions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def pack(cls, gateways: dict[str, dict[str, Any]], manifest: str, descriptions: tuple[tuple[str, str], ...]) -> "ReleaseFragments":
        packed = {name: pack_fragment(fragment) for name, fragment in gateways.items()}
        return cls(packed, zlib.compress(manifest.encode("utf-8"), _LEVEL), descriptions)

    def gateway(self, name: str) -> dict[str, Any] | None:
        """The gateway's fragment as its renderer made it, or None when the release does not list it."""
        packed = self.gateways.get(name)
        return unpack_fragment(packed) if packed is not None else None

    def manifest_text(self) -> str:
        return zlib.decompress(self.manifest).decode("utf-8")

    def to_plain(self, blobs: list[bytes]) -> dict[str, Any]:
        """JSON-ready form, for the cache: each packed piece is appended to `blobs` and
        named by its index there."""

        def stored(blob: bytes) -> int:
            blobs.append(blob)
            return len(blobs) - 1

        gateways = {name: stored(packed) for name, packed in self.gateways.items()}
        return {"gateways": gateways, "manifest": stored(self.manifest), "descriptions": [list(d) for d in self.descriptions]}

    @classmethod
    def from_plain(cls, plain: dict[str, Any], blobs: list[bytes]) -> "ReleaseFragments":
        """The inverse of `to_plain`; raises on anything else (a damaged cache entry).
        The pieces stay packed, as the entry's checksum vouches for them."""
        gateways = {str(name): blobs[index] for name, index in plain["gateways"].items()}
        descriptions = tuple((str(gateway), str(text)) for gateway, text in plain["descriptions"])
        return cls(gateways, blobs[plain["manifest"]], descriptions)


_LEVEL = 1  # zlib's fastest: these are small, repetitive texts, and a build makes thousands


def pack_fragment(fragment: dict[str, Any]) -> bytes:
    """A gateway fragment as one zlib stream: a line of JSON naming each key's data, or
    the lengths of its emitted items, then the items' texts back to back (JSON would
    escape them all)."""
    layout: dict[str, Any] = {}
    texts: list[str] = []
    for key, value in fragment.items():
        if _is_emitted_list(value):
            layout[key] = {"items": [len(item.text) for item in value]}
            texts.extend(item.text for item in value)
        else:
            layout[key] = {"data": value}
    head = json.dumps(layout, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return zlib.compress(f"{head}\n{''.join(texts)}".encode("utf-8"), _LEVEL)


def unpack_fragment(packed: bytes) -> dict[str, Any]:
    """The inverse of `pack_fragment`; raises ValueError (zlib.error, JSON) on anything else."""
    head, _, joined = zlib.decompress(packed).decode("utf-8").partition("\n")
    fragment: dict[str, Any] = {}
    start = 0
    for key, value in json.loads(head).items():
        if "items" in value:
            items = []
            for length in value["items"]:
                items.append(EmittedItem(joined[start : start + length]))
                start += length
            fragment[key] = items
        else:
            fragment[key] = value["data"]
    if start != len(joined):
        raise ValueError("a packed fragment's texts do not match its layout")
    return fragment


def _is_emitted_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, EmittedItem) for item in value)


def serialize(path: str, data: Any) -> bytes:
    if isinstance(data, EmittedFile):
        return data.text.encode("utf-8")
    return to_json(data).encode("utf-8") if path.endswith(".json") else to_yaml_bytes(data)


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
    return ReleaseFragments.pack(gateways, manifest, describe_gateways(state))


def describe_gateways(state: "TrafficState") -> tuple[tuple[str, str], ...]:
    """Each listed gateway's one line for `relc plan`."""
    from compiler.gateways import renderers

    available = renderers()
    return tuple((name, available[name].describe(state)) for name in state.gateways)


def render_tree(releases: "list[CheckedRelease]") -> dict[str, bytes]:
    """Every file of `rendered/`, by path relative to it, in the order they are written."""
    return dict(render_files(releases))


def render_manifests(releases: "list[CheckedRelease]") -> Iterator[tuple[str, bytes]]:
    """Only the `bundles/<release>.json` files of `rendered/`: what a plan compares, without
    assembling any gateway file."""
    for checked in sorted(releases, key=lambda checked: checked.name):
        piece = checked.fragments if checked.fragments is not None else release_fragments(checked)
        yield f"bundles/{checked.name}.json", piece.manifest_text().encode("utf-8")


def render_files(releases: "list[CheckedRelease]") -> Iterator[tuple[str, bytes]]:
    """Every file of `rendered/` as (path, bytes), one at a time: the files gateways
    need written first, then the rest by path.

    A consumer that writes or compares each file as it comes (`emit.write_tree`,
    `emit.compare_tree`) never holds the whole tree, and only one gateway's fragments
    are unpacked at a time.
    """
    from compiler.gateways import renderers, write_first_files

    ordered, pieces = _pieces_in_order(releases)
    first = write_first_files()
    held: dict[str, dict[str, bytes]] = {}
    for name, renderer in renderers().items():
        if first.intersection(renderer.write_first):
            files = held[name] = _assembled(name, pieces)
            yield from ((path, files.pop(path)) for path in sorted(first.intersection(files)))
    for path, index in sorted((f"bundles/{checked.name}.json", index) for index, checked in enumerate(ordered)):
        yield path, pieces[index].manifest_text().encode("utf-8")
    # Gateway names order their folders, and every one sorts after `bundles/`.
    for name in sorted(renderers()):
        yield from (held.pop(name) if name in held else _assembled(name, pieces)).items()


@dataclass(frozen=True)
class RenderUnit:
    """Files of `rendered/` made from the same packed pieces alone: one release's bundle
    manifest, or one gateway's files. The same `inputs` (for the same relc) make the same
    files, so files known to hold a unit's bytes need not be made again (`fresh`)."""

    name: str
    inputs: tuple[bytes, ...]
    make: Callable[[], dict[str, bytes]]
    # The gateway whose files these are ("" for a manifest), and those of its files that
    # `render_files` yields before all others (`Renderer.write_first`).
    gateway: str = ""
    write_first: tuple[str, ...] = ()


def render_units(releases: "list[CheckedRelease]") -> Iterator[RenderUnit]:
    """Every file of `rendered/`, as the units it is made in: each manifest, then each
    gateway's files, in the order of `render_files` but for the files written first."""
    ordered, pieces = _pieces_in_order(releases)
    for checked, piece in zip(ordered, pieces):
        yield _manifest_unit(checked.name, piece)
    yield from _gateway_units(pieces)


def manifest_unit(checked: "CheckedRelease") -> RenderUnit:
    """One release's bundle manifest, as a unit: it needs no other release."""
    return _manifest_unit(checked.name, checked.fragments if checked.fragments is not None else release_fragments(checked))


def gateway_units(releases: "list[CheckedRelease]") -> Iterator[RenderUnit]:
    """Each gateway's files, as a unit made from every release's fragment, by gateway name."""
    yield from _gateway_units(_pieces_in_order(releases)[1])


def _manifest_unit(name: str, piece: ReleaseFragments) -> RenderUnit:
    path = f"bundles/{name}.json"
    return RenderUnit(path, (piece.manifest,), lambda: {path: piece.manifest_text().encode("utf-8")})


def _gateway_units(pieces: list[ReleaseFragments]) -> Iterator[RenderUnit]:
    from compiler.gateways import renderers

    for name in sorted(renderers()):
        inputs = tuple(piece.gateways[name] for piece in pieces if name in piece.gateways)
        yield RenderUnit(f"gateway {name}", inputs, lambda name=name: _assembled(name, pieces), name, renderers()[name].write_first)


def _pieces_in_order(releases: "list[CheckedRelease]") -> tuple["list[CheckedRelease]", list[ReleaseFragments]]:
    ordered = sorted(releases, key=lambda checked: checked.name)
    return ordered, [checked.fragments if checked.fragments is not None else release_fragments(checked) for checked in ordered]


def _assembled(name: str, pieces: list[ReleaseFragments]) -> dict[str, bytes]:
    """A gateway's files, serialized, in path order."""
    from compiler.gateways import renderers

    fragments = [fragment for piece in pieces if (fragment := piece.gateway(name)) is not None]
    if not fragments:
        return {}
    data = renderers()[name].assemble(fragments)
    del fragments
    return {path: serialize(path, value) for path, value in sorted(data.items())}
