"""Kong (decK declarative format 3.0): one service and route per release.

A release whose bundles are all self-hosted under one URL scheme and path renders an
upstream with one weighted target per live bundle (plain Kong OSS; passive health
checks eject a failing target, active ones bring it back). Otherwise Kong's AI plugins
carry the traffic: `ai-proxy` when one bundle is live (Kong OSS), `ai-proxy-advanced`
when there is a bundle to fail over to (Kong Enterprise or Konnect, Gateway 3.10+ for
`failover_criteria` and the `priority` algorithm). Kong cannot mirror traffic, so a
release with a shadow step cannot use it. Keys stay out of the files: decK fills
`${{ env "DECK_<VAR>" }}` at sync time.
"""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from compiler.gateways import GatewayRenderer, Unsupported, cannot_mirror

if TYPE_CHECKING:  # assembling cached fragments needs neither the spec nor pydantic
    from compiler.spec import Bundle, Release
    from compiler.traffic import LiveBundle, TrafficState

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
# When ai-proxy-advanced tries the next target (nginx's proxy_next_upstream conditions).
# Chat requests are POSTs, which nginx passes to the next target after the request was
# sent (a read timeout, a 5xx, a 429) only with `non_idempotent`; 403 and 404 are
# configuration errors that another bundle would not fix.
FAILOVER_CRITERIA = ["error", "timeout", "invalid_header", "http_429", "http_500", "http_502", "http_503", "http_504",
                     "non_idempotent"]  # fmt: skip
# Kong's upstream balancer answers a connection failure by retrying; a dead address
# should not hold a request for the whole response timeout (Envoy's renderer uses 5 s too).
CONNECT_TIMEOUT_MS = 5000
# Statuses that count against a target, in passive (proxied traffic) and active (probe) checks.
UNHEALTHY_STATUSES = [500, 502, 503, 504]
# Servers whose health endpoint is `GET /health` (200 when the model is loaded).
HEALTH_ENDPOINT_PROVIDERS = {"vllm", "tgi"}


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


def _model(live: LiveBundle) -> dict[str, Any]:
    model, serving = live.bundle.model, live.bundle.serving
    provider = PROVIDERS[model.provider]
    options: dict[str, Any] = {"max_tokens": serving.max_tokens, "temperature": serving.temperature}
    if serving.top_p is not None:
        options["top_p"] = serving.top_p
    if provider == "anthropic":
        options["anthropic_version"] = ANTHROPIC_VERSION
    if provider == "mistral":
        options["mistral_format"] = "openai"
    if model.provider == "azure" and live.endpoint is not None:
        options["azure_instance"] = live.endpoint.host.split(".")[0]
        options["azure_deployment_id"] = model.name
        options["azure_api_version"] = model.api_version or "2024-06-01"
    elif model.api_base:
        options["upstream_url"] = model.api_base.rstrip("/") + "/chat/completions"
    return {"provider": provider, "name": model.name, "options": options}


def _target(live: LiveBundle) -> dict[str, Any]:
    """One ai-proxy configuration (route type, model, auth) for a bundle."""
    target: dict[str, Any] = {"route_type": ROUTE_TYPE, "model": _model(live)}
    auth = _auth(live.bundle)
    if auth is not None:
        target["auth"] = auth
    return target


def _failover_chain(state: TrafficState) -> list[LiveBundle] | None:
    """With one bundle answering: it, then the bundles it falls back to, in order (candidate
    -> stable -> previous); None while two bundles split the traffic."""
    answering = state.answering
    if len(answering) > 1:
        return None
    return [answering[0], *(state.bundle(version) for version in state.fallbacks_of(answering[0].version))]


def _ai_targets(state: TrafficState) -> list[LiveBundle]:
    """The bundles ai-proxy(-advanced) can send a request to, the answering ones first.

    Kong's target weights are 1-65535 and round-robin gives every target its weight's
    share, so a fallback-only target is possible only under the `priority` algorithm,
    which cannot split traffic: at a split step the two answering bundles fail over to
    each other and `previous` is left out."""
    chain = _failover_chain(state)
    return list(state.answering) if chain is None else chain


def _timeouts(reachable: list[LiveBundle]) -> dict[str, int]:
    """Kong's connect, read and write timeouts (ms) for the bundles a request may reach."""
    timeout_ms = max(1, int(max(live.timeout_seconds for live in reachable) * 1000))
    return {"connect_timeout": min(timeout_ms, CONNECT_TIMEOUT_MS), "read_timeout": timeout_ms, "write_timeout": timeout_ms}


def _ai_plugin(state: TrafficState, targets: list[LiveBundle]) -> dict[str, Any]:
    if len(targets) == 1:
        return {"name": "ai-proxy", "config": _target(targets[0])}
    chain = _failover_chain(state)
    if chain is None:  # a split: weights are the shares
        algorithm, weights = "round-robin", [live.weight for live in targets]
    else:  # one bundle answers: priority tiers, highest first, each tried when the ones above fail
        algorithm, weights = "priority", list(range(len(targets), 0, -1))
    retries = max(live.bundle.serving.retries for live in targets)
    balancer = {
        "algorithm": algorithm,
        # Each retry goes to a target not tried yet: enough of them to reach the last fallback.
        "retries": max(retries, len(targets) - 1),
        "failover_criteria": FAILOVER_CRITERIA,
        # ai-proxy-advanced sets these on every request, overriding the service's timeouts.
        **_timeouts(targets),
    }
    return {
        "name": "ai-proxy-advanced",
        "config": {
            "balancer": balancer,
            "targets": [
                {**_target(live), "weight": weight, "description": f"{state.release}@{live.version} {live.digest}"}
                for live, weight in zip(targets, weights)
            ],
        },
    }


# ai-proxy refuses a request whose body names another model than the target's (400
# "cannot use own model"), and during a canary the targets' models differ: the route
# already chose the release, so the body's `model` is dropped before ai-proxy reads it
# (request-transformer runs first: priority 801 against ai-proxy's 770).
DROP_CLIENT_MODEL = {"name": "request-transformer", "config": {"remove": {"body": ["model"]}}}


def upstream_name(state: TrafficState) -> str:
    return f"{state.release}.relc.upstream"


def _shared_url(state: TrafficState) -> tuple[str, str] | None:
    """Scheme and path shared by every live bundle, when all are self-hosted: upstream mode."""
    from compiler.spec import SELF_HOSTED_PROVIDERS

    if not all(live.bundle.model.provider in SELF_HOSTED_PROVIDERS and live.bundle.model.api_base for live in state.live):
        return None
    endpoints = [live.endpoint for live in state.live if live.endpoint is not None]
    urls = {(endpoint.scheme, endpoint.path) for endpoint in endpoints}
    addresses = {endpoint.address for endpoint in endpoints}
    # Targets are addresses: bundles sharing one server can only be told apart by model name (AI plugins).
    return urls.pop() if len(urls) == 1 and len(addresses) == len(state.live) else None


def _health_path(state: TrafficState, path: str) -> str:
    if all(live.bundle.model.provider in HEALTH_ENDPOINT_PROVIDERS for live in state.live):
        return "/health"
    return f"{path}/models"  # the OpenAI API's model list, which every OpenAI-compatible server answers


def _upstream(state: TrafficState, scheme: str, path: str) -> dict[str, Any]:
    # Every live bundle is a target, at weight 0 when it serves nothing, so a rollback or a
    # promotion only changes weights. Kong never sends a request, a retry or an active probe
    # to a weight-0 target: an upstream has no fallback-only tier.
    targets = [
        {"target": live.endpoint.address if live.endpoint else "", "weight": live.weight, "tags": [f"relc-bundle:{live.version}"]}
        for live in state.live
    ]
    active: dict[str, Any] = {
        "type": scheme,
        "http_path": _health_path(state, path),
        "timeout": 2,
        # Unhealthy targets are probed too, so one that recovers is put back after 2 good answers.
        "healthy": {"interval": 5, "successes": 2, "http_statuses": [200]},
        "unhealthy": {"interval": 5, "http_failures": 3, "tcp_failures": 3, "timeouts": 3, "http_statuses": UNHEALTHY_STATUSES},
    }
    if scheme == "https":
        active["https_verify_certificate"] = True
    return {
        "name": upstream_name(state),
        "algorithm": "round-robin",
        "healthchecks": {
            "active": active,
            "passive": {
                "type": scheme,
                "unhealthy": {"http_failures": 5, "tcp_failures": 5, "timeouts": 5, "http_statuses": UNHEALTHY_STATUSES},
            },
        },
        "targets": targets,
    }


def render(state: TrafficState) -> dict[str, Any]:
    from compiler.traffic import default_port_of

    shared = _shared_url(state)
    reachable = list(state.answering) if shared is not None else _ai_targets(state)
    service: dict[str, Any] = {
        "name": state.release,
        **_timeouts(reachable),
        "retries": max(live.bundle.serving.retries for live in reachable),
        "routes": [{"name": state.release, "paths": [f"/{state.public_model}"], "strip_path": True}],
    }
    if shared is not None:
        scheme, path = shared
        service.update(host=upstream_name(state), port=default_port_of(scheme), protocol=scheme,
                       path=path or "/", plugins=[])  # fmt: skip
        if scheme == "https":
            service["tls_verify"] = True  # Kong does not verify upstream certificates unless told to
        return {"services": [service], "upstreams": [_upstream(state, scheme, path)]}
    # ai-proxy sends each request to the provider or upstream_url; the service host is not used.
    service.update(host="localhost", port=80, protocol="http", plugins=[_ai_plugin(state, reachable), DROP_CLIENT_MODEL])
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
    problems = cannot_mirror(release, "kong", "neither Kong OSS nor Enterprise has mirroring")
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
    if _shared_url(state) is not None:
        return f"upstream `{upstream_name(state)}`: weighted targets {state.split_text}"
    targets = _ai_targets(state)
    if len(targets) == 1:
        return f"service `{state.release}`: ai-proxy to {targets[0].version}"
    text = f"service `{state.release}`: ai-proxy-advanced (Kong Enterprise) {state.split_text}, failover on error"
    if _failover_chain(state) is None:
        return text
    return text + ": " + " -> ".join(live.version for live in targets)


RENDERER = GatewayRenderer(
    name="kong",
    capabilities={
        "canary": "self-hosted bundles: upstream with weighted targets (OSS); providers: `ai-proxy-advanced` "
        "weighted targets (Kong Enterprise or Konnect, Gateway 3.10+) while a bundle has one to fail over to, "
        "`ai-proxy` when one bundle is live (OSS). Clients POST an OpenAI chat body to `/<route.model>`; "
        "a request-transformer drops its `model` before ai-proxy, which refuses any name but the target's",
        "shadow": "not supported: Kong has no traffic mirroring (an error, never dropped)",
        "fallback": "providers: one bundle serving, `priority` tiers candidate -> stable -> previous; at a split, "
        "round-robin between the two served bundles (a target takes traffic at any weight, so previous waits); "
        "on error, timeout, 429, 500, 502-504 (`non_idempotent`: chats are POSTs). Self-hosted: retries on "
        "another served target after connection errors; passive checks eject failing targets, active ones bring "
        "them back; stable and previous stay weight-0 targets, which get no requests and no failover",
        "retries": "service `retries` and balancer `retries` (at least enough to reach the last fallback)",
        "timeouts": "service `read_timeout` / `write_timeout` and ai-proxy-advanced's, which override them: the "
        "largest `serving.timeout` a request can reach; `connect_timeout` that, at most 5 s",
    },
    unsupported=unsupported,
    describe=describe,
    render=render,
    assemble=assemble,
)
