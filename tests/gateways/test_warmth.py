"""The stable bundle, and previous where set, stay defined in every gateway at every step,
so a rollback is a routing change and never a cold start (Kong is the open exception:
see the Kong issue)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.builder import canary
from tests.support import LIVE_STEPS, relc, write_live_release

PORTS = {"v0": 9100, "v1": 9101, "v2": 9102}


def _release(root: Path, gateway: str, step: int | None) -> None:
    steps = list(LIVE_STEPS)
    if gateway == "portkey":  # it cannot mirror: its first step is a small canary instead
        steps[0] = canary(10, "1m")
    write_live_release(root, PORTS, step, [gateway], previous="v0", steps=steps)


def _defined(root: Path, gateway: str) -> set[str]:
    """The bundle versions the gateway's rendered files can send a request to."""
    rendered = root / "rendered"
    if gateway == "envoy":
        clusters = yaml.safe_load((rendered / "envoy" / "cds.yaml").read_text())["resources"]
        return {cluster["name"].split("@")[1] for cluster in clusters}
    if gateway == "litellm":
        config = yaml.safe_load((rendered / "litellm" / "config.yaml").read_text())
        return {d["model_info"]["relc_bundle_version"] for d in config["model_list"]}
    text = (rendered / "portkey" / "live.json").read_text()
    return {version for version, port in PORTS.items() if f":{port}" in text}


@pytest.mark.parametrize("gateway", ["envoy", "litellm", "portkey"])
@pytest.mark.parametrize("step", [None, 1, 2, 3], ids=["steady", "first step", "canary 30", "canary 100"])
def test_stable_and_previous_stay_defined_at_every_step(tmp_path: Path, gateway: str, step: int | None) -> None:
    _release(tmp_path, gateway, step)
    assert relc(tmp_path, "build") == 0
    defined = _defined(tmp_path, gateway)
    assert {"v1", "v0"} <= defined, f"{gateway} at step {step} defines only {sorted(defined)}"
    if step is not None:
        assert "v2" in defined


def test_litellm_falls_back_from_the_candidate_to_stable_then_previous_at_canary_100(tmp_path: Path) -> None:
    _release(tmp_path, "litellm", 3)
    assert relc(tmp_path, "build") == 0
    config = yaml.safe_load((tmp_path / "rendered" / "litellm" / "config.yaml").read_text())
    rules = {group: chain for rule in config["router_settings"]["fallbacks"] for group, chain in rule.items()}
    assert rules["live@v2"] == ["live@v1", "live@v0"]


def test_portkey_nests_stable_then_previous_behind_the_candidate_at_canary_100(tmp_path: Path) -> None:
    _release(tmp_path, "portkey", 3)
    assert relc(tmp_path, "build") == 0
    text = json.dumps(json.loads((tmp_path / "rendered" / "portkey" / "live.json").read_text()))
    assert text.index(":9102") < text.index(":9101") < text.index(":9100"), "candidate, then stable, then previous"
