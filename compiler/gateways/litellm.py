"""LiteLLM proxy `config.yaml`: weighted deployments, pinned groups and fallbacks.

Each release's public model name is one model group holding the bundles that serve
traffic, weighted (only the `simple-shuffle` strategy honours weights). Every live
bundle also gets a pinned group `<model>@<version>`, so fallbacks can name the stable
bundle alone and evaluations can call any bundle directly. A shadow step is rendered
as LiteLLM's `silent_model`: the stable deployment is split in two weighted copies and
only one, carrying the shadow share, mirrors each call to the candidate.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from compiler.gateways import GatewayRenderer, MetricLabels, Unsupported

if TYPE_CHECKING:  # assembling cached fragments needs neither the spec nor pydantic
    from compiler.spec import Release
    from compiler.traffic import LiveBundle, TrafficState
    from compiler.metrics.prometheus import QueryTemplate

# LiteLLM's provider prefixes for our providers (self-hosted servers speak OpenAI's API).
PROVIDER_PREFIX = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "vertex_ai": "vertex_ai",
    "gemini": "gemini",
    "mistral": "mistral",
    "vllm": "hosted_vllm",
    "tgi": "openai",
    "openai_compatible": "openai",
}


def pinned_group(state: TrafficState, version: str) -> str:
    return pinned_id(state.public_model, version)


def pinned_id(public_model: str, version: str) -> str:
    return f"{public_model}@{version}"


def public_id(public_model: str, version: str) -> str:
    return f"{public_model}/{version}"


def metric_ids(public_model: str, version: str) -> list[str]:
    """The deployment ids (`model_id` label of LiteLLM's metrics) of one bundle's deployments."""
    base = public_id(public_model, version)
    return [base, f"{base}/mirrored", pinned_id(public_model, version)]


def _metric_labels(release: str, public_model: str, version: str) -> dict[str, str]:
    """`$litellm_model_ids`: a regular expression over the bundle's deployment ids (named
    after `route.model`, not the release)."""
    return {"litellm_model_ids": "|".join(re.escape(i) for i in metric_ids(public_model, version))}


def _litellm_params(live: LiveBundle) -> dict[str, Any]:
    model, serving = live.bundle.model, live.bundle.serving
    params: dict[str, Any] = {
        "model": f"{PROVIDER_PREFIX[model.provider]}/{model.name}",
        "temperature": serving.temperature,
        "max_tokens": serving.max_tokens,
        "timeout": float(live.timeout_seconds),
        "max_retries": serving.retries,
    }
    optional = {
        "api_base": model.api_base,
        "api_version": model.api_version,
        "api_key": f"os.environ/{model.api_key_env}" if model.api_key_env else None,
        "top_p": serving.top_p,
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def _model_info(state: TrafficState, live: LiveBundle, deployment_id: str) -> dict[str, Any]:
    return {
        "id": deployment_id,
        "relc_release": state.release,
        "relc_bundle_version": live.version,
        "relc_bundle_digest": live.digest,
        "relc_role": live.role,
    }


def _deployment(state: TrafficState, group: str, live: LiveBundle, deployment_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {**_litellm_params(live), **extra},
        "model_info": _model_info(state, live, deployment_id),
    }


def _public_deployments(state: TrafficState) -> list[dict[str, Any]]:
    from compiler.traffic import FULL

    deployments = []
    mirrored = state.mirrored
    for live in state.served:
        if live.weight == 0:
            continue  # never picked; the bundle stays warm in its pinned group
        base_id = public_id(state.public_model, live.version)
        if mirrored is not None and live.role == "stable":
            mirror_share = live.weight * mirrored.mirror_weight // FULL
            silent = pinned_group(state, mirrored.version)
            if mirror_share:
                deployments.append(
                    _deployment(state, state.public_model, live, f"{base_id}/mirrored", weight=mirror_share, silent_model=silent)
                )
            if live.weight - mirror_share:
                deployments.append(_deployment(state, state.public_model, live, base_id, weight=live.weight - mirror_share))
        else:
            deployments.append(_deployment(state, state.public_model, live, base_id, weight=live.weight))
    return deployments


def render(state: TrafficState) -> dict[str, Any]:
    pinned = [
        _deployment(state, pinned_group(state, live.version), live, pinned_group(state, live.version))
        for live in state.live
    ]
    stable = state.live[0].version
    # A failed public request falls back to the stable bundle alone (when a candidate shares
    # the group), then to previous; each pinned group to the rest of its chain.
    candidate_serves = any(live.role == "candidate" and live.weight for live in state.live)
    public_chain = ([stable] if candidate_serves else []) + list(state.fallbacks_of(stable))
    fallbacks = [{state.public_model: [pinned_group(state, v) for v in public_chain]}] if public_chain else []
    for version, chain in state.fallbacks:
        fallbacks.append({pinned_group(state, version): [pinned_group(state, v) for v in chain]})
    return {"model_list": _public_deployments(state) + pinned, "fallbacks": fallbacks}


def assemble(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    config = {
        "model_list": [deployment for fragment in fragments for deployment in fragment["model_list"]],
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "fallbacks": [rule for fragment in fragments for rule in fragment["fallbacks"]],
            # The Router retries a group twice by default on top of each deployment's own
            # `max_retries`: 0 here, so a bundle gets exactly the retries its release names.
            "num_retries": 0,
        },
        # Per-deployment Prometheus series (litellm_deployment_*), which `--queries litellm`
        # reads; the proxy needs `prometheus_client` installed, and `/metrics` asks for the
        # master key unless `require_auth_for_metrics_endpoint: false` (see the README).
        "litellm_settings": {"callbacks": ["prometheus"]},
    }
    return {"litellm/config.yaml": config}


def promql() -> dict[str, "QueryTemplate"]:
    """The ready-made PromQL over the proxy's per-deployment series (`--queries litellm`).

    Latency is the provider call's alone (`litellm_llm_api_latency_metric`): the request's
    total latency, recorded on the deployment that answered, also holds the attempts that
    failed before a fallback, which would make stable look slow behind a failing candidate."""
    from compiler.metrics.prometheus import latency, ratio

    selector = 'model_id=~"$litellm_model_ids"'
    return {
        "error_rate": ratio(f"litellm_deployment_failure_responses_total{{{selector}}}",
                            f"litellm_deployment_total_requests_total{{{selector}}}"),  # fmt: skip
        **{
            f"latency_p{q}": latency(f"0.{q}", f"litellm_llm_api_latency_metric_bucket{{{selector}}}",
                                     f"litellm_llm_api_latency_metric_count{{{selector}}}")  # fmt: skip
            for q in ("50", "95", "99")
        },
    }


def unsupported(release: Release) -> list[Unsupported]:
    return []


def describe(state: TrafficState) -> str:
    """One line for `relc plan`: the public group's split and where failures go."""
    from compiler.traffic import percent_text

    text = f"group `{state.public_model}`: {state.split_text}"
    if state.mirrored is not None:
        text += f"; {percent_text(state.mirrored.mirror_percent)} also sent to `{pinned_group(state, state.mirrored.version)}` (silent_model)"
    rules = render(state)["fallbacks"]
    if rules:
        chain = next(iter(rules[0].values()))
        text += f"; on failure -> {' -> '.join(f'`{group}`' for group in chain)}"
    return text


RENDERER = GatewayRenderer(
    name="litellm",
    capabilities={
        "canary": "weighted deployments in one model group (simple-shuffle)",
        "shadow": "equivalent: `silent_model` on a weighted copy of the stable deployment",
        "fallback": "`router_settings.fallbacks` to pinned groups: candidate -> stable -> previous",
        "retries": "`max_retries` per deployment",
        "timeouts": "`timeout` per deployment",
    },
    unsupported=unsupported,
    describe=describe,
    render=render,
    assemble=assemble,
    promql=promql,
    metric_labels=MetricLabels(("litellm_model_ids",), _metric_labels),
)
