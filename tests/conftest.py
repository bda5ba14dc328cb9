"""Shared fixtures: the repository's own files, case folders, and a real `relc` process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from tests.support import Repository, Upstream

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Outside a repository relc caches in $XDG_CACHE_HOME/relc: keep the tests' own."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the repository's releases, prompts, schemas and metric sources in a temporary folder."""
    for folder in ("releases", "prompts", "schemas", "metrics"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    shutil.copy(REPO / "relc.yaml", tmp_path / "relc.yaml")
    return tmp_path


@pytest.fixture
def servers() -> "Iterator[dict[str, Upstream]]":
    """Bundles v1 and v2 served on 127.0.0.1, each answering with its name (or 500 when told to fail)."""
    from tests.support import upstreams

    yield from upstreams("v1", "v2")


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


CHAT_TRIGGERS = """triggers:
  - {name: errors, metric: error_rate, max: 0.05, window: 10m, min_samples: 100, action: rollback}
  - {name: thumbs, metric: thumbs_down_rate, max: 0.1, window: 1d, min_samples: 50, action: alert}
"""


@pytest.fixture
def chat_in_rollout(tmp_path: Path) -> "Repository":
    """A real repository: chat v2 published, then rolled out to step 1, with a rollback
    trigger on errors and an alert trigger on thumbs-down."""
    from tests.support import Repository, release_text

    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1") + CHAT_TRIGGERS)
    repository.commit("Publish chat v2")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + CHAT_TRIGGERS)
    repository.commit("Start rollout of chat v2")
    return repository
