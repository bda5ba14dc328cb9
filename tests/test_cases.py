"""Each file under tests/cases/ is one case; adding a case adds no code.

`invalid/<case>.yaml` (or a folder `invalid/<case>/` for rules across files) sits
beside `<case>.expected`, the exact diagnostics `relc validate` must print for it.
Set RELC_UPDATE_EXPECTED=1 to rewrite the expected files, then review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compiler.diagnostics import registered_codes
from compiler.reporter import format_text
from compiler.validate import validate_paths
from tests.conftest import CASES

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.suffix == ".yaml" or p.is_dir())
VALID = sorted((CASES / "valid").glob("*.yaml"))
# Codes whose cases cannot be stored as a release file: test_load, test_render, test_history, test_gate and test_config
# cover them, and tests/registry/ those that need a live registry.
CODES_TESTED_ELSEWHERE = {
    "RELC001", "RELC002", "RELC601", "RELC213", "RELC701", "RELC702", "RELC703", "RELC704", "RELC705", "RELC706",
    "RELC707",
    "RELC802", "RELC803", "RELC804", "RELC806",
}  # fmt: skip


def _expected_file(case: Path) -> Path:
    return case.parent / f"{case.stem if case.is_file() else case.name}.expected"


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid_case_prints_its_expected_diagnostics(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = validate_paths([case.relative_to(CASES)], root=Path("."))
    actual = format_text(result.diagnostics)
    expected_file = _expected_file(case)
    if os.environ.get("RELC_UPDATE_EXPECTED"):
        expected_file.write_text(actual)
    assert actual == expected_file.read_text(), f"diagnostics for {case.name} differ from {expected_file.name}"
    assert not result.ok
    failing = {d.path for d in result.diagnostics}
    assert not [c for c in result.releases if c.path in failing], "a failing release was still returned"


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_valid_case_has_no_diagnostics(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = validate_paths([case.relative_to(CASES)], root=Path("."))
    assert result.diagnostics == []
    assert [c.release.name for c in result.releases] == [case.stem]


def test_every_expected_file_has_its_case() -> None:
    for expected in (CASES / "invalid").glob("*.expected"):
        stem = expected.stem
        assert (CASES / "invalid" / f"{stem}.yaml").exists() or (CASES / "invalid" / stem).is_dir(), expected


def test_every_code_is_exercised_by_a_case() -> None:
    seen = set()
    for expected in (CASES / "invalid").glob("*.expected"):
        seen.update(re.findall(r" (RELC\d{3}):", expected.read_text()))
    codes = set(registered_codes())
    assert codes - CODES_TESTED_ELSEWHERE <= seen, f"codes with no case: {sorted(codes - seen)}"
