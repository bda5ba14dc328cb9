"""Envoy (v3 API), laid out for file-based dynamic config that Envoy reloads live.

`bootstrap.yaml` holds the listener and points at `cds.yaml` (one cluster per live
bundle) and `rds.yaml` (one route per release, `weighted_clusters` for the split and
`request_mirror_policies` for shadow). Envoy watches those two files for moves, so a
new render, written by rename, is picked up without a restart. Clients call
`http://<envoy>/<route.model>/...`; the prefix is rewritten to the bundles' api_base
path, so every bundle of a release must share that path.
"""

from __future__ import annotations

import copy
import ipaddress
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from compiler.gateways import GatewayRenderer, MetricLabels, Unsupported

if TYPE_CHECKING:  # assembling cached fragments needs neither the spec nor pydantic
    from compiler.spec import Release
    from compiler.traffic import Endpoint, LiveBundle, TrafficState
    from compiler.metrics.prometheus import QueryTemplate

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_CONFIGURATION_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
HTTP_CONNECTION_MANAGER_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
ROUTE_CONFIG_NAME = "relc"
RETRY_ON = "5xx,reset,connect-failure,refused-stream"
# The system CA bundle on Debian and Ubuntu, which Envoy's images are built on.
TRUSTED_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

# Where Envoy finds the rendered files, relative to its working directory (the checkout).
CDS_PATH = "rendered/envoy/cds.yaml"
CDS_FILE = "envoy/cds.yaml"
RDS_PATH = "rendered/envoy/rds.yaml"
LISTEN_ADDRESS, LISTEN_PORT, ADMIN_PORT = "0.0.0.0", 10000, 9901


def cluster_name(state: TrafficState, version: str) -> str:
    return f"{state.release}@{version}"


def _stat_name(name: str) -> str:
    """Envoy splits stat names on dots; keep each cluster's stats under one name."""
    return name.replace(".", "_")


def metric_cluster(release: str, version: str) -> str:
    """The `envoy_cluster_name` label Envoy's metrics carry for one bundle's cluster."""
    return _stat_name(f"{release}@{version}")


def _metric_labels(release: str, public_model: str, version: str) -> dict[str, str]:
    return {"envoy_cluster": metric_cluster(release, version)}


def _endpoint(live: LiveBundle) -> Endpoint:
    """Envoy serves only bundles with an api_base (`unsupported` says so before any build)."""
    assert live.endpoint is not None, f"{live.version} was checked to have an api_base"
    return live.endpoint


def _is_ip(host: str) -> bool:
    """An IP literal rather than a DNS name; names, the common case, are told apart without an exception."""
    if ":" not in host and not host.replace(".", "").isdigit():
        return False  # no IPv6 colon, and not all digits and dots: a host name
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _seconds(value: float) -> str:
    """An Envoy duration: plain decimal seconds, never exponent notation (Envoy rejects it)."""
    return format(Decimal(repr(float(value))).normalize(), "f") + "s"


def _cluster(state: TrafficState, live: LiveBundle) -> dict[str, Any]:
    endpoint = _endpoint(live)
    scheme, host, port = endpoint.scheme, endpoint.host, endpoint.port
    name = cluster_name(state, live.version)
    cluster: dict[str, Any] = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "alt_stat_name": _stat_name(name),
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "5s",
        # Envoy allows 3 concurrent retries by default and skips the rest silently; a budget
        # lets every retry the release names happen (at least 10 at once, up to one per request).
        "circuit_breakers": {
            "thresholds": [{"priority": "DEFAULT", "retry_budget": {"budget_percent": {"value": 100.0}, "min_retry_concurrency": 10}}]
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}
            ],
        },
        "metadata": {
            "filter_metadata": {
                "relc": {"release": state.release, "version": live.version, "digest": live.digest, "role": live.role}
            }
        },
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if scheme == "https":
        # Verify the upstream's certificate and name: without a validation context Envoy trusts any.
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": TLS_TYPE,
                "sni": host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": TRUSTED_CA_FILE},
                        "match_typed_subject_alt_names": [
                            {"san_type": "IP_ADDRESS" if _is_ip(host) else "DNS", "matcher": {"exact": host}}
                        ],
                    }
                },
            },
        }
    return cluster


def _route(state: TrafficState) -> dict[str, Any]:
    served = [live for live in state.served if live.weight > 0]
    per_try = max(live.timeout_seconds for live in served)
    retries = max(live.bundle.serving.retries for live in served)
    path = _endpoint(served[0]).path
    action: dict[str, Any] = {
        "prefix_rewrite": f"{path}/",
        "timeout": _seconds(per_try * (retries + 1)),
        "weighted_clusters": {
            "clusters": [
                {
                    "name": cluster_name(state, live.version),
                    "weight": live.weight,
                    "host_rewrite_literal": _endpoint(live).host_header,
                }
                for live in served
            ]
        },
    }
    if retries:
        action["retry_policy"] = {"retry_on": RETRY_ON, "num_retries": retries, "per_try_timeout": _seconds(per_try)}
    mirrored = state.mirrored
    if mirrored is not None:
        action["request_mirror_policies"] = [
            {
                "cluster": cluster_name(state, mirrored.version),
                "runtime_fraction": {"default_value": {"numerator": mirrored.mirror_weight, "denominator": "TEN_THOUSAND"}},
                "disable_shadow_host_suffix_append": True,
                # Without it the shadow bundle gets the Host header of the bundle the split chose.
                "host_rewrite_literal": _endpoint(mirrored).host_header,
            }
        ]
    return {
        "name": state.release,
        "match": {"prefix": f"/{state.public_model}/"},
        "route": action,
        "metadata": {"filter_metadata": {"relc": {"release": state.release, "step": state.step_number or 0}}},
    }


def render(state: TrafficState) -> dict[str, Any]:
    return {"clusters": [_cluster(state, live) for live in state.live], "routes": [_route(state)]}


def bootstrap() -> dict[str, Any]:
    """The static part: listener and admin, with routes and clusters read from files."""
    http_connection_manager = {
        "@type": HTTP_CONNECTION_MANAGER_TYPE,
        "stat_prefix": "relc",
        "rds": {
            "route_config_name": ROUTE_CONFIG_NAME,
            "config_source": {"resource_api_version": "V3", "path_config_source": {"path": RDS_PATH}},
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}],
    }
    return {
        "node": {"id": "relc-gateway", "cluster": "relc-gateway"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN_PORT}}},
        "dynamic_resources": {
            "cds_config": {"resource_api_version": "V3", "path_config_source": {"path": CDS_PATH}},
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "relc",
                    "address": {"socket_address": {"address": LISTEN_ADDRESS, "port_value": LISTEN_PORT}},
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": http_connection_manager}
                            ]
                        }
                    ],
                }
            ]
        },
    }


def validation_bootstrap(bootstrap_file: dict[str, Any], clusters: dict[str, Any], routes: dict[str, Any]) -> dict[str, Any]:
    """One static bootstrap holding the rendered clusters and routes.

    `envoy --mode validate` does not read the files a dynamic bootstrap names, so a
    made-up field in CDS or RDS would pass; inlined here, every field is checked.
    """
    listener = copy.deepcopy(bootstrap_file["static_resources"]["listeners"][0])
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    manager.pop("rds")
    manager["route_config"] = {key: value for key, value in routes["resources"][0].items() if key != "@type"}
    return {
        "node": bootstrap_file["node"],
        "static_resources": {
            "clusters": [{key: value for key, value in c.items() if key != "@type"} for c in clusters["resources"]],
            "listeners": [listener],
        },
    }


def promql() -> dict[str, "QueryTemplate"]:
    """The ready-made PromQL over Envoy's cluster stats (`--queries envoy`)."""
    from compiler.metrics.prometheus import QueryTemplate, counted, latency, ratio

    selector = 'envoy_cluster_name="$envoy_cluster"'
    attempts = f"envoy_cluster_upstream_rq_total{{{selector}}}"
    failures = f'envoy_cluster_upstream_rq_xx{{{selector},envoy_response_code_class="5"}}'
    retries = f"({counted(f'envoy_cluster_upstream_rq_retry{{{selector}}}')} or vector(0))"
    # Per client request: rq_total counts every attempt, a retry included, while rq_xx
    # counts each request's final response (measured: 40 requests that all failed with one
    # retry each are 80 attempts, 40 retries and 40 5xx). So the requests are the attempts
    # less the retries, and 40 failed requests read 1.0, not 0.5.
    requests = f"({counted(attempts)} - {retries})"
    return {
        "error_rate": QueryTemplate(value=f"({counted(failures)} or vector(0)) / {requests}", samples=requests),
        "timeout_rate": ratio(f"envoy_cluster_upstream_rq_timeout{{{selector}}}", attempts),
        # Envoy measures upstream request time in milliseconds; triggers are in seconds.
        **{
            f"latency_p{q}": latency(f"0.{q}", f"envoy_cluster_upstream_rq_time_bucket{{{selector}}}",
                                     f"envoy_cluster_upstream_rq_time_count{{{selector}}}", " / 1000")  # fmt: skip
            for q in ("50", "95", "99")
        },
    }


def transition(existing: dict[str, bytes], files: dict[str, bytes]) -> tuple[list[dict[str, bytes]], dict[str, bytes]]:
    """Writes that keep every state Envoy can read whole: routes never name a missing cluster.

    Envoy reloads CDS and RDS separately. Adding clusters must come before the routes
    that use them, and removing clusters after the routes that stopped using them. So
    when clusters go away, CDS is first written as the union of old and new clusters,
    then RDS, then the final CDS. A kill between any two moves leaves a consistent pair.
    Returns the early writes and `files` reordered so that RDS comes before CDS.
    """
    old, new = existing.get(CDS_FILE), files.get(CDS_FILE)
    if old is None or new is None or old == new:
        return [], files
    from compiler.load import load_bytes
    from compiler.render import serialize

    old_document, _ = load_bytes(old, CDS_FILE)
    new_document, _ = load_bytes(new, CDS_FILE)
    if old_document is None or new_document is None:
        return [], files
    new_clusters = new_document.data["resources"]
    names = {cluster["name"] for cluster in new_clusters}
    removed = [cluster for cluster in old_document.data["resources"] if cluster.get("name") not in names]
    if not removed:
        return [], files  # only additions: CDS first (render's order) is safe
    union = serialize(CDS_FILE, {"resources": [*new_clusters, *removed]})
    reordered = {path: content for path, content in files.items() if path != CDS_FILE}
    reordered[CDS_FILE] = new  # last: its removals come after the routes stopped using them
    return [{CDS_FILE: union}], reordered


def assemble(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    route_configuration = {
        "@type": ROUTE_CONFIGURATION_TYPE,
        "name": ROUTE_CONFIG_NAME,
        "virtual_hosts": [
            {
                "name": ROUTE_CONFIG_NAME,
                "domains": ["*"],
                "routes": [route for fragment in fragments for route in fragment["routes"]],
            }
        ],
    }
    return {
        "envoy/bootstrap.yaml": bootstrap(),
        "envoy/cds.yaml": {"resources": [cluster for fragment in fragments for cluster in fragment["clusters"]]},
        "envoy/rds.yaml": {"resources": [route_configuration]},
    }


def unsupported(release: Release) -> list[Unsupported]:
    from compiler.spec import SELF_HOSTED_PROVIDERS
    from compiler.traffic import endpoint_of

    problems = []
    first_path: tuple[int, str] | None = None
    rollout = release.rollout
    live_versions = {version for version in (rollout.stable, rollout.candidate, rollout.previous) if version}
    live_addresses: dict[tuple[str, int], str] = {}
    for index, bundle in enumerate(release.bundles):
        if bundle.model.provider not in SELF_HOSTED_PROVIDERS or bundle.model.api_base is None:
            problems.append(
                Unsupported(
                    ("bundles", index, "model", "provider"),
                    "RELC502",
                    f"envoy forwards requests unchanged, so it serves only self-hosted bundles (vllm, tgi, "
                    f"openai_compatible) that answer to the public model name; bundle `{bundle.version}` uses provider "
                    f"`{bundle.model.provider}`, whose model name and key envoy cannot set: route it with litellm or kong",
                )
            )
            continue
        if bundle.model.api_key_env is not None:
            problems.append(
                Unsupported(
                    ("bundles", index, "model", "api_key_env"),
                    "RELC502",
                    f"envoy cannot add the key from ${bundle.model.api_key_env} to requests for bundle "
                    f"`{bundle.version}`: let clients send it, remove api_key_env, or route the release with litellm or kong",
                )
            )
        endpoint = endpoint_of(bundle.model.api_base)
        path = endpoint.path or "/"
        if bundle.version in live_versions:
            address = (endpoint.host, endpoint.port)
            if address in live_addresses:
                problems.append(
                    Unsupported(
                        ("bundles", index, "model", "api_base"),
                        "RELC502",
                        f"bundle `{bundle.version}` is served at the same address as `{live_addresses[address]}`, "
                        "and envoy splits traffic by address: serve each live bundle at its own address, or route "
                        "the release with litellm (which tells bundles apart by model name)",
                    )
                )
            live_addresses.setdefault(address, bundle.version)
        if first_path is None:
            first_path = (index, path)
        elif path != first_path[1]:
            problems.append(
                Unsupported(
                    ("bundles", index, "model", "api_base"),
                    "RELC502",
                    f"envoy rewrites /{release.route.model}/ to one api_base path per release; bundle "
                    f"`{bundle.version}` uses `{path}` but bundles[{first_path[0]}] uses `{first_path[1]}`: "
                    "serve every bundle under the same path",
                )
            )
    return problems


def describe(state: TrafficState) -> str:
    from compiler.traffic import percent_text, shares_text

    split = shares_text((f"`{cluster_name(state, live.version)}`", live.served_percent) for live in state.answering)
    text = f"route `/{state.public_model}/`: {split}"
    if state.mirrored is not None:
        text += f"; mirror {percent_text(state.mirrored.mirror_percent)} to `{cluster_name(state, state.mirrored.version)}`"
    return text


RENDERER = GatewayRenderer(
    name="envoy",
    capabilities={
        "canary": "`weighted_clusters` on the release's route",
        "shadow": "`request_mirror_policies` with a runtime fraction",
        "fallback": "none across bundles: retries on 5xx or reset go to the bundle the split chose",
        "retries": "`retry_policy` per route (the largest of the served bundles)",
        "timeouts": "`per_try_timeout` and route `timeout` (the largest of the served bundles)",
    },
    unsupported=unsupported,
    describe=describe,
    render=render,
    assemble=assemble,
    reload_on_move=("envoy/cds.yaml", "envoy/rds.yaml"),
    write_first=(CDS_FILE,),
    promql=promql,
    metric_labels=MetricLabels(("envoy_cluster",), _metric_labels),
    transition=transition,
)
