"""Shared fixtures: the repository's own files, case folders, and a real `relc` process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the repository's releases, prompts, schemas and metric sources in a temporary folder."""
    for folder in ("releases", "prompts", "schemas", "metrics"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    shutil.copy(REPO / "relc.yaml", tmp_path / "relc.yaml")
    return tmp_path


def run_relc(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m compiler` as users do, in a separate process."""
    environment = {key: value for key, value in os.environ.items() if key != "RELC_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "compiler", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under `folder`, to prove a command wrote nothing."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
