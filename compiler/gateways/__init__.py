"""Gateway renderers: one module per gateway, each a pure function of `TrafficState`.

Every renderer declares what it can express and finds, from the release alone, what it
cannot (so `relc validate` reports it before any build). Rendering turns one release's
traffic into a fragment of plain data; `assemble` merges the fragments of all releases
into the gateway's files. Renderers share nothing but `TrafficState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from compiler.load import FieldPath
from compiler.spec import Release
from compiler.traffic import TrafficState


@dataclass(frozen=True)
class Unsupported:
    """Something in a release that a gateway cannot express, placed at its field."""

    path: FieldPath
    code: str
    message: str


class GatewayRenderer(Protocol):
    name: str
    # What the gateway expresses, for the README table: canary, shadow, fallback, retries, timeouts.
    capabilities: dict[str, str]

    def unsupported(self, release: Release) -> list[Unsupported]: ...

    def describe(self, state: TrafficState) -> str: ...

    def render(self, state: TrafficState) -> dict[str, Any]: ...

    def assemble(self, fragments: list[dict[str, Any]]) -> dict[str, Any]: ...


def renderers() -> dict[str, GatewayRenderer]:
    """All gateways by name, in the order their files are written."""
    from compiler.gateways import envoy, kong, litellm

    return {"envoy": envoy.RENDERER, "kong": kong.RENDERER, "litellm": litellm.RENDERER}


def shadow_steps(release: Release) -> list[int]:
    return [index for index, step in enumerate(release.rollout.steps) if step.shadow is not None]


CAPABILITY_ROWS = ("canary", "shadow", "fallback", "retries", "timeouts")


def capability_table() -> str:
    """The README's gateway table, made from what each renderer declares."""
    gateways = renderers()
    names = sorted(gateways)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in CAPABILITY_ROWS:
        lines.append(f"| {row} | " + " | ".join(gateways[name].capabilities[row] for name in names) + " |")
    return "\n".join(lines) + "\n"
