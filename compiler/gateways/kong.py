"""Kong (decK declarative format 3.0): one service and route per release.

A release whose bundles are all self-hosted under one URL scheme and path renders an
upstream with one weighted target per serving bundle (plain Kong OSS, passive health
checks eject a failing target). Otherwise Kong's AI plugins carry the split: `ai-proxy`
when one bundle serves (Kong OSS), `ai-proxy-advanced` with weighted targets and a
failover balancer during a canary (Kong Enterprise or Konnect). Kong cannot mirror
traffic, so a release with a shadow step cannot use it. Keys stay out of the files:
decK fills `${{ env "DECK_<VAR>" }}` at sync time.
"""

from __future__ import annotations

from typing import Any

from compiler.gateways import GatewayRenderer, Unsupported, shadow_steps
from compiler.spec import SELF_HOSTED_PROVIDERS, Bundle, Release
from compiler.traffic import LiveBundle, TrafficState, endpoint_of

ROUTE_TYPE = "llm/v1/chat"
ANTHROPIC_VERSION = "2023-06-01"
# Our providers in Kong's ai-proxy terms; self-hosted servers speak OpenAI's API.
PROVIDERS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "mistral": "mistral",
    "gemini": "gemini",
    "vllm": "openai",
    "tgi": "openai",
    "openai_compatible": "openai",
}


def secret_reference(variable: str) -> str:
    """decK's environment substitution; decK reads only variables named DECK_*."""
    return '${{ env "DECK_' + variable + '" }}'


def _auth(bundle: Bundle) -> dict[str, Any] | None:
    variable = bundle.model.api_key_env
    if variable is None:
        return None
    if bundle.model.provider == "anthropic":
        return {"header_name": "x-api-key", "header_value": secret_reference(variable)}
    if bundle.model.provider == "azure":
        return {"header_name": "api-key", "header_value": secret_reference(variable)}
    if bundle.model.provider == "gemini":
        return {"param_name": "key", "param_location": "query", "param_value": secret_reference(variable)}
    return {"header_name": "Authorization", "header_value": "Bearer " + secret_reference(variable)}


def _model(bundle: Bundle) -> dict[str, Any]:
    model, serving = bundle.model, bundle.serving
    provider = PROVIDERS[model.provider]
    options: dict[str, Any] = {"max_tokens": serving.max_tokens, "temperature": serving.temperature}
    if serving.top_p is not None:
        options["top_p"] = serving.top_p
    if provider == "anthropic":
        options["anthropic_version"] = ANTHROPIC_VERSION
    if provider == "mistral":
        options["mistral_format"] = "openai"
    if model.provider == "azure" and model.api_base:
        options["azure_instance"] = endpoint_of(model.api_base).host.split(".")[0]
        options["azure_deployment_id"] = model.name
        options["azure_api_version"] = model.api_version or "2024-06-01"
    elif model.api_base:
        options["upstream_url"] = model.api_base.rstrip("/") + "/chat/completions"
    return {"provider": provider, "name": model.name, "options": options}


def _target(live: LiveBundle) -> dict[str, Any]:
    """One ai-proxy configuration (route type, model, auth) for a bundle."""
    target: dict[str, Any] = {"route_type": ROUTE_TYPE, "model": _model(live.bundle)}
    auth = _auth(live.bundle)
    if auth is not None:
        target["auth"] = auth
    return target


def _plugin(state: TrafficState, served: list[LiveBundle]) -> dict[str, Any]:
    if len(served) == 1:
        return {"name": "ai-proxy", "config": _target(served[0])}
    targets = [
        {**_target(live), "weight": live.weight, "description": f"{state.release}@{live.version} {live.digest}"}
        for live in served
    ]
    retries = max(live.bundle.serving.retries for live in served)
    return {
        "name": "ai-proxy-advanced",
        "config": {
            "balancer": {"algorithm": "round-robin", "retries": max(retries, 1), "failover_criteria": ["error", "timeout"]},
            "targets": targets,
        },
    }


def upstream_name(state: TrafficState) -> str:
    return f"{state.release}.relc.upstream"


def _shared_url(bundles: list[Bundle]) -> tuple[str, str] | None:
    """Scheme and path shared by every bundle, when all are self-hosted: upstream mode."""
    if not all(bundle.model.provider in SELF_HOSTED_PROVIDERS and bundle.model.api_base for bundle in bundles):
        return None
    endpoints = [endpoint_of(b.model.api_base or "") for b in bundles]
    urls = {(endpoint.scheme, endpoint.path) for endpoint in endpoints}
    addresses = {endpoint.address for endpoint in endpoints}
    # Targets are addresses: bundles sharing one server can only be told apart by model name (AI plugins).
    return urls.pop() if len(urls) == 1 and len(addresses) == len(bundles) else None


def _upstream(state: TrafficState) -> dict[str, Any]:
    # Stable stays a target even at weight 0, so a rollback only changes weights.
    targets = [
        {"target": live.endpoint.address if live.endpoint else "", "weight": live.weight, "tags": [f"relc-bundle:{live.version}"]}
        for live in state.served
        if live.weight > 0 or live.role == "stable"
    ]
    return {
        "name": upstream_name(state),
        "algorithm": "round-robin",
        "healthchecks": {
            "passive": {"unhealthy": {"http_failures": 5, "tcp_failures": 5, "timeouts": 5, "http_statuses": [500, 502, 503, 504]}}
        },
        "targets": targets,
    }


def render(state: TrafficState) -> dict[str, Any]:
    served = [live for live in state.served if live.weight > 0]
    timeout_ms = int(max(live.timeout_seconds for live in served) * 1000)
    service: dict[str, Any] = {
        "name": state.release,
        "read_timeout": timeout_ms,
        "write_timeout": timeout_ms,
        "retries": max(live.bundle.serving.retries for live in served),
        "routes": [{"name": state.release, "paths": [f"/{state.public_model}"], "strip_path": True}],
    }
    shared = _shared_url([live.bundle for live in state.live])
    if shared is not None:
        scheme, path = shared
        service.update(host=upstream_name(state), port=443 if scheme == "https" else 80, protocol=scheme,
                       path=path or "/", plugins=[])  # fmt: skip
        if scheme == "https":
            service["tls_verify"] = True  # Kong does not verify upstream certificates unless told to
        return {"services": [service], "upstreams": [_upstream(state)]}
    # ai-proxy sends each request to the provider or upstream_url; the service host is not used.
    service.update(host="localhost", port=80, protocol="http", plugins=[_plugin(state, served)])
    return {"services": [service], "upstreams": []}


def assemble(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_format_version": "3.0",
        "_info": {"select_tags": ["relc"]},
        "services": [service for fragment in fragments for service in fragment["services"]],
    }
    upstreams = [upstream for fragment in fragments for upstream in fragment["upstreams"]]
    if upstreams:
        document["upstreams"] = upstreams
    return {"kong/kong.yaml": document}


def unsupported(release: Release) -> list[Unsupported]:
    problems = [
        Unsupported(
            ("rollout", "steps", index),
            "RELC501",
            f"rollout.steps[{index}] is a shadow step, and kong cannot mirror traffic (neither Kong OSS nor Enterprise has "
            "mirroring): use a small canary step instead, or remove kong from route.gateways",
        )
        for index in shadow_steps(release)
    ]
    for index, bundle in enumerate(release.bundles):
        if bundle.model.provider not in PROVIDERS:
            problems.append(
                Unsupported(
                    ("bundles", index, "model", "provider"),
                    "RELC502",
                    f"kong's ai-proxy needs cloud credentials relc does not model for provider `{bundle.model.provider}` "
                    f"(bundle `{bundle.version}`); route it with litellm, or remove kong from route.gateways",
                )
            )
    return problems


def describe(state: TrafficState) -> str:
    served = [live for live in state.served if live.weight > 0]
    if _shared_url([live.bundle for live in state.live]) is not None:
        return f"upstream `{upstream_name(state)}`: weighted targets {state.split_text}"
    if len(served) == 1:
        return f"service `{state.release}`: ai-proxy to {served[0].version}"
    return f"service `{state.release}`: ai-proxy-advanced (Kong Enterprise) {state.split_text}, failover on error"


RENDERER = GatewayRenderer(
    name="kong",
    capabilities={
        "canary": "self-hosted bundles: upstream with weighted targets (OSS); providers: `ai-proxy-advanced` "
        "weighted targets (Kong Enterprise or Konnect), `ai-proxy` when one bundle serves (OSS)",
        "shadow": "not supported: Kong has no traffic mirroring (an error, never dropped)",
        "fallback": "retries on another target, passive health checks eject failing ones; "
        "ai-proxy-advanced fails over on error or timeout",
        "retries": "service `retries` and balancer `retries`",
        "timeouts": "service `read_timeout` / `write_timeout`",
    },
    unsupported=unsupported,
    describe=describe,
    render=render,
    assemble=assemble,
)
