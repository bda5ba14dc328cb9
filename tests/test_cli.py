"""The `relc` command as users run it: exit codes, formats, help, and no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cli import main
from tests.conftest import CASES, run_relc, snapshot


def test_the_example_releases_are_valid(example_repo: Path) -> None:
    result = run_relc("validate", cwd=example_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "5 release(s) valid" in result.stderr
    # ticket-triage names MLflow versions; offline, validation says it did not check them.
    assert "2 registry reference(s) not checked" in result.stderr


def test_an_invalid_release_exits_1_with_file_line_col(example_repo: Path) -> None:
    release = example_repo / "releases" / "support-chat.yaml"
    text = release.read_text().replace("{canary: 50, hold: 2h}", "{canary: 140, hold: 2h}")
    release.write_text(text)
    line_number, line = next((n, line) for n, line in enumerate(text.splitlines(), 1) if "canary: 140" in line)
    column = line.index("140") + 1
    result = run_relc("validate", cwd=example_repo)
    assert result.returncode == 1
    assert result.stdout == (
        f"releases/support-chat.yaml:{line_number}:{column}: error RELC105: "
        "rollout.steps[2].canary must be between 0 and 100, got 140\n"
    )


def test_all_problems_in_all_files_are_reported_in_one_run(example_repo: Path) -> None:
    for name in ("support-chat", "code-review"):
        release = example_repo / "releases" / f"{name}.yaml"
        release.write_text(release.read_text().replace("kind: Release", "kind: Releases").replace("owners:", "owner:"))
    result = run_relc("validate", "--format", "json", cwd=example_repo)
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert {(r["path"], r["code"]) for r in records} == {
        (f"releases/{name}.yaml", code) for name in ("support-chat", "code-review") for code in ("RELC101", "RELC102", "RELC104")
    }
    assert set(records[0]) == {"path", "line", "column", "code", "severity", "message"}


def test_github_format_annotates_pull_request_lines() -> None:
    result = run_relc("validate", "--format", "github", "invalid/canary-over-100.yaml", cwd=CASES)
    assert result.returncode == 1
    # GitHub reads annotation paths from the repository root: tests/cases/ is where relc ran.
    assert result.stdout == (
        "::error file=tests/cases/invalid/canary-over-100.yaml,line=26,col=16,title=RELC105::"
        "rollout.steps[2].canary must be between 0 and 100, got 140\n"
    )


def test_annotations_name_files_from_the_repository_root(example_repo: Path) -> None:
    import subprocess

    deploy = example_repo / "deploy"
    deploy.mkdir()
    for folder in ("releases", "prompts"):
        (example_repo / folder).rename(deploy / folder)
    subprocess.run(["git", "init", "-q"], cwd=example_repo, check=True)
    release = deploy / "releases" / "code-review.yaml"
    release.write_text(release.read_text().replace("kind: Release", "kind: Releases"))
    result = run_relc("-C", "deploy", "validate", "--format", "github", cwd=example_repo)
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=deploy/releases/code-review.yaml,line=")
    text = run_relc("-C", "deploy", "validate", cwd=example_repo)
    assert text.stdout.startswith("releases/code-review.yaml:"), "text output stays relative to where relc runs"
    refused = run_relc("-C", "deploy", "promote", "code-review", "--format", "github", cwd=example_repo)
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout.startswith("::error file=deploy/releases/code-review.yaml,line="), "an error's diagnostics too"


@pytest.mark.parametrize(
    "case",
    ["billion-laughs", "python-object-tag", "deep-nesting", "non-utf8", "empty", "yaml-1-1-directive",
     "template-attr-filter", "template-string-repetition", "two-documents", "list-at-top"],
)  # fmt: skip
def test_hostile_input_fails_cleanly_and_writes_nothing(case: str, tmp_path: Path) -> None:
    shutil.copytree(CASES, tmp_path / "cases", symlinks=True)
    before = snapshot(tmp_path)
    result = run_relc("validate", f"invalid/{case}.yaml", cwd=tmp_path / "cases")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"invalid/{case}.yaml:" in result.stdout or f"hostile/{case}.j2:" in result.stdout
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_secrets_are_never_printed(output_format: str) -> None:
    secret = "sk-proj-" + "EXAMPLE0" * 5
    result = run_relc("validate", "--format", output_format, "invalid/secret-in-key-field.yaml", cwd=CASES)
    assert result.returncode == 1
    assert "RELC401" in result.stdout
    assert secret[:12] not in result.stdout + result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_relc("validate", "no-such-folder", cwd=tmp_path).returncode == 2
    assert run_relc("validate", "--format", "xml", cwd=tmp_path).returncode == 2
    assert run_relc("no-such-command", cwd=tmp_path).returncode == 2
    assert run_relc(cwd=tmp_path).returncode == 2
    missing = run_relc("validate", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file or folder: releases" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_directory_option_runs_as_if_started_there(example_repo: Path, tmp_path: Path) -> None:
    result = run_relc("-C", str(example_repo), "validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert run_relc("-C", str(tmp_path / "nowhere"), "validate", cwd=tmp_path).returncode == 2


def test_help_explains_commands_formats_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for phrase in ("--format", "github", "exit status", "FILE:LINE:COL"):
        assert phrase in text
    assert run_relc("--version", cwd=CASES).stdout.startswith("relc ")


def test_validate_runs_in_process_as_a_library_call(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(CASES)
    assert main(["validate", "valid/full.yaml", "valid/minimal.yaml"]) == 0
    assert main(["validate", "valid/full.yaml", "invalid/rate-over-one.yaml"]) == 1
    assert "RELC208" in capsys.readouterr().out


def test_a_library_call_leaves_the_callers_garbage_collection_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command runs with fewer cycle collections; a caller's own setting is restored."""
    import gc

    from compiler import cli

    monkeypatch.chdir(CASES)
    during = []
    real_run = cli.importlib.import_module("compiler.commands.validate").run
    monkeypatch.setattr("compiler.commands.validate.run", lambda *a: during.append(gc.get_threshold()) or real_run(*a))
    before = gc.get_threshold()
    gc.set_threshold(123, 4, 5)
    try:
        assert main(["validate", "valid/full.yaml"]) == 0
        assert gc.get_threshold() == (123, 4, 5)
    finally:
        gc.set_threshold(*before)
    assert during and during[0][0] > 700, "the command ran with fewer collections than Python's default"


@pytest.mark.parametrize("command", [["status"], ["plan"], ["check"], ["build"], ["validate"]])
def test_every_command_reports_an_invalid_release_as_json_under_format_json(example_repo: Path, command: list[str]) -> None:
    release = example_repo / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("kind: Release", "kind: Releases"))
    result = run_relc(*command, "--format", "json", cwd=example_repo)
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert [(r["path"], r["code"]) for r in records] == [("releases/support-chat.yaml", "RELC104")]


def test_the_cli_module_only_parses_and_dispatches() -> None:
    from compiler import cli

    source = Path(cli.__file__).read_text()
    for body_marker in ("validate_paths", "render_tree", "subprocess", "write_tree", "plan_rollback"):
        assert body_marker not in source, f"cli.py should dispatch to compiler/commands/, not call {body_marker}"


def test_relc_runs_no_pydantic_plugin_installed_beside_it(example_repo: Path, tmp_path: Path) -> None:
    """A plugin would see every release relc reads; finding one costs start-up time too."""
    site = tmp_path / "site"
    (site / "spy_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "spy_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (site / "spy_plugin-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    seen = tmp_path / "seen.txt"
    (site / "spy_plugin.py").write_text(
        "class Spy:\n"
        "    def new_schema_validator(self, *arguments, **keywords):\n"
        f"        open({str(seen)!r}, 'a').write('validator\\n')\n"
        "        return None, None, None\n"
        "plugin = Spy()\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}
    environment["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [environment.get("PYTHONPATH")])])

    def python(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *arguments], cwd=example_repo, capture_output=True, text=True, timeout=120, env=environment)

    imported = python("-c", "import compiler.spec")
    assert imported.returncode == 0, imported.stderr
    assert seen.read_text().startswith("validator"), "the spy plugin is not found, so this test proves nothing"
    seen.unlink()
    result = python("-m", "compiler", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not seen.exists()
