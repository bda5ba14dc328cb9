"""Docs that match the code: the diagnostics page is generated from the registry, and the
README shows what the code does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compiler import diagnostics
from compiler.diagnostics import SECTIONS, Diagnostic, define, registered_codes, section_of
from compiler.docs import DIAGNOSTICS_PAGE, REGENERATE, STALE_MESSAGE, diagnostics_page
from compiler.prompts import ALLOWED_FILTERS, ALLOWED_METHODS
from tests.conftest import REPO


def test_the_committed_diagnostics_page_is_what_the_registry_generates() -> None:
    assert (REPO / DIAGNOSTICS_PAGE).read_text() == diagnostics_page(), STALE_MESSAGE


def test_the_page_command_checks_writes_and_prints_the_page(tmp_path: Path) -> None:
    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "compiler.docs", *arguments]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})

    assert REGENERATE == "python -m compiler.docs"
    (tmp_path / "docs").mkdir()
    (tmp_path / DIAGNOSTICS_PAGE).write_text(diagnostics_page().replace("| RELC203 |", "| RELC299 |"))
    stale = run("--check")
    assert stale.returncode == 1 and STALE_MESSAGE in stale.stderr
    assert run().returncode == 0 and run("--check").returncode == 0
    assert (tmp_path / DIAGNOSTICS_PAGE).read_text() == diagnostics_page() == run("--stdout").stdout


def test_every_code_has_one_row_in_its_section() -> None:
    page = diagnostics_page()
    for code in registered_codes().values():
        section = section_of(code.code)
        assert section is not None and page.count(f"| {code.code} |") == 1, code.code
        section_text = page.split(f"\n## {section.title}\n", 1)[1].split("\n## ", 1)[0]
        assert f"\n| {code.code} | {code.meaning} | {code.fix} |\n" in section_text, code


def test_the_allowed_filters_and_methods_are_the_sandbox_s() -> None:
    page = " ".join(diagnostics_page().split())
    filters = page.split("Allowed filters: ", 1)[1].split(".", 1)[0]
    methods = page.split("Allowed methods: ", 1)[1].split(".", 1)[0]
    assert filters.split(", ") == sorted(ALLOWED_FILTERS) and methods.split(", ") == sorted(ALLOWED_METHODS)


def test_each_code_is_defined_in_a_module_its_section_names() -> None:
    """A miss imports only the section's modules: a code defined elsewhere would be refused
    in a process that had not imported its module (a diagnostic restored from the cache)."""
    from importlib import import_module

    for code in registered_codes().values():
        section = section_of(code.code)
        assert section is not None
        owners = [name for name in section.modules if getattr(import_module(name), code.code, None) is code]
        assert owners, f"{code.code} is not defined as a constant in any of {section.modules}"


def test_importing_the_diagnostics_imports_no_rule_but_a_miss_finds_any_code() -> None:
    modules = {name for section in SECTIONS for name in section.modules}
    program = (
        "import sys\n"
        "from compiler.diagnostics import Diagnostic\n"
        f"print(sorted(set(sys.modules) & {modules!r}))\n"
        "print(Diagnostic('a.yaml', 1, 1, 'RELC703', 'm').code, 'compiler.gate' in sys.modules, 'compiler.model' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "RELC703 True False"]


@pytest.mark.parametrize("code", ["RELC299", "RELC999", "RELC2011", "relc201", "E501"])
def test_a_diagnostic_refuses_a_code_nobody_defined(code: str) -> None:
    with pytest.raises(ValueError, match="unregistered diagnostic code"):
        Diagnostic("a.yaml", 1, 1, code, "message")


def test_a_code_is_defined_once_and_inside_a_section() -> None:
    first = registered_codes()["RELC201"]
    assert define("RELC201", title=first.title, meaning=first.meaning, fix=first.fix) == first  # a module imported again
    with pytest.raises(ValueError, match="defined twice"):
        define("RELC201", title="another problem", fix="another fix")
    with pytest.raises(ValueError, match="not a code of any section"):
        define("RELC999", title="no section", fix="none")
    assert "RELC999" not in registered_codes() and diagnostics.lookup("RELC999") is None


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
