"""Kong (decK declarative format 3.0): one service and route per release, AI plugins.

A release whose traffic goes to one bundle renders Kong's `ai-proxy` plugin (Kong OSS).
A canary split renders `ai-proxy-advanced` with one weighted target per serving bundle
and a round-robin balancer that fails over on errors: that plugin needs Kong Enterprise
or Konnect. Kong cannot mirror traffic, so a release with a shadow step cannot use it.
Keys stay out of the files: decK fills `${{ env "DECK_<VAR>" }}` at sync time.
"""

from __future__ import annotations

from typing import Any

from compiler.gateways import Unsupported, shadow_steps
from compiler.spec import Bundle, Release, duration_seconds
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
        from urllib.parse import urlsplit

        options["azure_instance"] = (urlsplit(model.api_base).hostname or "").split(".")[0]
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


def render(state: TrafficState) -> dict[str, Any]:
    served = [live for live in state.served if live.weight > 0]
    timeout_ms = int(max(duration_seconds(live.bundle.serving.timeout) for live in served) * 1000)
    service = {
        "name": state.release,
        # ai-proxy sends each request to the provider or upstream_url; the service host is not used.
        "host": "localhost",
        "port": 80,
        "protocol": "http",
        "read_timeout": timeout_ms,
        "write_timeout": timeout_ms,
        "retries": max(live.bundle.serving.retries for live in served),
        "routes": [{"name": state.release, "paths": [f"/{state.public_model}"], "strip_path": True}],
        "plugins": [_plugin(state, served)],
    }
    return {"services": [service]}


def assemble(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kong/kong.yaml": {
            "_format_version": "3.0",
            "_info": {"select_tags": ["relc"]},
            "services": [service for fragment in fragments for service in fragment["services"]],
        }
    }


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
    if len(served) == 1:
        return f"service `{state.release}`: ai-proxy to {served[0].version}"
    split = ", ".join(f"{live.version} {live.weight / 100:g}%" for live in served)
    return f"service `{state.release}`: ai-proxy-advanced (Kong Enterprise) {split}, failover on error"


class _Kong:
    name = "kong"
    capabilities = {
        "canary": "`ai-proxy-advanced` weighted targets (Kong Enterprise or Konnect); one bundle: `ai-proxy` (OSS)",
        "shadow": "not supported: Kong has no traffic mirroring (an error, never dropped)",
        "fallback": "balancer failover on error or timeout to another serving bundle",
        "retries": "service `retries` and balancer `retries`",
        "timeouts": "service `read_timeout` / `write_timeout`",
    }
    unsupported = staticmethod(unsupported)
    describe = staticmethod(describe)
    render = staticmethod(render)
    assemble = staticmethod(assemble)


RENDERER = _Kong()
