"""Portkey's open-source gateway (`@portkey-ai/gateway` 1.15): one config per release.

The open-source gateway reads no config file: each request carries its routing in the
`x-portkey-config` header. So relc renders `portkey/<release>.json`, the config that
clients (or a thin proxy in front of the gateway) send with every call to the release's
public model. The config is a `loadbalance` over the bundles that answer now, weighted
by their shares; each bundle with a fallback chain is a nested `fallback` group
(candidate -> stable -> previous) that moves on only on the status codes a failure
means. Keys stay out of the file: `api_key` is `${VAR}`, substituted where the config is
sent. Fields are those of Portkey's config schema, vendored as `portkey-config.schema.json`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from typing import TYPE_CHECKING

from compiler.gateways import GatewayRenderer, Unsupported, cannot_mirror

if TYPE_CHECKING:  # assembling cached fragments needs neither the spec nor pydantic
    from compiler.spec import Bundle, Release
    from compiler.traffic import LiveBundle, TrafficState

# Our providers as Portkey names them; self-hosted servers speak OpenAI's API at custom_host.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "mistral": "mistral-ai",
    "vllm": "openai",
    "tgi": "openai",
    "openai_compatible": "openai",
}
# Why the others cannot be served with the fields Portkey 1.15's config schema has.
UNSERVABLE = {
    "azure": "Portkey builds Azure OpenAI URLs from a resource name, deployment id and API version that its "
    "config schema has no fields for",
    "bedrock": "Portkey's Bedrock target needs AWS access keys and a region, and relc models only one key variable",
    "vertex_ai": "Portkey's Vertex AI target needs vertex_project_id and vertex_region, which relc does not model",
}
# What a failed call answers through Portkey: 408 its own timeout, 429 rate limits, 500 an
# upstream error or a refused connection, 502-504 proxies and overload. 4xx other than
# these are the request's fault and would fail the same on any bundle.
FAILURE_STATUS_CODES = [408, 429, 500, 502, 503, 504]
FAILURE_TEXT = ", ".join(map(str, FAILURE_STATUS_CODES))
# Portkey's custom_host check refuses hosts with anything but these characters (after IDNA),
# `@` anywhere in the URL, a trailing dot or more than 10 labels, whatever the gateway trusts.
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def config_path(release: str) -> str:
    return f"portkey/{release}.json"


def secret_reference(variable: str) -> str:
    """A placeholder the sender fills from its environment (`envsubst`); never the key."""
    return "${" + variable + "}"


def _leaf(live: LiveBundle) -> dict[str, Any]:
    """One bundle as a Portkey target: provider, model and parameters, timeout, retries."""
    model, serving = live.bundle.model, live.bundle.serving
    override_params: dict[str, Any] = {
        "model": model.name,
        "temperature": serving.temperature,
        "max_tokens": serving.max_tokens,
    }
    if serving.top_p is not None:
        override_params["top_p"] = serving.top_p
    target: dict[str, Any] = {
        "provider": PROVIDERS[model.provider],
        "override_params": override_params,
        "request_timeout": max(1, round(live.timeout_seconds * 1000)),  # milliseconds
        "retry": {"attempts": serving.retries, "on_status_codes": FAILURE_STATUS_CODES},
    }
    if model.api_key_env is not None:
        target["api_key"] = secret_reference(model.api_key_env)
    if model.api_base is not None:
        target["custom_host"] = model.api_base.rstrip("/")  # Portkey appends `/chat/completions`
    return target


def _chain(state: TrafficState, live: LiveBundle) -> list[str]:
    return [live.version, *state.fallbacks_of(live.version)]


def _weighted_target(state: TrafficState, live: LiveBundle) -> dict[str, Any]:
    """An answering bundle with its share; with a fallback chain, a nested `fallback` group."""
    chain = _chain(state, live)
    if len(chain) == 1:
        return {"weight": live.weight, **_leaf(live)}
    return {
        "weight": live.weight,
        "strategy": {"mode": "fallback", "on_status_codes": FAILURE_STATUS_CODES},
        "targets": [_leaf(state.bundle(version)) for version in chain],
    }


def render(state: TrafficState) -> dict[str, Any]:
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [_weighted_target(state, live) for live in state.answering],
    }
    return {"release": state.release, "config": config}


def assemble(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    return {config_path(fragment["release"]): fragment["config"] for fragment in fragments}


def custom_host_problem(url: str) -> str | None:
    """Why Portkey 1.15 refuses `url` as a custom_host whatever TRUSTED_CUSTOM_HOSTS says, if it does."""
    if "@" in url:
        return "it contains `@`"
    if "api.portkey" in url.lower():
        return "it names Portkey's own API"
    host = urlsplit(url).hostname or ""
    if ":" in host:
        return "it is an IPv6 address, which Portkey's host check never accepts"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"its host `{host}` is not a valid international domain name"
    if not set(ascii_host) <= _HOST_CHARACTERS:
        return f"its host `{host}` has characters other than letters, digits, `.` and `-`"
    if ascii_host.endswith("."):
        return "its host ends with a dot"
    if len(ascii_host.split(".")) > 10:
        return "its host has more than 10 labels"
    return None


def _bundle_problem(index: int, bundle: Bundle) -> Unsupported | None:
    provider = bundle.model.provider
    if provider not in PROVIDERS:
        return Unsupported(
            ("bundles", index, "model", "provider"),
            "RELC502",
            f"portkey cannot serve bundle `{bundle.version}` with provider `{provider}`: {UNSERVABLE.get(provider, 'no Portkey provider matches')}; "
            "route it with litellm, or remove portkey from route.gateways",
        )
    problem = custom_host_problem(bundle.model.api_base) if bundle.model.api_base else None
    if problem is not None:
        return Unsupported(
            ("bundles", index, "model", "api_base"),
            "RELC502",
            f"portkey refuses the api_base of bundle `{bundle.version}` as a custom_host because {problem}: "
            "serve the bundle at a plain host name or IPv4 address, or remove portkey from route.gateways",
        )
    return None


def unsupported(release: Release) -> list[Unsupported]:
    problems = cannot_mirror(release, "portkey", "its open-source gateway routes each request to one target at a time")
    for index, bundle in enumerate(release.bundles):
        problem = _bundle_problem(index, bundle)
        if problem is not None:
            problems.append(problem)
    return problems


def describe(state: TrafficState) -> str:
    """One line for `relc plan`: the split and each answering bundle's fallback chain."""
    text = f"`{config_path(state.release)}` (x-portkey-config): loadbalance {state.split_text}"
    chains = [" -> ".join(chain) for live in state.answering if len(chain := _chain(state, live)) > 1]
    if chains:
        text += f"; on {FAILURE_TEXT}: " + ", ".join(chains)
    return text


RENDERER = GatewayRenderer(
    name="portkey",
    capabilities={
        "canary": "`loadbalance` targets weighted by share, in the config each request sends as `x-portkey-config`",
        "shadow": "not supported: the open-source gateway has no traffic mirroring (an error, never dropped)",
        "fallback": f"nested `fallback` targets on {FAILURE_TEXT}: candidate -> stable -> previous",
        "retries": f"`retry` per target: `attempts`, on {FAILURE_TEXT}",
        "timeouts": "`request_timeout` per target (a timeout answers 408 and falls back)",
    },
    unsupported=unsupported,
    describe=describe,
    render=render,
    assemble=assemble,
)
