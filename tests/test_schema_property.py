"""Releases generated from the published schema (hypothesis-jsonschema).

Whatever the schema allows, `relc validate` answers with a release or diagnostics,
never a crash; and a generated release that relc accepts builds to the same bytes in
two processes with different hash seeds, the second build writing nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from tests.conftest import CASES, REPO, snapshot

if not os.environ.get("CI"):  # CI installs the test extra, so there a missing package fails
    pytest.importorskip("hypothesis_jsonschema", reason="the test extra installs hypothesis-jsonschema (scripts/test)")
from hypothesis_jsonschema import from_schema  # noqa: E402

SCHEMA = json.loads((REPO / "schemas" / "release.schema.json").read_text())
TEMPLATE = (CASES / "prompts" / "basic.j2").read_bytes()
# Bounded so the suite stays in seconds (generating one release costs about half a
# second); RELC_SCHEMA_EXAMPLES=500 searches longer on demand.
CRASH_EXAMPLES = int(os.environ.get("RELC_SCHEMA_EXAMPLES", "25"))
BUILD_EXAMPLES = max(12, CRASH_EXAMPLES // 2)
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _repository(folder: Path, file_name: str, text: str) -> Path:
    (folder / "releases").mkdir(parents=True)
    (folder / "prompts").mkdir()
    (folder / "prompts" / "basic.j2").write_bytes(TEMPLATE)
    (folder / "releases" / file_name).write_text(text)
    return folder


def _run_in_process(folder: Path, *arguments: str) -> tuple[int, str]:
    """`relc ARGUMENTS` in this process with RELC_DEBUG=1, so a bug raises (and hypothesis
    shrinks it) instead of being printed as exit 70."""
    output = io.StringIO()
    previous, debug = Path.cwd(), os.environ.get("RELC_DEBUG")
    os.environ["RELC_DEBUG"] = "1"
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            status = main(list(arguments))
    finally:
        os.chdir(previous)
        if debug is None:
            os.environ.pop("RELC_DEBUG", None)
        else:
            os.environ["RELC_DEBUG"] = debug
    return status, output.getvalue()


def _as_yaml(document: dict[str, Any], block_style: bool, ascii_only: bool = False) -> str:
    """JSON is YAML 1.2 as it is; PyYAML's block style is how people write it (its
    YAML 1.1 quoting may change a value's type, which validate must then report).
    Raw, a generated string may hold characters YAML refuses unescaped (C1 controls)."""
    if block_style:
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=not ascii_only)
    return json.dumps(document, ensure_ascii=ascii_only, indent=1)


@settings(max_examples=CRASH_EXAMPLES, **SETTINGS)
@given(document=from_schema(SCHEMA), block_style=st.booleans(), use_name=st.booleans())
def test_validate_answers_every_schema_valid_document_with_a_release_or_diagnostics(
    document: dict[str, Any], block_style: bool, use_name: bool
) -> None:
    file_name = f"{document['name']}.yaml" if use_name else "generated.yaml"
    with tempfile.TemporaryDirectory() as folder:
        root = _repository(Path(folder), file_name, _as_yaml(document, block_style))
        status, output = _run_in_process(root, "validate", "releases")
    event(f"exit {status}")
    assert status in (0, 1), output
    if status == 1:
        # Every problem is a diagnostic at a place in a file, in the release or its template.
        problems = [line for line in output.splitlines() if " error RELC" in line]
        assert problems and all(line.split(":", 3)[1].isdigit() and line.split(":", 3)[2].isdigit() for line in problems), output


def _fit_to_repository(document: dict[str, Any]) -> dict[str, Any]:
    """What the schema cannot say: the file name, a real pinned template, unique
    versions, and rollout roles that name bundles of this release."""
    fitted = json.loads(json.dumps(document))
    fitted["name"] = fitted["route"]["model"] = "generated"
    fitted["owners"] = list(dict.fromkeys(fitted["owners"]))
    digest = hashlib.sha256(TEMPLATE).hexdigest()
    versions = []
    for index, bundle in enumerate(fitted["bundles"]):
        if bundle["version"] in versions:
            bundle["version"] = f"v{index}-generated"
        versions.append(bundle["version"])
        bundle["prompt"] = {"template": "prompts/basic.j2", "sha256": digest, "variables": ["question"]}
        _fit_bundle_rules(bundle)
    rollout = fitted["rollout"]
    highest = 0.0
    for step in rollout.get("steps", []):
        if step.get("shadow") is None and step.get("canary") is None:
            step["canary"] = 100  # a step is one of the two (RELC107)
        if not _duration_within(step["hold"], 0, 90 * 86400):
            step["hold"] = "1h"
        for kind in ("shadow", "canary"):
            if step.get(kind) is not None:
                step[kind] = round(step[kind], 2)
        if step.get("canary") is not None:
            step["canary"] = highest = max(highest, step["canary"])  # canaries never decrease
    # Kong and Portkey refuse some providers and shadow steps (RELC501/502): the
    # validate property above covers them; here the build is what is tested.
    # Envoy forwards requests unchanged, so it serves self-hosted bundles only.
    from compiler.spec import SELF_HOSTED_PROVIDERS

    self_hosted = all(bundle["model"]["provider"] in SELF_HOSTED_PROVIDERS for bundle in fitted["bundles"])
    allowed = ("litellm", "envoy") if self_hosted else ("litellm",)
    gateways = [gateway for gateway in dict.fromkeys(fitted["route"]["gateways"]) if gateway in allowed]
    fitted["route"]["gateways"] = gateways or ["litellm"]
    rollout["stable"] = versions[0]
    for role in ("candidate", "previous"):
        if rollout.get(role) not in versions[1:] or rollout.get(role) in [rollout.get(r) for r in ("candidate", "previous") if r != role]:
            rollout.pop(role, None)
    if not rollout.get("candidate"):
        rollout.pop("step", None)
    fitted.pop("triggers", None)  # they need metric sources in relc.yaml; validate covers them above
    return fitted


def _duration_within(text: str, low: float, high: float) -> bool:
    from compiler.spec import duration_seconds

    return low <= duration_seconds(text) <= high


def _fit_bundle_rules(bundle: dict[str, Any]) -> None:
    """Rules across fields the schema leaves to validate: what self-hosted and azure
    models need, a timeout within a day, and registry pins only beside a reference."""
    from compiler.spec import SELF_HOSTED_PROVIDERS

    model = bundle["model"]
    if model["provider"] in SELF_HOSTED_PROVIDERS:
        model["api_base"] = model.get("api_base") or "http://127.0.0.1:8000/v1"
        model["weights_digest"] = model.get("weights_digest") or "sha256:" + "ab" * 32
    else:
        model.pop("weights_digest", None)
    if model["provider"] == "azure":
        model["api_base"] = model.get("api_base") or "https://example.openai.azure.com"
    if not _duration_within(bundle["serving"]["timeout"], 0.001, 86400):
        bundle["serving"]["timeout"] = "30s"
    if model.get("registry") is None:  # a pin belongs to a registry reference (RELC805)
        model.pop("registry_digest", None)
        model.pop("registry_lineage", None)


def _build(root: Path, hash_seed: str) -> subprocess.CompletedProcess[str]:
    environment = {**{k: v for k, v in os.environ.items() if k != "RELC_DEBUG"}, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [sys.executable, "-m", "compiler", "build"], cwd=root, capture_output=True, text=True, timeout=120, env=environment
    )


def _accepted_documents_build_deterministically(accepted: list[int]) -> Callable[..., None]:
    @settings(max_examples=BUILD_EXAMPLES, **SETTINGS)
    @given(document=from_schema(SCHEMA).map(_fit_to_repository))
    def check(document: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            root = _repository(Path(folder), "generated.yaml", _as_yaml(document, block_style=True, ascii_only=True))
            status, output = _run_in_process(root, "validate", "releases")
            assert status in (0, 1), output
            event("accepted" if status == 0 else "refused")
            if status == 1:
                return
            accepted.append(1)
            first = _build(root, "1")
            assert first.returncode == 0, first.stderr
            built = snapshot(root / "rendered")
            assert built, "an accepted release rendered nothing"
            second = _build(root, "2")
            assert second.returncode == 0 and "0 written, 0 removed" in second.stderr, second.stderr
            assert snapshot(root / "rendered") == built
            shutil.rmtree(root / "rendered")
            third = _build(root, "3")
            assert third.returncode == 0 and snapshot(root / "rendered") == built

    return check


def test_accepted_generated_releases_build_to_the_same_bytes_every_time() -> None:
    accepted: list[int] = []
    _accepted_documents_build_deterministically(accepted)()
    # A property that held only because relc refused everything would prove nothing.
    print(f"{len(accepted)} of {BUILD_EXAMPLES} generated releases accepted and built")
    assert len(accepted) >= 3, f"only {len(accepted)} of {BUILD_EXAMPLES} generated releases were accepted"
