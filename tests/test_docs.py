"""Docs that match the code: every diagnostic code and every allowed filter is documented."""

from __future__ import annotations

from pathlib import Path

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


def test_the_readme_plan_example_is_what_relc_plan_prints(example_repo: Path) -> None:
    """The README's plan is a real change: support-chat promoted from 10% to 50%, its
    rendered config diffed against the commit before."""
    from tests.conftest import run_relc
    from tests.support import Repository

    assert run_relc("build", cwd=example_repo).returncode == 0
    Repository.adopt(example_repo).commit("The examples", build=False)
    release = example_repo / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("  step: 2\n", "  step: 3\n"))
    result = run_relc("plan", cwd=example_repo)
    assert result.returncode == 0, result.stderr
    assert "support-chat: step 2 of 4: canary 10%, hold 1h -> step 3 of 4: canary 50%, hold 2h" in result.stdout
    assert "unchanged: code-review (steady (no rollout))" in result.stdout
    block = result.stdout[: result.stdout.index("\nunchanged:")]
    assert block in (REPO / "README.md").read_text(), block


def test_a_changed_live_bundle_is_a_change_and_a_hold_alone_is_not(example_repo: Path) -> None:
    from tests.conftest import run_relc

    assert run_relc("build", cwd=example_repo).returncode == 0
    release = example_repo / "releases" / "support-chat.yaml"
    text = release.read_text()
    release.write_text(text.replace("{canary: 10, hold: 1h}", "{canary: 10, hold: 3h}"))
    assert "0 of 5 release(s) change traffic" in run_relc("plan", cwd=example_repo).stdout
    release.write_text(text.replace("max_tokens: 800", "max_tokens: 801", 1))
    changed = run_relc("plan", cwd=example_repo).stdout
    assert "support-chat: step 2 of 4: canary 10%, hold 1h; content changed" in changed
    assert "content of v41 changed (its digest differs)" in changed or "content of v42 changed" in changed
