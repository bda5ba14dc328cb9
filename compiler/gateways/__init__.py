"""Gateway renderers: one module per gateway, each a pure function of `TrafficState`.

Every renderer declares what it can express and finds, from the release alone, what it
cannot (so `relc validate` reports it before any build). Rendering turns one release's
traffic into a fragment of plain data; `assemble` merges the fragments of all releases
into the gateway's files. Renderers share nothing but `TrafficState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from compiler.diagnostics import define
from compiler.load import FieldPath

if TYPE_CHECKING:  # types only: assembling cached fragments needs neither (nor pydantic)
    from compiler.spec import Release
    from compiler.traffic import TrafficState


# What a gateway cannot do is said, never dropped (`Unsupported` carries one of these).
RELC501 = define(
    "RELC501",
    title="gateway cannot express a rollout step",
    meaning="a gateway cannot express a rollout step (kong has no traffic mirroring, so no shadow steps)",
    fix="use a small canary step, or a gateway that mirrors (envoy, litellm)",
)
RELC502 = define(
    "RELC502",
    title="gateway cannot serve a bundle",
    meaning="a gateway cannot serve a bundle (envoy needs an `api_base`, one path per release; kong cannot "
            "configure bedrock or vertex_ai credentials)",
    fix="set what the message names, or remove the gateway from `route.gateways`",
)


@dataclass(frozen=True)
class Unsupported:
    """Something in a release that a gateway cannot express, placed at its field."""

    path: FieldPath
    code: str
    message: str


@dataclass(frozen=True)
class MetricLabels:
    """How a gateway's metrics name one bundle, as PromQL placeholders (`$envoy_cluster`)."""

    # The placeholders, known before any bundle is (query files are checked against them).
    names: tuple[str, ...]
    # (release, public model, version) -> {placeholder: text}, the text not yet escaped for a
    # PromQL string; a placeholder the gateway's PromQL reads with `=~` holds a regular expression.
    values: Callable[[str, str, str], dict[str, str]]


@dataclass(frozen=True)
class GatewayRenderer:
    """What every gateway module provides; its functions are pure."""

    name: str
    # What the gateway expresses, for the README table: canary, shadow, fallback, retries, timeouts.
    capabilities: dict[str, str]
    # What in a release it cannot express, found before any build.
    unsupported: Callable[[Release], list[Unsupported]]
    # One line for `relc plan`.
    describe: Callable[[TrafficState], str]
    # One release's fragment of plain data.
    render: Callable[[TrafficState], dict[str, Any]]
    # The fragments of all releases, as {path under rendered/: data}.
    assemble: Callable[[list[dict[str, Any]]], dict[str, Any]]
    # Files the gateway reloads only when one is moved into place (never on an in-place
    # write, which is what `git checkout` and `git revert` do): `relc build` moves them
    # again even when their bytes are unchanged.
    reload_on_move: tuple[str, ...] = ()
    # Early writes and the final order that keep every state the gateway can read whole,
    # from the files it has now and the files to write (see envoy.transition).
    transition: Callable[[dict[str, bytes], dict[str, bytes]], tuple[list[dict[str, bytes]], dict[str, bytes]]] | None = None
    # Files written before all others (Envoy: clusters before the routes that name them).
    write_first: tuple[str, ...] = ()
    # The ready-made PromQL over the gateway's own metrics, `--queries <name>` (None: none).
    promql: Callable[[], dict[str, Any]] | None = None
    # The labels or ids its metrics carry for a bundle, which `promql` reads (None: no metrics).
    metric_labels: MetricLabels | None = None


def write_phases(folder: Path, files: dict[str, bytes]) -> tuple[list[dict[str, bytes]], dict[str, bytes]]:
    """Every gateway's early writes into `folder`, and the final files in an order safe for
    all of them. Only the files a gateway reloads are read."""
    from compiler.emit import on_disk

    phases: list[dict[str, bytes]] = []
    for renderer in renderers().values():
        if renderer.transition is not None:
            existing = {path: content for path in renderer.reload_on_move if (content := on_disk(folder / path)) is not None}
            early, files = renderer.transition(existing, files)
            phases.extend(early)
    return phases, files


def metric_labels() -> dict[str, MetricLabels]:
    """Every gateway's metric labels, by gateway, in registry order."""
    return {name: renderer.metric_labels for name, renderer in renderers().items() if renderer.metric_labels is not None}


def write_first_files() -> frozenset[str]:
    return frozenset(path for renderer in renderers().values() for path in renderer.write_first)


def reload_on_move_files() -> frozenset[str]:
    """Every gateway's files that must be moved into place for the gateway to reload."""
    return frozenset(path for renderer in renderers().values() for path in renderer.reload_on_move)


def renderers() -> dict[str, GatewayRenderer]:
    """All gateways by name, in the order their files are written."""
    from compiler.gateways import envoy, kong, litellm, portkey

    return {"envoy": envoy.RENDERER, "kong": kong.RENDERER, "litellm": litellm.RENDERER, "portkey": portkey.RENDERER}


def shadow_steps(release: Release) -> list[int]:
    return [index for index, step in enumerate(release.rollout.steps) if step.shadow is not None]


def cannot_mirror(release: Release, gateway: str, why: str) -> list[Unsupported]:
    """RELC501 at each shadow step of a release, for a gateway that cannot mirror traffic."""
    return [
        Unsupported(
            ("rollout", "steps", index),
            "RELC501",
            f"rollout.steps[{index}] is a shadow step, and {gateway} cannot mirror traffic ({why}): use a small "
            f"canary step instead, or remove {gateway} from route.gateways",
        )
        for index in shadow_steps(release)
    ]


CAPABILITY_ROWS = ("canary", "shadow", "fallback", "retries", "timeouts")


def capability_table() -> str:
    """The README's gateway table, made from what each renderer declares."""
    gateways = renderers()
    names = sorted(gateways)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in CAPABILITY_ROWS:
        lines.append(f"| {row} | " + " | ".join(gateways[name].capabilities[row] for name in names) + " |")
    return "\n".join(lines) + "\n"
