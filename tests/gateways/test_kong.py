"""Kong: rendered decK files validate against compiler/gateways/kong-deck.schema.json, written from
Kong's documented schemas; the schema itself is shown to reject what Kong rejects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import REPO
from tests.support import relc, write_live_release

SCHEMA = json.loads((REPO / "compiler" / "gateways" / "kong-deck.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def _errors(document: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def _committed() -> dict[str, Any]:
    return yaml.safe_load((REPO / "rendered" / "kong" / "kong.yaml").read_text())


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_the_committed_example_config_fits_the_schema() -> None:
    document = _committed()
    assert _errors(document) == []
    plugins = {service["name"]: service["plugins"][0]["name"] for service in document["services"]}
    assert plugins == {"code-review": "ai-proxy", "support-chat": "ai-proxy-advanced"}


def test_a_canary_renders_weighted_targets_with_failover() -> None:
    support = next(s for s in _committed()["services"] if s["name"] == "support-chat")
    config = support["plugins"][0]["config"]
    assert [target["weight"] for target in config["targets"]] == [9000, 1000]
    assert config["balancer"]["failover_criteria"] == ["error", "timeout"]
    assert support["routes"] == [{"name": "support-chat", "paths": ["/support-chat"], "strip_path": True}]


def test_keys_are_decK_environment_references_never_values() -> None:
    text = (REPO / "rendered" / "kong" / "kong.yaml").read_text()
    assert 'Bearer ${{ env \\"DECK_OPENAI_API_KEY\\" }}' in text
    assert '${{ env \\"DECK_ANTHROPIC_API_KEY\\" }}' in text


@pytest.mark.parametrize(
    ("step", "targets"),
    [(None, {"127.0.0.1:9001": 10000}), (2, {"127.0.0.1:9001": 7000, "127.0.0.1:9002": 3000}),
     (3, {"127.0.0.1:9001": 0, "127.0.0.1:9002": 10000})],
)  # fmt: skip
def test_self_hosted_canaries_render_weighted_upstream_targets(tmp_path: Path, step: int | None, targets: dict) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, step, gateways="[kong]")
    release = tmp_path / "releases" / "live.yaml"
    release.write_text(release.read_text().replace("    - {shadow: 50, hold: 1m}\n", "    - {canary: 5, hold: 1m}\n"))
    assert relc(tmp_path, "build") == 0
    document = yaml.safe_load((tmp_path / "rendered" / "kong" / "kong.yaml").read_text())
    assert _errors(document) == []
    service, upstream = document["services"][0], document["upstreams"][0]
    assert (service["host"], service["path"], service["plugins"]) == (upstream["name"], "/v1", [])
    assert {target["target"]: target["weight"] for target in upstream["targets"]} == targets


@pytest.mark.parametrize(
    ("mutation", "where"),
    [
        (lambda d: d["services"][0].update(prot="http"), "unknown service field"),
        (lambda d: d["services"][0].update(port=70000), "port out of range"),
        (lambda d: d["services"][0]["plugins"][0]["config"]["targets"][0].update(weight=70000), "target weight too big"),
        (lambda d: d["services"][0]["plugins"][0]["config"]["targets"][0]["model"].update(provider="nope"), "provider"),
        (lambda d: d["services"][0]["plugins"][0]["config"]["targets"][0]["model"]["options"].update(temperature=9), "temperature"),
        (lambda d: d["services"][0]["plugins"][0]["config"]["targets"][0]["auth"].pop("header_value"), "half an auth pair"),
        (lambda d: d.update(_format_version="1.1"), "format version"),
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "host:8000", "weight": 70000}]}]), "target weight"),
        (lambda d: d.update(upstreams=[{"name": "u", "targets": [{"target": "http://host:8000/v1"}]}]), "target address"),
    ],
)
def test_the_schema_rejects_what_kong_rejects(mutation: Any, where: str) -> None:
    document = copy.deepcopy(_committed())
    document["services"] = [s for s in document["services"] if s["name"] == "support-chat"]
    assert _errors(document) == []
    mutation(document)
    assert _errors(document), f"the schema accepted a config with a bad {where}"


def test_bundles_sharing_one_server_use_the_ai_plugins_not_upstream_targets(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9001}, 2, gateways="[kong]")
    release = tmp_path / "releases" / "live.yaml"
    release.write_text(release.read_text().replace("    - {shadow: 50, hold: 1m}\n", "    - {canary: 5, hold: 1m}\n"))
    assert relc(tmp_path, "build") == 0
    document = yaml.safe_load((tmp_path / "rendered" / "kong" / "kong.yaml").read_text())
    assert _errors(document) == [] and "upstreams" not in document
    targets = document["services"][0]["plugins"][0]["config"]["targets"]
    assert [(t["model"]["name"], t["weight"]) for t in targets] == [("served-v1", 7000), ("served-v2", 3000)]
