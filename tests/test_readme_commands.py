"""Every concrete `relc` command in the README runs as written, on a clone of the shipped
repository (a command with a placeholder such as NAME or REV, or a server to talk to,
is a synopsis, not an example)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from tests.conftest import REPO, run_relc

_PLACEHOLDER = re.compile(r"\b[A-Z]{2,}\b|\[|\.\.\.|<|http://")
_SKIPPED = ("relc watch", "relc evaluate")  # long-running, or a metrics server to talk to


def readme_commands() -> list[str]:
    commands, in_block = [], False
    for line in (REPO / "README.md").read_text().splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
            continue
        text = line.strip().removeprefix("$ ").split("  #")[0].strip()
        if in_block and text.startswith("relc ") and not _PLACEHOLDER.search(text) and not text.startswith(_SKIPPED):
            commands.append(text)
    return commands


def test_the_readme_has_examples_to_run() -> None:
    commands = readme_commands()
    assert any(c.startswith("relc rollback support-chat") for c in commands), commands
    assert "relc drill support-chat" in commands


def test_every_readme_command_runs_as_written_on_the_shipped_repository(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for key, value in (("user.name", "README reader"), ("user.email", "reader@example.com")):
        subprocess.run(["git", "-C", str(clone), "config", key, value], check=True)
    shipped = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    # What scripts/run-examples runs, then each example, each on the repository as shipped.
    for command in ["relc validate releases/", "relc build", "relc check", "relc plan", *readme_commands()]:
        subprocess.run(["git", "-C", str(clone), "reset", "-q", "--hard", shipped], check=True)
        result = run_relc(*shlex.split(command)[1:], cwd=clone)
        assert result.returncode == 0, f"`{command}` failed:\n{result.stdout}\n{result.stderr}"
