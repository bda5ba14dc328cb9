"""Long runs show a progress bar on a terminal, and nothing when piped or in CI."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CASES


def _repository(root: Path, count: int) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "basic.j2").write_bytes((CASES / "prompts" / "basic.j2").read_bytes())
    (root / "releases").mkdir()
    text = (CASES / "valid" / "minimal.yaml").read_text()
    for index in range(count):
        (root / "releases" / f"r{index}.yaml").write_text(text.replace("minimal", f"r{index}"))
    return root


def _stderr_of_build(root: Path, terminal: bool, ci: str | None) -> str:
    """`relc build --no-cache` (so every release is checked), with stderr on a pseudo-terminal or a pipe."""
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "RELC_DEBUG")}
    environment["TERM"] = "xterm"
    if ci is not None:
        environment["CI"] = ci
    command = [sys.executable, "-m", "compiler", "build", "--no-cache"]
    if not terminal:
        completed = subprocess.run(command, cwd=root, capture_output=True, env=environment, timeout=300)
        assert completed.returncode == 0, completed.stderr
        return completed.stderr.decode()
    controller, terminal_end = pty.openpty()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=terminal_end, env=environment)
    os.close(terminal_end)
    shown = _read_until_closed(controller)
    assert process.wait(timeout=300) == 0
    return shown.decode(errors="replace")


def _read_until_closed(controller: int) -> bytes:
    """All a pseudo-terminal's other end wrote, until the process on it is done."""
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the other end closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repository(tmp_path_factory.mktemp("many"), 400)


def test_a_long_build_shows_a_bar_on_a_terminal(many: Path) -> None:
    shown = _stderr_of_build(many, terminal=True, ci=None)
    assert "checking releases" in shown and "release/s" in shown


@pytest.mark.parametrize(("terminal", "ci"), [(False, None), (True, "true")], ids=["piped", "ci"])
def test_no_bar_when_piped_or_in_ci(many: Path, terminal: bool, ci: str | None) -> None:
    shown = _stderr_of_build(many, terminal=terminal, ci=ci)
    assert "checking releases" not in shown and "%|" not in shown
    assert "400 written" in shown or "unchanged" in shown


def test_tqdm_is_not_imported_when_no_bar_is_shown(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom compiler.progress import progress\n"
        "with progress(1000, 'x', 'y') as advance:\n    advance(1000)\nprint('tqdm' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})  # fmt: skip
    assert completed.stdout.strip() == "False", completed.stderr


def test_a_bar_leaves_no_thread_so_workers_still_fork(tmp_path: Path) -> None:
    """tqdm's monitor thread would outlive the bar, and relc forks no workers beside
    another thread: a run watched on a terminal would then use one core."""
    code = (
        "import threading\nfrom compiler.parallel import can_fork\nfrom compiler.progress import progress\n"
        "with progress(1000, 'counting', 'y') as advance:\n    advance(500)\n    print(threading.active_count(), can_fork())\n"
        "print(threading.active_count(), can_fork())\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    environment.update(TERM="xterm", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    controller, terminal_end = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=terminal_end,
                               env=environment, text=True)  # fmt: skip
    os.close(terminal_end)
    shown = _read_until_closed(controller)
    out, _ = process.communicate(timeout=60)
    assert b"counting" in shown, "a bar was shown"
    assert out.split("\n")[:2] == ["1 True", "1 True"], out
