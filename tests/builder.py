"""Release files as data, for tests and benchmarks: build a release with the functions
here, change what the test is about, then `dump` it. Values are never pasted into YAML
text, so a version, URL or digest is always written (and quoted) as YAML requires.

No pytest here: the benchmarks import this module too."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

Document = dict[str, Any]

DIGEST = "sha256:" + "ab" * 32  # a well-formed weights digest for self-hosted bundles
BASIC_TEMPLATE = "prompts/basic.j2"  # tests/cases/prompts/basic.j2, which the tests copy into each repository
BASIC_SHA = hashlib.sha256((Path(__file__).parent / "cases" / "prompts" / "basic.j2").read_bytes()).hexdigest()

# The parts of the small bundles most tests need; each bundle gets its own copy.
HOSTED_TOKENIZER = {"name": "o200k_base", "revision": "1"}
HOSTED_SERVING = {"temperature": 0.2, "max_tokens": 64, "timeout": "10s"}
SELF_HOSTED_TOKENIZER = {"name": "test", "revision": "1"}
SELF_HOSTED_SERVING = {"temperature": 0.0, "max_tokens": 16, "timeout": "5s", "retries": 0}  # quick to fail, never retried


class FlowMapping(dict[str, Any]):
    """A mapping written on one line even with a list inside: `prompt: {..., variables: [question]}`."""


class BlockMapping(dict[str, Any]):
    """A mapping written one key a line even when every value is a scalar, as a long `model:` reads best."""


def bundle(
    version: str,
    model: Mapping[str, Any],
    *,
    tokenizer: Mapping[str, Any],
    serving: Mapping[str, Any],
    prompt: Mapping[str, Any] | None = None,
    description: str | None = None,
    retrieval: Mapping[str, Any] | None = None,
) -> Document:
    """One bundle, its keys in the order the README's release files use; its prompt is basic.j2 unless given."""
    document: Document = {"version": version}
    if description is not None:
        document["description"] = description
    document["model"] = model
    document["prompt"] = prompt or FlowMapping({"template": BASIC_TEMPLATE, "sha256": BASIC_SHA, "variables": ["question"]})
    if retrieval is not None:
        document["retrieval"] = retrieval
    document["tokenizer"] = tokenizer
    document["serving"] = serving
    return document


def hosted_bundle(
    version: str,
    *,
    model: Mapping[str, Any] | None = None,
    tokenizer: Mapping[str, Any] = HOSTED_TOKENIZER,
    serving: Mapping[str, Any] = HOSTED_SERVING,
) -> Document:
    """A hosted bundle; unless `model` says otherwise, OpenAI's `model-<version>`."""
    model = model or {"provider": "openai", "name": f"model-{version}", "api_key_env": "OPENAI_API_KEY"}
    return bundle(version, dict(model), tokenizer=dict(tokenizer), serving=dict(serving))


def self_hosted_bundle(
    version: str,
    api_base: str,
    *,
    name: str | None = None,
    tokenizer: Mapping[str, Any] = SELF_HOSTED_TOKENIZER,
    serving: Mapping[str, Any] = SELF_HOSTED_SERVING,
) -> Document:
    """A vLLM bundle at `api_base` with pinned weights; its model is `served-<version>` unless `name` is given."""
    model = {"provider": "vllm", "name": name or f"served-{version}", "api_base": api_base, "weights_digest": DIGEST}
    return bundle(version, model, tokenizer=dict(tokenizer), serving=dict(serving))


def canary(percent: int, hold: str) -> Document:
    return {"canary": percent, "hold": hold}


def shadow(percent: int, hold: str) -> Document:
    return {"shadow": percent, "hold": hold}


def trigger(name: str, metric: str, *, window: str, min_samples: int, action: str, **bounds: Any) -> Document:
    """A trigger; `bounds` (`max`, `min`, `relative_to_stable`, `relative_mode`) come after the metric, as people write them."""
    return {"name": name, "metric": metric, **bounds, "window": window, "min_samples": min_samples, "action": action}


def release(
    name: str,
    bundles: Iterable[Mapping[str, Any]],
    stable: str,
    candidate: str | None = None,
    step: int | None = None,
    previous: str | None = None,
    *,
    steps: Iterable[Mapping[str, Any]] = (canary(10, "1h"), canary(50, "1h")),
    triggers: Iterable[Mapping[str, Any]] = (),
    gateways: Iterable[str] = ("litellm",),
    owners: Iterable[str] = ("tests",),
    description: str | None = None,
) -> Document:
    """A release that clients call by its name; the default steps are canary 10% then 50%, an hour each."""
    document: Document = {"apiVersion": "relc/v1", "kind": "Release", "name": name}
    if description is not None:
        document["description"] = description
    document["owners"] = list(owners)
    document["route"] = {"model": name, "gateways": list(gateways)}
    document["bundles"] = list(bundles)
    rollout: Document = {"stable": stable}
    for role, value in (("candidate", candidate), ("previous", previous), ("step", step)):
        if value is not None:
            rollout[role] = value
    rollout["steps"] = [dict(each) for each in steps]
    document["rollout"] = rollout
    if triggers := [dict(each) for each in triggers]:
        document["triggers"] = triggers
    return document


class _ReleaseDumper(yaml.SafeDumper):
    """YAML as people write release files: blocks, a mapping or list of scalars on one line,
    dashes indented under their key, double quotes where quotes are needed, no wrapping."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a part used twice is written twice, never as an anchor and an alias


_ReleaseDumper.add_representer(
    FlowMapping, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_ReleaseDumper.add_representer(
    BlockMapping, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)


def dump(document: Mapping[str, Any]) -> str:
    """The release file's text."""
    return yaml.dump(document, Dumper=_ReleaseDumper, sort_keys=False, default_flow_style=None, width=1 << 16, allow_unicode=True)
