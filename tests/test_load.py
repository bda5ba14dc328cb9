"""The loader: YAML 1.2 scalars, positions, limits, and bytes no file should crash it with."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.load import LoadLimits, Position, load_bytes, load_file, resolve_plain_scalar
from compiler.validate import validate_release_file
from tests.conftest import snapshot


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("", None),
        ("null", None),
        ("42", 42),
        ("-7", -7),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2026-11-01", "2026-11-01"),
        ("1_000", "1_000"),
        ("v42", "v42"),
    ],
)
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    resolved = resolve_plain_scalar(text)
    assert resolved == value and type(resolved) is type(value)


def test_special_floats_resolve() -> None:
    assert resolve_plain_scalar(".inf") == math.inf
    assert resolve_plain_scalar("-.Inf") == -math.inf
    assert math.isnan(resolve_plain_scalar(".nan"))


def test_quoted_scalars_stay_strings() -> None:
    document, diagnostics = load_bytes(b"a: '42'\nb: \"true\"\nc: |\n  no\n", "x.yaml")
    assert diagnostics == []
    assert document is not None and document.data == {"a": "42", "b": "true", "c": "no\n"}


def test_every_value_and_key_keeps_its_position() -> None:
    text = b"route:\n  model: chat\n  gateways:\n    - litellm\n    - envoy\n"
    document, _ = load_bytes(text, "x.yaml")
    assert document is not None
    assert document.position_of(("route", "model")) == Position(2, 10)
    assert document.position_of(("route", "gateways", 1)) == Position(5, 7)
    assert document.key_position_of(("route", "gateways")) == Position(3, 3)
    # A path below a scalar falls back to the nearest value that has a position.
    assert document.position_of(("route", "model", "missing")) == Position(2, 10)


def test_aliases_within_the_budget_expand() -> None:
    document, diagnostics = load_bytes(b"base: &b {x: 1}\ncopy: *b\n", "x.yaml")
    assert diagnostics == [] and document is not None
    assert document.data["copy"] == {"x": 1}


def test_nesting_up_to_the_limit_loads() -> None:
    limits = LoadLimits(max_depth=5)
    fine, problems = load_bytes(b"a: [[[[1]]]]\n", "x.yaml", limits)
    assert problems == [] and fine is not None
    _, problems = load_bytes(b"a: [[[[[1]]]]]\n", "x.yaml", limits)
    assert [d.code for d in problems] == ["RELC010"]


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * 200_000)
    before = snapshot(tmp_path)
    checked, diagnostics = validate_release_file(path, root=tmp_path)
    assert checked is None
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("RELC002", 1, 1)]
    assert "2000000 bytes" in diagnostics[0].message
    assert snapshot(tmp_path) == before


def test_the_size_limit_applies_to_bytes_too() -> None:
    _, diagnostics = load_bytes(b"a: 1\n" * 100, "x.yaml", LoadLimits(max_bytes=64))
    assert [d.code for d in diagnostics] == ["RELC002"]


def test_an_unreadable_file_is_a_diagnostic(tmp_path: Path) -> None:
    missing = tmp_path / "gone.yaml"
    missing.symlink_to(tmp_path / "nowhere.yaml")
    checked, diagnostics = validate_release_file(missing, root=tmp_path)
    assert checked is None and [d.code for d in diagnostics] == ["RELC001"]
    document, diagnostics = load_file(tmp_path / "nowhere.yaml", "nowhere.yaml", inside=tmp_path)
    assert document is None and [d.code for d in diagnostics] == ["RELC001"]


def test_duplicate_keys_are_all_reported() -> None:
    _, diagnostics = load_bytes(b"a: 1\nb: 2\na: 3\nb: 4\n", "x.yaml")
    assert [(d.code, d.line) for d in diagnostics] == [("RELC006", 3), ("RELC006", 4)]


def test_a_byte_order_mark_is_accepted() -> None:
    document, diagnostics = load_bytes("\ufeffa: 1\n".encode(), "x.yaml")
    assert diagnostics == [] and document is not None and document.data == {"a": 1}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_document_or_diagnostics_never_an_exception(raw: bytes) -> None:
    document, diagnostics = load_bytes(raw, "fuzz.yaml")
    assert (document is None) == bool(diagnostics)
    lines = len(raw.decode("utf-8", errors="replace").splitlines()) + 1
    assert all(1 <= d.line <= lines and d.column >= 1 and d.path == "fuzz.yaml" for d in diagnostics), diagnostics


_YAML_PIECES = st.sampled_from(
    ["apiVersion: relc/v1\n", "kind: Release\n", "name: fuzz\n", "owners: [a]\n", "route: {model: m, gateways: [envoy]}\n",
     "bundles:\n", "  - version: v1\n", "    model: {provider: openai, name: x}\n", "rollout: {stable: v1}\n",
     "- a\n", "&a [*a]\n", "? x\n", "!!str 1\n", "{", "]", "'", '"', ": ", "  ", "\t", "%YAML 1.2\n", "---\n", "*a\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_YAML_PIECES, max_size=14))
def test_yaml_shaped_input_never_raises_through_validation(pieces: list[str]) -> None:
    """The fuzz target's contract (tests/fuzzing.py): a release or registered diagnostics
    inside the file, never an exception or a hang."""
    from tests.fuzzing import check_one

    assert check_one("".join(pieces).encode()) is None


def test_a_release_file_that_is_a_link_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "pgpass"
    secret.write_text("db:5432:prod:admin:S3cr3t-Passw0rd\n")
    repository = tmp_path / "repo"
    (repository / "releases").mkdir(parents=True)
    (repository / "releases" / "evil.yaml").symlink_to(secret)
    from compiler.validate import validate_paths

    result = validate_paths([repository / "releases"], root=repository)
    assert [d.code for d in result.diagnostics] == ["RELC001"]
    assert "symbolic link" in result.diagnostics[0].message
    assert "S3cr3t" not in result.diagnostics[0].message


def test_a_releases_folder_linked_outside_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.yaml").write_text("apiVersion: relc/v1\n")
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "releases").symlink_to(outside)
    from compiler.validate import validate_paths

    result = validate_paths([repository / "releases"], root=repository)
    assert [d.code for d in result.diagnostics] == ["RELC001"] and "outside the repository" in result.diagnostics[0].message


def test_integers_load_up_to_the_digit_limit_and_not_past_it() -> None:
    at_limit, _ = load_bytes(f"x: {'7' * 100}\n".encode(), "x.yaml")
    assert at_limit is not None and at_limit.data == {"x": int("7" * 100)}
    past, diagnostics = load_bytes(f"x: {'7' * 101}\n".encode(), "x.yaml")
    assert past is None and [d.code for d in diagnostics] == ["RELC013"]


def test_a_duration_part_may_have_nine_digits_and_not_ten() -> None:
    import re

    from compiler.spec import DURATION_PATTERN

    assert re.match(DURATION_PATTERN, "999999999s") and not re.match(DURATION_PATTERN, "9999999999s")
