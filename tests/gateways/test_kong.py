"""Kong: rendered decK files validate against compiler/gateways/kong-deck.schema.json, written from
Kong's documented schemas; the schema itself is shown to reject what Kong rejects. Stable, and
previous where set, stay defined at every step, behind the bundle that answers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.builder import canary, hosted_bundle, release
from tests.conftest import REPO
from tests.support import LIVE_STEPS, relc, write_live_release, write_release

SCHEMA = json.loads((REPO / "compiler" / "gateways" / "kong-deck.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
STEPS = [None, 1, 2, 3]
STEP_IDS = ["steady", "first step", "split step", "canary 100"]


def _errors(document: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def _committed() -> dict[str, Any]:
    return yaml.safe_load((REPO / "rendered" / "kong" / "kong.yaml").read_text())


def _kong(root: Path) -> dict[str, Any]:
    assert relc(root, "build") == 0
    document = yaml.safe_load((root / "rendered" / "kong" / "kong.yaml").read_text())
    assert _errors(document) == []
    return document


@pytest.fixture
def examples(example_repo: Path) -> dict[str, Any]:
    """The example releases rendered by the code under test (rendered/ may lag behind it)."""
    return {service["name"]: service for service in _kong(example_repo)["services"]}


def _self_hosted(root: Path, step: int | None, previous: bool = True) -> dict[str, Any]:
    """write_live_release for kong: its shadow step becomes canary 5; v0 is previous."""
    steps = [canary(5, "1m"), *LIVE_STEPS[1:]]
    write_live_release(root, {"v0": 9000, "v1": 9001, "v2": 9002}, step, ["kong"], previous="v0" if previous else None, steps=steps)
    return _kong(root)


def _hosted(root: Path, step: int | None) -> dict[str, Any]:
    """Release `chat` of hosted bundles for kong: stable v1, candidate v2 while a step is set, previous v0 (whose
    timeout is 45s, the others' 10s); steps canary 0, canary 10, canary 100."""
    bundles = [hosted_bundle(version) for version in ("v0", "v1", "v2")]
    bundles[0]["serving"]["timeout"] = "45s"
    steps = [canary(0, "1h"), canary(10, "1h"), canary(100, "1h")]
    write_release(root, release("chat", bundles, "v1", "v2" if step else None, step, "v0", steps=steps, gateways=["kong"]))
    return _kong(root)


def _plugins(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {plugin["name"]: plugin["config"] for plugin in service["plugins"]}


def _versions(config: dict[str, Any]) -> list[tuple[str, int]]:
    """(version, weight) of each ai-proxy-advanced target, from its `<release>@<version> <digest>` description."""
    return [(target["description"].split(" ")[0].split("@")[1], target["weight"]) for target in config["targets"]]


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_the_committed_example_config_fits_the_schema() -> None:
    document = _committed()
    assert _errors(document) == []
    plugins = {service["name"]: service["plugins"][0]["name"] for service in document["services"]}
    assert plugins == {"code-review": "ai-proxy", "support-chat": "ai-proxy-advanced"}


def test_a_canary_renders_weighted_targets_with_failover(examples: dict[str, Any]) -> None:
    support = examples["support-chat"]
    config = _plugins(support)["ai-proxy-advanced"]
    assert config["balancer"]["algorithm"] == "round-robin"
    assert _versions(config) == [("v41", 9000), ("v42", 1000)]
    assert support["routes"] == [{"name": "support-chat", "paths": ["/support-chat"], "strip_path": True}]


def test_failover_covers_http_500_and_429_for_post_requests(examples: dict[str, Any]) -> None:
    criteria = _plugins(examples["support-chat"])["ai-proxy-advanced"]["balancer"]["failover_criteria"]
    assert {"error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_429"} <= set(criteria)
    # nginx passes a POST that reached a target (a 500, a 429) to the next one only with this flag
    assert "non_idempotent" in criteria
    assert not {"http_403", "http_404"} & set(criteria), "another bundle would not fix a configuration error"


def test_keys_are_decK_environment_references_never_values(example_repo: Path) -> None:
    _kong(example_repo)
    text = (example_repo / "rendered" / "kong" / "kong.yaml").read_text()
    assert 'Bearer ${{ env \\"DECK_OPENAI_API_KEY\\" }}' in text
    assert '${{ env \\"DECK_ANTHROPIC_API_KEY\\" }}' in text


@pytest.mark.parametrize(
    ("step", "targets"),
    [(None, [("v1", 2), ("v0", 1)]), (1, [("v1", 2), ("v0", 1)]), (2, [("v1", 9000), ("v2", 1000)]),
     (3, [("v2", 3), ("v1", 2), ("v0", 1)])],
    ids=STEP_IDS,
)  # fmt: skip
def test_hosted_stable_and_previous_stay_failover_targets_at_every_step(tmp_path: Path, step: int | None, targets: list) -> None:
    config = _plugins(_hosted(tmp_path, step)["services"][0])["ai-proxy-advanced"]
    assert _versions(config) == targets
    # One bundle answering: priority tiers, each taking traffic only when the ones above fail.
    # Two splitting: weights are shares, so previous (which would take one) is left out.
    assert config["balancer"]["algorithm"] == ("round-robin" if step == 2 else "priority")
    assert config["balancer"]["retries"] >= len(targets) - 1, "too few retries to reach the last fallback"
    assert [target["model"]["name"] for target in config["targets"]] == [f"model-{version}" for version, _ in targets]


def test_a_release_with_one_live_bundle_uses_oss_ai_proxy(tmp_path: Path) -> None:
    write_release(tmp_path, release("solo", [hosted_bundle("v1")], "v1", gateways=["kong"]))
    plugins = _plugins(_kong(tmp_path)["services"][0])
    assert plugins["ai-proxy"]["model"]["name"] == "model-v1" and "ai-proxy-advanced" not in plugins


@pytest.mark.parametrize(
    ("step", "targets"),
    [(None, {9000: 0, 9001: 10000}), (1, {9000: 0, 9001: 9500, 9002: 500}), (2, {9000: 0, 9001: 7000, 9002: 3000}),
     (3, {9000: 0, 9001: 0, 9002: 10000})],
    ids=STEP_IDS,
)  # fmt: skip
def test_self_hosted_stable_and_previous_stay_upstream_targets_at_every_step(tmp_path: Path, step: int | None, targets: dict) -> None:
    document = _self_hosted(tmp_path, step)
    service, upstream = document["services"][0], document["upstreams"][0]
    assert (service["host"], service["path"], service["plugins"]) == (upstream["name"], "/v1", [])
    assert {int(target["target"].split(":")[1]): target["weight"] for target in upstream["targets"]} == targets


def test_self_hosted_active_health_checks_bring_a_recovered_target_back(tmp_path: Path) -> None:
    checks = _self_hosted(tmp_path, 2)["upstreams"][0]["healthchecks"]
    assert checks["passive"]["unhealthy"]["http_failures"] > 0, "failing targets are still ejected"
    active = checks["active"]
    # Kong probes unhealthy targets every `unhealthy.interval` s and puts one back after `healthy.successes` 200s.
    assert active["unhealthy"]["interval"] > 0 and active["healthy"]["successes"] > 0
    assert (active["type"], active["http_path"]) == ("http", "/health")  # vLLM's health endpoint


def test_timeouts_come_from_the_bundles_serving_timeout(tmp_path: Path) -> None:
    service = _self_hosted(tmp_path / "self-hosted", 2)["services"][0]
    assert [service[name] for name in ("connect_timeout", "read_timeout", "write_timeout")] == [5000, 5000, 5000]
    for step, read in [(2, 10_000), (3, 45_000)]:  # previous (45s) is a target at canary 100 only
        service = _hosted(tmp_path / f"hosted-{step}", step)["services"][0]
        balancer = _plugins(service)["ai-proxy-advanced"]["balancer"]
        # ai-proxy-advanced sets its balancer's timeouts on each request, over the service's.
        for config in (service, balancer):
            assert [config[name] for name in ("connect_timeout", "read_timeout", "write_timeout")] == [5000, read, read]


def test_the_clients_model_field_is_dropped_before_ai_proxy_checks_it(examples: dict[str, Any], tmp_path: Path) -> None:
    # ai-proxy answers 400 "cannot use own model" to a body naming another model than its target's.
    for service in examples.values():
        assert _plugins(service)["request-transformer"] == {"remove": {"body": ["model"]}}
    # the example repository is in tmp_path too
    assert _self_hosted(tmp_path / "self-hosted", 2)["services"][0]["plugins"] == [], "upstream mode forwards the body as is"


def test_plan_names_the_failover_chain_at_canary_100(tmp_path: Path) -> None:
    from compiler.gateways.kong import describe
    from compiler.traffic import traffic_state
    from compiler.validate import validate_paths

    _hosted(tmp_path, 3)
    result = validate_paths([tmp_path / "releases"], tmp_path)
    text = describe(traffic_state(result.releases[0].release))
    assert text == "service `chat`: ai-proxy-advanced (Kong Enterprise) v2 100%, failover on error: v2 -> v1 -> v0"


def _advanced(document: dict[str, Any]) -> dict[str, Any]:
    return _plugins(document["services"][0])["ai-proxy-advanced"]


@pytest.mark.parametrize(
    ("mutation", "where"),
    [
        (lambda d: d["services"][0].update(prot="http"), "unknown service field"),
        (lambda d: d["services"][0].update(port=70000), "port out of range"),
        (lambda d: _advanced(d)["targets"][0].update(weight=70000), "target weight too big"),
        (lambda d: _advanced(d)["targets"][0].update(weight=0), "ai-proxy-advanced target weight 0"),
        (lambda d: _advanced(d)["targets"][0]["model"].update(provider="nope"), "provider"),
        (lambda d: _advanced(d)["targets"][0]["model"]["options"].update(temperature=9), "temperature"),
        (lambda d: _advanced(d)["targets"][0]["auth"].pop("header_value"), "half an auth pair"),
        (lambda d: _advanced(d)["balancer"]["failover_criteria"].append("http_418"), "failover criterion"),
        (lambda d: _advanced(d)["balancer"].update(read_timeout=0), "balancer timeout"),
        (lambda d: _plugins(d["services"][0])["request-transformer"]["remove"].update(body="model"), "remove.body"),
        (lambda d: d.update(_format_version="1.1"), "format version"),
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "host:8000", "weight": 70000}]}]), "target weight"),
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "http://host:8000/v1"}]}]), "target address"),
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "host:8000"}],
                                        "healthchecks": {"active": {"healthy": {"successes": 300}}}}]), "successes"),  # fmt: skip
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "host:8000"}],
                                        "healthchecks": {"active": {"type": "ftp"}}}]), "check type"),  # fmt: skip
    ],
)
def test_the_schema_rejects_what_kong_rejects(examples: dict[str, Any], mutation: Any, where: str) -> None:
    document = {"_format_version": "3.0", "services": [copy.deepcopy(examples["support-chat"])]}
    assert _errors(document) == []
    mutation(document)
    assert _errors(document), f"the schema accepted a config with a bad {where}"


def test_bundles_sharing_one_server_use_the_ai_plugins_not_upstream_targets(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9001}, 2, ["kong"], steps=[canary(5, "1m"), *LIVE_STEPS[1:]])
    document = _kong(tmp_path)
    assert "upstreams" not in document
    targets = _advanced(document)["targets"]
    assert [(t["model"]["name"], t["weight"]) for t in targets] == [("served-v1", 7000), ("served-v2", 3000)]
