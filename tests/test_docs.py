"""Docs that match the code: every diagnostic code and every allowed filter is documented."""

from __future__ import annotations

import re

from compiler.diagnostics import CODES
from compiler.prompts import ALLOWED_FILTERS, ALLOWED_METHODS
from tests.conftest import REPO

DIAGNOSTICS_PAGE = (REPO / "docs" / "diagnostics.md").read_text()


def test_every_code_has_a_row_and_every_row_a_code() -> None:
    documented = re.findall(r"^\| (RELC\d{3}) \|", DIAGNOSTICS_PAGE, flags=re.MULTILINE)
    assert sorted(documented) == sorted(CODES)


def test_the_allowed_filters_and_methods_are_listed() -> None:
    page = " ".join(DIAGNOSTICS_PAGE.split())
    filters = re.search(r"Allowed filters: ([^.]*)\.", page)
    methods = re.search(r"Allowed methods: ([^.]*)\.", page)
    assert filters and set(filters.group(1).split(", ")) == ALLOWED_FILTERS
    assert methods and set(methods.group(1).split(", ")) == ALLOWED_METHODS


def test_the_readme_gateway_table_is_what_the_renderers_declare() -> None:
    from compiler.gateways import capability_table

    assert capability_table() in (REPO / "README.md").read_text()


def test_the_readme_plan_example_is_what_relc_plan_prints(monkeypatch) -> None:
    from pathlib import Path

    from compiler.plan import format_text, plan_releases
    from compiler.validate import validate_paths

    monkeypatch.chdir(REPO)
    result = validate_paths([Path("releases")], Path("."))
    text = format_text(plan_releases(Path("."), result.releases))
    block = text[text.index("support-chat:") : text.index("\n0 of")].replace("unchanged, ", "")
    assert block in (REPO / "README.md").read_text()
