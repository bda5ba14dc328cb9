"""Portkey: every rendered config fits compiler/gateways/portkey-config.schema.json (written
from Portkey 1.15.2's own zod schema, stricter on unknown fields). The real gateway's
tests are in test_portkey_live.py."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from compiler.gateways import renderers
from compiler.spec import Gateway
from tests.builder import DIGEST, canary, hosted_bundle, release
from tests.conftest import REPO, run_relc
from tests.support import LIVE_STEPS, relc, write_live_release, write_release

SCHEMA = json.loads((REPO / "compiler" / "gateways" / "portkey-config.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
FAILURE_CODES = [408, 429, 500, 502, 503, 504]


def schema_errors(config: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in VALIDATOR.iter_errors(config)]


def canary_release(root: Path, ports: dict[str, int], step: int | None, previous: str | None = None) -> Path:
    """write_live_release with its shadow step made a 5% canary, for gateway `portkey` alone."""
    steps = [canary(5, "1m"), *LIVE_STEPS[1:]]
    return write_live_release(root, ports, step, ["portkey"], previous=previous, steps=steps)


def build_config(root: Path, release: str = "live") -> dict[str, Any]:
    """`relc build` in `root`, then the release's config, checked against Portkey's schema."""
    assert relc(root, "build") == 0
    config = json.loads((root / "rendered" / "portkey" / f"{release}.json").read_text())
    assert schema_errors(config) == []
    return config


def leaf(version: str, port: int) -> dict[str, Any]:
    """A bundle of write_live_release as a Portkey target."""
    return {
        "provider": "openai",
        "custom_host": f"http://127.0.0.1:{port}/v1",
        "override_params": {"model": f"served-{version}", "temperature": 0.0, "max_tokens": 16},
        "request_timeout": 5000,
        "retry": {"attempts": 0, "on_status_codes": FAILURE_CODES},
    }


def _fallback(*leaves: dict[str, Any]) -> dict[str, Any]:
    return {"strategy": {"mode": "fallback", "on_status_codes": FAILURE_CODES}, "targets": list(leaves)}


# Rendering, per step kind.


def test_spec_gateways_are_the_registered_renderers() -> None:
    assert set(typing.get_args(Gateway)) == set(renderers())


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_steady_state_is_one_weighted_target(tmp_path: Path) -> None:
    canary_release(tmp_path, {"v1": 9001, "v2": 9002}, None)
    config = build_config(tmp_path)
    assert config == {"strategy": {"mode": "loadbalance"}, "targets": [{"weight": 10000, **leaf("v1", 9001)}]}


def test_steady_state_with_previous_falls_back_to_it(tmp_path: Path) -> None:
    canary_release(tmp_path, {"v1": 9001, "v0": 9000}, None, previous="v0")
    config = build_config(tmp_path)
    assert config["targets"] == [{"weight": 10000, **_fallback(leaf("v1", 9001), leaf("v0", 9000))}]


@pytest.mark.parametrize(("step", "weights"), [(1, [9500, 500]), (2, [7000, 3000])])
def test_a_canary_splits_by_share_and_chains_candidate_stable_previous(tmp_path: Path, step: int, weights: list[int]) -> None:
    canary_release(tmp_path, {"v1": 9001, "v2": 9002, "v0": 9000}, step, previous="v0")
    config = build_config(tmp_path)
    assert config["strategy"] == {"mode": "loadbalance"}
    assert config["targets"] == [
        {"weight": weights[0], **_fallback(leaf("v1", 9001), leaf("v0", 9000))},
        {"weight": weights[1], **_fallback(leaf("v2", 9002), leaf("v1", 9001), leaf("v0", 9000))},
    ]


def test_a_full_canary_sends_everything_to_the_candidate_with_stable_behind_it(tmp_path: Path) -> None:
    canary_release(tmp_path, {"v1": 9001, "v2": 9002}, 3)
    config = build_config(tmp_path)
    assert config["targets"] == [{"weight": 10000, **_fallback(leaf("v2", 9002), leaf("v1", 9001))}]


def test_a_shadow_step_is_RELC501_never_dropped(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, 2, ["portkey"])
    result = run_relc("validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    problems = json.loads(result.stdout)
    assert [p["code"] for p in problems] == ["RELC501"]
    assert "shadow: 50" in (tmp_path / "releases" / "live.yaml").read_text().splitlines()[problems[0]["line"] - 1]
    assert "portkey cannot mirror traffic" in problems[0]["message"]
    assert relc(tmp_path, "build") == 1 and not (tmp_path / "rendered").exists()


def test_the_plan_line_names_the_file_split_and_chains(tmp_path: Path) -> None:
    from compiler.traffic import traffic_state
    from compiler.validate import validate_paths

    canary_release(tmp_path, {"v1": 9001, "v2": 9002, "v0": 9000}, 2, previous="v0")
    result = validate_paths([tmp_path / "releases"], tmp_path)
    line = renderers()["portkey"].describe(traffic_state(result.releases[0].release))
    assert line == "`portkey/live.json` (x-portkey-config): loadbalance v1 70%, v2 30%; on 408, 429, 500, 502, 503, 504: v1 -> v0, v2 -> v1 -> v0"


def _hosted_release(root: Path, models: dict[str, dict[str, str]]) -> None:
    """Release `hosted` on portkey: a bundle a model, the first stable, the second its candidate at 20%."""
    bundles = [
        hosted_bundle(version, model=model, tokenizer={"name": "t", "revision": "1"},
                      serving={"temperature": 0.3, "top_p": 0.9, "max_tokens": 100, "timeout": "1500ms", "retries": 3})
        for version, model in models.items()
    ]  # fmt: skip
    stable, candidate = models
    write_release(root, release("hosted", bundles, stable, candidate, 1, steps=[canary(20, "1m")], gateways=["portkey"]))


def test_hosted_providers_name_their_key_variable_never_a_key(tmp_path: Path) -> None:
    _hosted_release(tmp_path, {
        "a1": {"provider": "anthropic", "name": "claude-x", "api_key_env": "ANTHROPIC_API_KEY"},
        "o1": {"provider": "openai", "name": "gpt-x", "api_key_env": "OPENAI_API_KEY", "api_base": "https://llm-proxy.example.com/v1/"},
    })  # fmt: skip
    config = build_config(tmp_path, "hosted")
    stable, candidate = config["targets"]
    assert (stable["weight"], candidate["weight"]) == (8000, 2000)
    assert stable == {
        "weight": 8000, "provider": "anthropic", "api_key": "${ANTHROPIC_API_KEY}", "request_timeout": 1500,
        "override_params": {"model": "claude-x", "temperature": 0.3, "top_p": 0.9, "max_tokens": 100},
        "retry": {"attempts": 3, "on_status_codes": FAILURE_CODES},
    }  # fmt: skip
    first = candidate["targets"][0]
    assert (first["provider"], first["api_key"], first["custom_host"]) == ("openai", "${OPENAI_API_KEY}", "https://llm-proxy.example.com/v1")
    assert candidate["targets"][1] == {key: value for key, value in stable.items() if key != "weight"}


@pytest.mark.parametrize(
    ("model", "field", "words"),
    [
        ({"provider": "azure", "name": "gpt", "api_base": "https://acme.openai.azure.com", "api_key_env": "AZURE_KEY"}, "provider", "resource name"),
        ({"provider": "bedrock", "name": "claude"}, "provider", "AWS access keys"),
        ({"provider": "vertex_ai", "name": "gemini"}, "provider", "vertex_project_id"),
        ({"provider": "vllm", "name": "m", "api_base": "http://[::1]:8000/v1", "weights_digest": DIGEST}, "api_base", "IPv6"),
        ({"provider": "vllm", "name": "m", "api_base": "http://user@vllm:8000/v1", "weights_digest": DIGEST}, "api_base", "`@`"),
    ],
)  # fmt: skip
def test_bundles_portkey_cannot_serve_are_RELC502(tmp_path: Path, model: dict[str, str], field: str, words: str) -> None:
    _hosted_release(tmp_path, {"ok": {"provider": "openai", "name": "gpt-x", "api_key_env": "OPENAI_API_KEY"}, "bad": model})
    result = run_relc("validate", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.stdout)
    assert [p["code"] for p in problems] == ["RELC502"], problems
    assert words in problems[0]["message"] and "`bad`" in problems[0]["message"]
    line = (tmp_path / "releases" / "hosted.yaml").read_text().splitlines()[problems[0]["line"] - 1]
    assert ("provider" if field == "provider" else "api_base") in line


def test_the_example_releases_render_for_portkey_or_say_why_not(example_repo: Path) -> None:
    """Every example with portkey added: a schema-valid config, or a RELC501/502 diagnostic."""
    for path in (example_repo / "releases").glob("*.yaml"):
        if "[portkey" not in path.read_text():
            path.write_text(path.read_text().replace("  gateways: [", "  gateways: [portkey, ", 1))
    result = run_relc("validate", "--format", "json", cwd=example_repo)
    problems = json.loads(result.stdout) if result.returncode else []
    assert {(Path(p["path"]).name, p["code"]) for p in problems} == {("doc-summarizer.yaml", "RELC501")}
    summarizer = example_repo / "releases" / "doc-summarizer.yaml"
    summarizer.write_text(summarizer.read_text().replace("gateways: [portkey, ", "gateways: ["))
    support = build_config(example_repo, "support-chat")
    assert [target["weight"] for target in support["targets"]] == [9000, 1000]
    assert len(support["targets"][1]["targets"]) == 3  # v42 -> v41 -> v40
    review = json.loads((example_repo / "rendered" / "portkey" / "code-review.json").read_text())
    assert schema_errors(review) == [] and review["targets"][0]["api_key"] == "${ANTHROPIC_API_KEY}"
    text = "".join(p.read_text() for p in (example_repo / "rendered" / "portkey").iterdir())
    assert "sk-" not in text


# The vendored schema: Portkey's rules, and no field Portkey 1.15.2 does not have.


def sample_config() -> dict[str, Any]:
    return {"strategy": {"mode": "loadbalance"}, "targets": [
        {"weight": 7000, **_fallback(leaf("v1", 9001))}, {"weight": 3000, **leaf("v2", 9002)},
    ]}  # fmt: skip


UNKNOWN_FIELDS = [
    ("top level", lambda c: c.update(metadata={"release": "live"})),
    ("strategy", lambda c: c["strategy"].update(on_status=[500])),
    ("weighted target", lambda c: c["targets"][1].update(model="served-v2")),
    ("nested target", lambda c: c["targets"][0]["targets"][0].update(overide_params={})),
    ("retry", lambda c: c["targets"][1]["retry"].update(max_attempts=2)),
    ("timeout spelt in seconds", lambda c: c["targets"][1].update(timeout=5)),
    ("cache", lambda c: c.update(cache={"mode": "simple", "ttl": 60})),
]


@pytest.mark.parametrize(("where", "mutation"), UNKNOWN_FIELDS, ids=[case[0] for case in UNKNOWN_FIELDS])
def test_the_schema_fails_on_any_unknown_field(where: str, mutation: Any) -> None:
    config = sample_config()
    assert schema_errors(config) == []
    mutation(config)
    assert schema_errors(config), f"the schema accepted an unknown field in the {where}"


# What Portkey's zod schema and request validator refuse: the schema refuses it too, and
# the live test in test_portkey_live.py shows the real gateway answering 400.
REFUSED = [
    ("strategy mode", lambda c: c["strategy"].update(mode="round-robin")),
    ("retry without attempts", lambda c: c["targets"][1].update(retry={"on_status_codes": [500]})),
    ("provider", lambda c: c["targets"][1].update(provider="vllm")),
    ("status code type", lambda c: c["targets"][0]["strategy"].update(on_status_codes=["500"])),
    ("weight type", lambda c: c["targets"][1].update(weight="30%")),
    ("timeout type", lambda c: c["targets"][1].update(request_timeout="5s")),
    ("custom host IPv6", lambda c: c["targets"][1].update(custom_host="http://[::1]:9002/v1")),
    ("custom host with @", lambda c: c["targets"][1].update(custom_host="http://a@127.0.0.1:9002/v1")),
    ("cache mode", lambda c: c.update(cache={"mode": "forever"})),
    ("a leaf with nothing to act on", lambda c: c["targets"].append({"provider": "openai", "weight": 1})),
    ("vertex without region", lambda c: c["targets"][1].update(provider="vertex-ai", vertex_project_id="p")),
    ("no provider and no targets", lambda c: c.pop("targets")),
]


@pytest.mark.parametrize(("what", "mutation"), REFUSED, ids=[case[0] for case in REFUSED])
def test_the_schema_refuses_what_portkey_refuses(what: str, mutation: Any) -> None:
    config = sample_config()
    mutation(config)
    assert schema_errors(config), f"the schema accepted a config with a bad {what}"
