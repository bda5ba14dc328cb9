"""Release files whose bundles name MLflow versions, for the registry tests."""

from __future__ import annotations

from tests.support import release_text


def registry_release(name: str, refs: dict[str, tuple[str, str]], stable: str, candidate: str | None = None,
                     step: int | None = None, previous: str | None = None) -> str:
    """release_text, with each version's model naming an MLflow version: {bundle: (model, version)}."""
    text = release_text(name, list(refs), stable=stable, candidate=candidate, step=step, previous=previous)
    for version, (model, number) in refs.items():
        text = text.replace(
            f"name: model-{version}, api_key_env: OPENAI_API_KEY}}",
            f"name: model-{version}, api_key_env: OPENAI_API_KEY,\n             registry: {{mlflow: {{name: {model}, version: {number}}}}}}}",
        )
    return text
