"""The published JSON Schema: current, documented, and agreeing with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator

from compiler.load import load_file
from compiler.schema import SCHEMA_PATH, schema_text
from tests.conftest import CASES, REPO, run_relc

SCHEMA = json.loads((REPO / SCHEMA_PATH).read_text())


def test_committed_schema_is_what_the_models_generate() -> None:
    assert (REPO / SCHEMA_PATH).read_text() == schema_text(), "schemas/ is stale: run `relc schema` and commit it"


def test_schema_check_command_detects_a_stale_schema(example_repo: Path) -> None:
    assert run_relc("schema", "--check", cwd=example_repo).returncode == 0
    (example_repo / SCHEMA_PATH).write_text("{}\n")
    stale = run_relc("schema", "--check", cwd=example_repo)
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert run_relc("schema", cwd=example_repo).returncode == 0
    assert (example_repo / SCHEMA_PATH).read_text() == schema_text()


@pytest.mark.parametrize("target", ["/dev/zero", "outside"])
def test_a_schema_linked_out_of_the_repository_is_reported_unread_and_replaced(example_repo: Path, target: str) -> None:
    assert run_relc("build", cwd=example_repo).returncode == 0
    if target == "outside":
        target = str(example_repo.parent / "outside.json")
        Path(target).write_text('{"hunter2-outside-value": 1}\n')
    (example_repo / SCHEMA_PATH).unlink()
    (example_repo / SCHEMA_PATH).symlink_to(target)
    for command in (["check", "--no-cache"], ["schema", "--check"]):
        result = run_relc(*command, cwd=example_repo)
        assert result.returncode == 1, result.stderr
        assert "schemas/release.schema.json resolves outside the repository through a symbolic link" in result.stdout + result.stderr
        assert "hunter2" not in result.stdout + result.stderr and "internal error" not in result.stderr
    assert run_relc("schema", cwd=example_repo).returncode == 0
    assert not (example_repo / SCHEMA_PATH).is_symlink() and (example_repo / SCHEMA_PATH).read_text() == schema_text()
    assert run_relc("check", cwd=example_repo).returncode == 0


def test_a_schema_checked_out_with_crlf_line_ends_is_current(example_repo: Path) -> None:
    path = example_repo / SCHEMA_PATH
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert run_relc("schema", "--check", cwd=example_repo).returncode == 0


def test_schemas_linked_out_of_the_repository_are_never_written(example_repo: Path) -> None:
    outside = example_repo.parent / "outside-schemas"
    (example_repo / "schemas").rename(outside)
    (example_repo / "schemas").symlink_to(outside)
    before = {path.name: path.read_bytes() for path in outside.iterdir()}
    (outside / "release.schema.json").write_text("{}\n")
    before["release.schema.json"] = b"{}\n"
    result = run_relc("schema", cwd=example_repo)
    assert result.returncode == 1 and "schemas/ resolves outside the repository through a symbolic link" in result.stderr
    assert {path.name: path.read_bytes() for path in outside.iterdir()} == before


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for owner_name, owner in [("Release", schema), *schema["$defs"].items()]:
        for name, definition in owner.get("properties", {}).items():
            yield f"{owner_name}.{name}", definition


def _is_object(definition: dict[str, Any]) -> bool:
    options = definition.get("anyOf", [definition])
    return any("$ref" in option or option.get("type") == "array" and "$ref" in option.get("items", {}) for option in options)


def test_every_field_has_a_description_and_every_value_field_examples() -> None:
    for name, definition in _properties(SCHEMA):
        assert definition.get("description"), f"{name} has no description"
        if not _is_object(definition):
            assert definition.get("examples"), f"{name} has no examples"


def test_every_example_in_the_schema_is_valid_for_its_field() -> None:
    for name, definition in _properties(SCHEMA):
        validator = Draft202012Validator({"$defs": SCHEMA["$defs"], **definition})
        for example in definition.get("examples", []):
            errors = list(validator.iter_errors(example))
            assert not errors, f"{name} example {example!r}: {errors[0].message}"


def _data(path: Path) -> Any:
    document, diagnostics = load_file(path, path.name, inside=REPO)
    assert document is not None, diagnostics
    return document.data


@pytest.mark.parametrize(
    "path", sorted((REPO / "releases").glob("*.yaml")) + sorted((CASES / "valid").glob("*.yaml")), ids=lambda p: p.stem
)
def test_valid_releases_fit_the_published_schema(path: Path) -> None:
    Draft202012Validator(SCHEMA).validate(_data(path))


# Cases whose problem is one of shape or type: editors using the schema must flag them too.
SCHEMA_LEVEL_CASES = [
    "bad-duration", "bad-env-var-name", "bad-sha256", "canary-over-100", "empty-owners", "list-at-top", "list-for-route",
    "missing-field", "number-for-version", "step-both-kinds", "step-neither-kind", "string-for-number",
    "temperature-out-of-range", "unknown-field", "unknown-gateway", "wrong-api-version", "yes-no-is-not-bool",
]  # fmt: skip


@pytest.mark.parametrize("case", SCHEMA_LEVEL_CASES)
def test_schema_level_mistakes_are_rejected_by_the_published_schema(case: str) -> None:
    errors = list(Draft202012Validator(SCHEMA).iter_errors(_data(CASES / "invalid" / f"{case}.yaml")))
    assert errors, f"the published schema accepts {case}"
