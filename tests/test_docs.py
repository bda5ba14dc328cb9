"""Docs that match the code: the diagnostics page is generated from the registry, and the
README shows what the code does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from compiler.diagnostics import registered_codes, section_of
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


def test_the_readme_gateway_table_is_what_the_renderers_declare() -> None:
    from compiler.gateways import capability_table

    assert capability_table() in (REPO / "README.md").read_text()


def test_the_readme_layout_names_every_file_of_the_package_and_every_top_level_folder() -> None:
    import subprocess

    readme = (REPO / "README.md").read_text()
    layout = readme[readme.index("## Layout"):].split("```")[1]
    # What the repository holds, as git tracks it: an install's egg-info or a venv is not layout.
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    names: set[str] = set()
    for path in tracked:
        parts = path.split("/")
        if parts[0] == "compiler" and parts[-1] not in ("__init__.py", "__main__.py"):
            names |= {f"{folder}/" for folder in parts[1:-1]} | {parts[-1]}
        if len(parts) > 1 and not parts[0].startswith("."):
            names.add(f"{parts[0]}/")
        if parts[0] == "schemas":
            names.add(parts[-1])
    names.add("relc.yaml")
    assert sorted(name for name in names if name not in layout) == []


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
