"""LiteLLM: the rendered config loads into the real `litellm.Router`, splits completions
as the release says, falls back to stable, and mirrors shadow traffic.

Every deployment answers with `mock_response`, so no provider is ever called.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.support import relc, write_live_release

pytestmark = pytest.mark.live

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import


def _router(config: dict[str, Any], failing: set[str] = frozenset(), **settings: Any) -> Any:
    """A Router over the rendered deployments, each answering with its bundle version."""
    from litellm import Router

    model_list = []
    for deployment in config["model_list"]:
        version = deployment["model_info"]["relc_bundle_version"]
        answer = "litellm.InternalServerError" if version in failing else f"answer from {version}"
        model_list.append({**deployment, "litellm_params": {**deployment["litellm_params"], "mock_response": answer}})
    router_settings = config["router_settings"]
    return Router(
        model_list=model_list,
        routing_strategy=router_settings["routing_strategy"],
        fallbacks=router_settings["fallbacks"],
        num_retries=router_settings["num_retries"],
        **settings,
    )


def _answered_by(router: Any, model: str, count: int) -> Counter[str]:
    answers: Counter[str] = Counter()
    for _ in range(count):
        response = router.completion(model=model, messages=[{"role": "user", "content": "hi"}])
        answers[response.choices[0].message.content.removeprefix("answer from ")] += 1
    return answers


def _rendered(tmp_path: Path, step: int | None) -> dict[str, Any]:
    write_live_release(tmp_path, {"v1": 9, "v2": 9}, step, gateways=["litellm"])
    assert relc(tmp_path, "build") == 0
    return yaml.safe_load((tmp_path / "rendered" / "litellm" / "config.yaml").read_text())


def test_the_committed_example_config_loads_into_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(variable, "test-key-not-used")
    config = yaml.safe_load((REPO / "rendered" / "litellm" / "config.yaml").read_text())
    router = _router(config)
    names = set(router.registry().names()) if hasattr(router, "registry") else set(router.get_model_names())
    assert {"support-chat", "support-chat@v41", "support-chat@v42", "support-chat@v40"} <= names
    answers = _answered_by(router, "support-chat", 400)
    assert set(answers) == {"v41", "v42"}
    assert abs(answers["v42"] - 40) <= 5 * math.sqrt(400 * 0.1 * 0.9), answers


def test_a_canary_split_matches_the_release(tmp_path: Path) -> None:
    router = _router(_rendered(tmp_path, step=2))  # canary 30%
    answers = _answered_by(router, "live", 400)
    assert set(answers) == {"v1", "v2"}
    assert abs(answers["v2"] - 120) <= 5 * math.sqrt(400 * 0.3 * 0.7), answers


def test_a_failing_candidate_falls_back_to_stable(tmp_path: Path) -> None:
    router = _router(_rendered(tmp_path, step=3), failing={"v2"}, disable_cooldowns=True)  # canary 100%
    answers = _answered_by(router, "live", 50)
    assert answers == {"v1": 50}, "every request must be answered, by the stable bundle"


def test_before_any_rollout_only_stable_serves(tmp_path: Path) -> None:
    answers = _answered_by(_router(_rendered(tmp_path, step=None)), "live", 50)
    assert answers == {"v1": 50}


def test_a_shadow_step_mirrors_its_share_and_clients_get_stable(tmp_path: Path) -> None:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    class Recorder(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.groups: Counter[str] = Counter()

        async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            metadata = kwargs.get("litellm_params", {}).get("metadata") or {}
            self.groups[metadata.get("model_group")] += 1

    recorder = Recorder()
    litellm.callbacks = [recorder]
    try:
        router = _router(_rendered(tmp_path, step=1))  # shadow 50%

        async def run() -> Counter[str]:
            answers: Counter[str] = Counter()
            for _ in range(200):
                response = await router.acompletion(model="live", messages=[{"role": "user", "content": "hi"}])
                answers[response.choices[0].message.content] += 1
            for _ in range(100):  # let the background mirror calls finish (bounded)
                await asyncio.sleep(0.05)
            return answers

        answers = asyncio.run(run())
    finally:
        litellm.callbacks = []
    assert answers == {"answer from v1": 200}
    mirrored = recorder.groups["live@v2"]
    assert abs(mirrored - 100) <= 5 * math.sqrt(200 * 0.25), f"{mirrored} of 200 calls mirrored, expected about 100"


def test_a_group_gets_exactly_the_retries_its_release_names(tmp_path: Path) -> None:
    """LiteLLM's Router retries a group twice by default on top of each deployment's
    max_retries; the rendered config turns that off, so `retries: 1` means one retry."""
    config = _rendered(tmp_path, step=2)
    assert config["router_settings"]["num_retries"] == 0
    router = _router(config)
    assert router.num_retries == 0
    assert {d["litellm_params"]["max_retries"] for d in config["model_list"]} == {0}  # write_live_release: retries 0
    assert config["litellm_settings"]["callbacks"] == ["prometheus"]
