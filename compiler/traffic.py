"""From a checked release to who serves what: one `TrafficState`, shared by every renderer.

Weights are integers in basis points (10000 = all traffic), the unit every gateway can
carry without rounding surprises. The stable bundle is always live, even at 0% served,
so a rollback is only a routing change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Literal
from urllib.parse import urlsplit

from compiler.digest import bundle_digest
from compiler.spec import Bundle, Release, Step, duration_seconds

FULL = 10_000
Role = Literal["stable", "candidate", "previous"]


def basis_points(percent: float) -> int:
    return round(percent * 100)


def percent_of(weight: int) -> float:
    """Basis points as a percentage: 1250 -> 12.5."""
    return weight * 100 / FULL


def default_port_of(scheme: str) -> int:
    """The port a URL means when it names none."""
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class Endpoint:
    """An api_base, parsed once (the spec checked that it parses): what gateways address."""

    scheme: str
    host: str
    port: int
    path: str  # without a trailing slash

    @property
    def default_port(self) -> int:
        return default_port_of(self.scheme)

    @property
    def host_header(self) -> str:
        """The Host header the upstream expects: brackets for IPv6, the port unless it is the default."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == self.default_port else f"{name}:{self.port}"

    @property
    def address(self) -> str:
        """`host:port`, as a load balancer target."""
        return f"{self.host}:{self.port}"


@lru_cache(maxsize=4096)  # a release names a few endpoints, asked of by every renderer
def endpoint_of(url: str) -> Endpoint:
    parts = urlsplit(url)
    scheme = parts.scheme
    return Endpoint(scheme, parts.hostname or "", parts.port or default_port_of(scheme), parts.path.rstrip("/"))


@dataclass(frozen=True)
class LiveBundle:
    """A bundle deployed in the gateways, with its share of served and mirrored traffic."""

    version: str
    role: Role
    digest: str
    bundle: Bundle
    weight: int
    mirror_weight: int = 0

    @property
    def endpoint(self) -> Endpoint | None:
        api_base = self.bundle.model.api_base
        return endpoint_of(api_base) if api_base else None

    @property
    def timeout_seconds(self) -> float:
        return duration_seconds(self.bundle.serving.timeout)

    @property
    def served_percent(self) -> float:
        return percent_of(self.weight)

    @property
    def mirror_percent(self) -> float:
        return percent_of(self.mirror_weight)


def percent_text(percent: float) -> str:
    """`12.5%`: how every output writes a share of traffic."""
    return f"{percent:g}%"


def shares_text(shares: Iterable[tuple[str, float]]) -> str:
    """`v41 90%, v42 10%`: who answers what share, from (name, percent) pairs."""
    return ", ".join(f"{name} {percent_text(percent)}" for name, percent in shares)


def step_text(kind: str, percent: float) -> str:
    """`canary 10%`: how every output names a step."""
    return f"{kind} {percent_text(percent)}"


def step_position(number: int, count: int) -> str:
    """`step 2 of 4`: where a rollout stands."""
    return f"step {number} of {count}"


def step_label(number: int | None, count: int, kind: str = "", percent: float = 0, hold: str = "") -> str:
    """`step 2 of 4: canary 10%, hold 1h`, or the steady state."""
    if number is None:
        return "steady (no rollout)"
    return f"{step_position(number, count)}: {step_text(kind, percent)}, hold {hold}"


@dataclass(frozen=True)
class TrafficState:
    """The traffic of one release at its current step."""

    release: str
    public_model: str
    gateways: tuple[str, ...]
    step_number: int | None
    step_count: int
    step: Step | None
    live: tuple[LiveBundle, ...]
    # Versions to try, in order, when a request to the key's version fails.
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...]

    def bundle(self, version: str) -> LiveBundle:
        return next(live for live in self.live if live.version == version)

    @property
    def served(self) -> tuple[LiveBundle, ...]:
        """Bundles that answer clients (stable and candidate), weights summing to FULL."""
        return tuple(live for live in self.live if live.role != "previous")

    @property
    def mirrored(self) -> LiveBundle | None:
        return next((live for live in self.live if live.mirror_weight), None)

    def fallbacks_of(self, version: str) -> tuple[str, ...]:
        return dict(self.fallbacks).get(version, ())

    @property
    def answering(self) -> tuple[LiveBundle, ...]:
        """Bundles with a share of client traffic now."""
        return tuple(live for live in self.served if live.weight > 0)

    @property
    def split_text(self) -> str:
        """`v41 90%, v42 10%`: who answers what share."""
        return shares_text((live.version, live.served_percent) for live in self.answering)

    @property
    def mirror_text(self) -> str | None:
        mirrored = self.mirrored
        return None if mirrored is None else f"{percent_text(mirrored.mirror_percent)} mirrored to {mirrored.version}"

    @property
    def step_label(self) -> str:
        step = self.step
        if step is None:
            return step_label(None, self.step_count)
        return step_label(self.step_number, self.step_count, step.kind, step.percent, step.hold)


def traffic_state(release: Release) -> TrafficState:
    """Traffic at the release's current step: the one function every gateway renders from."""
    rollout = release.rollout
    step_number = rollout.current_step
    step = rollout.steps[step_number - 1] if step_number is not None else None
    candidate_weight = basis_points(step.canary) if step is not None and step.canary is not None else 0
    mirror_weight = basis_points(step.shadow) if step is not None and step.shadow is not None else 0

    def live(version: str, role: Role, weight: int, mirror: int = 0) -> LiveBundle:
        bundle = release.bundle(version)
        assert bundle is not None, f"{release.name}: {role} {version} was checked to exist"
        return LiveBundle(version, role, bundle_digest(bundle), bundle, weight, mirror)

    bundles = [live(rollout.stable, "stable", FULL - candidate_weight)]
    chain = [rollout.stable]
    if rollout.candidate is not None:
        bundles.append(live(rollout.candidate, "candidate", candidate_weight, mirror_weight))
    if rollout.previous is not None:
        bundles.append(live(rollout.previous, "previous", 0))
        chain.append(rollout.previous)
    fallbacks = []
    if rollout.candidate is not None:
        fallbacks.append((rollout.candidate, tuple(chain)))
    if len(chain) > 1:
        fallbacks.append((rollout.stable, tuple(chain[1:])))
    return TrafficState(
        release=release.name,
        public_model=release.route.model,
        gateways=tuple(release.route.gateways),
        step_number=step_number,
        step_count=len(rollout.steps),
        step=step,
        live=tuple(bundles),
        fallbacks=tuple(fallbacks),
    )
