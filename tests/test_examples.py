"""The example releases are real: valid, editor-ready, and covering the common shapes."""

from __future__ import annotations

from pathlib import Path

from compiler.spec import SELF_HOSTED_PROVIDERS
from compiler.validate import validate_paths
from tests.conftest import REPO

RELEASE_FILES = sorted((REPO / "releases").glob("*.yaml"))


def _releases(monkeypatch) -> list:
    monkeypatch.chdir(REPO)
    result = validate_paths([Path("releases")], root=Path("."))
    assert result.diagnostics == []
    return [checked.release for checked in result.releases]


def test_each_example_points_editors_at_the_published_schema() -> None:
    assert len(RELEASE_FILES) >= 3
    for path in RELEASE_FILES:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/release.schema.json\n"), path


def test_examples_cover_hosted_self_hosted_and_mid_rollout(monkeypatch) -> None:
    releases = _releases(monkeypatch)
    providers = {bundle.model.provider for release in releases for bundle in release.bundles}
    assert providers - SELF_HOSTED_PROVIDERS, "no hosted provider among the examples"
    assert any(
        bundle.model.provider == "vllm" and bundle.model.weights_digest for r in releases for bundle in r.bundles
    ), "no self-hosted vLLM bundle with a weights digest"
    assert any(r.rollout.candidate and r.rollout.current_step for r in releases), "no release mid-rollout"
