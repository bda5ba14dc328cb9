"""Benchmark: relc's commands on generated repositories of 10 to 10,000 releases, against a floor.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/compile_scale.py [--sizes 10,100,1000] [--with-10000] [--runs 3] [--json]

Each repository is made with `benchmarks/scale.py`'s releases (about 70 lines, three
self-hosted bundles, two prompt templates of their own, all three gateways, every one in
a rollout) and a Git history written with git fast-import: one commit with every release,
then ten commits a release (at most 10,000) that each move one release's rollout step and
owners, then rendered/ built and committed. Every figure is the median of `--runs` runs
of the real CLI in a fresh process: validate, build, check (cold, warm, one release
touched), plan, `check --base`, rollback (warm and cold), status, one tick of `relc watch` and a later
tick of a running one. Beside it is a floor measured in the same run: reading the same
release files and parsing them with PyYAML's C `CSafeLoader`, plus, for build, writing
the same rendered bytes as relc must (a temporary file, fsync, rename; a second row
also parses every prompt template with Jinja, which relc's checks must), and for check
and plan, reading rendered/ and comparing it; for a run on one file, a fresh Python
process importing the libraries that run must load (pydantic's models and ruamel's
parser, Jinja when templates are analysed; nothing for a cached answer); for a later
tick of the watcher, reading the release files. The ratio is relc over that floor. relc
runs with its modules compiled to bytecode, as installed (PYTHONDONTWRITEBYTECODE is dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402  (the release generator, beside this file)

RELC = [sys.executable, "-m", "compiler"]
HERE = Path(__file__).resolve().parent.parent
# relc as a user's machine runs it: its modules compiled to bytecode once, not on every run
# (PYTHONDONTWRITEBYTECODE, set on some CI machines, would time the compiler instead).
RELC_ENVIRONMENT = {**{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
                    "PYTHONPATH": str(HERE)}  # fmt: skip


def _run_measured(command: list[str], cwd: Path, allowed: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one command in a fresh process."""
    seconds, peak_mb, _ = _run_with_output(command, cwd, allowed)
    return seconds, peak_mb


def _run_with_output(command: list[str], cwd: Path, allowed: tuple[int, ...] = (0,)) -> tuple[float, float, bytes]:
    """`_run_measured`, and the command's standard output.

    The peak comes from GNU time, which starts the command from its own small process:
    a child forked from this one would count this process's memory as its own."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        completed = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *command], cwd=cwd, capture_output=True,
                                   env={**RELC_ENVIRONMENT, "CI": "true"})  # fmt: skip
        seconds = time.perf_counter() - start
        peak_kb = int(report.read().split()[-1])
    if completed.returncode not in allowed:
        output = completed.stdout.decode(errors="replace")[-1000:] + completed.stderr.decode(errors="replace")[-2000:]
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}):\n{output}")
    return seconds, peak_kb / 1024, completed.stdout


def _log_time(event: dict[str, str]) -> float:
    """A watch log line's time (`2026-12-07T16:17:12.834Z`), in seconds."""
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def _git(root: Path, *arguments: str, input: bytes | None = None) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@example.com",
                   "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "b@example.com"}  # fmt: skip
    return subprocess.run(["git", *arguments], cwd=root, input=input, capture_output=True, check=True, env=environment).stdout.decode()


def _history(root: Path, releases: int) -> int:
    """Rewrite what `scale.generate` wrote as history: one commit with everything, then
    ten commits a release (at most 10,000), each moving one release's step and owners."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    clock = 1_700_000_000
    parts = [f"commit refs/heads/main\ncommitter Bench <b@example.com> {clock} +0000\ndata 14\nAdd releases.\n".encode()]
    for path in files:
        content = path.read_bytes()
        parts.append(f"M 100644 inline {path.relative_to(root).as_posix()}\ndata {len(content)}\n".encode() + content + b"\n")
    commits = min(10 * releases, 10_000)
    for number in range(commits):
        index = number % releases
        step = (number // releases) % 4 + 1
        document = scale.release(index)
        document["rollout"]["step"] = step
        document["owners"].append(f"@acme/on-call-{number % 7}")
        content = scale.release_file(document).encode()
        message = f"Move release-{index} to step {step}".encode()
        parts.append(
            f"commit refs/heads/main\ncommitter Bench <b@example.com> {clock + 60 * (number + 1)} +0000\n"
            f"data {len(message)}\n".encode() + message + b"\n"
            + f"M 100644 inline releases/release-{index}.yaml\ndata {len(content)}\n".encode() + content + b"\n"
        )  # fmt: skip
    for path in files:
        path.unlink()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "fast-import", "--quiet", input=b"".join(parts))
    _git(root, "checkout", "-q", "main")
    return commits + 1


def make_repository(root: Path, releases: int) -> int:
    scale.generate(root, releases)
    commits = _history(root, releases)
    subprocess.run([*RELC, "build", "--no-cache"], cwd=root, check=True, capture_output=True,
                   env=RELC_ENVIRONMENT)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "Render")
    _clear_cache(root)
    return commits + 1


def _clear_cache(root: Path) -> None:
    shutil.rmtree(root / ".git" / "relc-cache", ignore_errors=True)


# Floors: what any tool must do for the same job, measured in the same run.


def _parse_all(root: Path) -> None:
    import yaml

    for path in sorted((root / "releases").glob("*.yaml")):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)


def _rendered(root: Path) -> dict[str, bytes]:
    folder = root / "rendered"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _floor_build(root: Path, rendered: dict[str, bytes]) -> Callable[[], None]:
    def floor() -> None:
        _parse_all(root)
        with tempfile.TemporaryDirectory(dir=root) as folder:
            for path, content in rendered.items():
                target = Path(folder) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.tmp")
                with open(temporary, "wb") as stream:
                    stream.write(content)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temporary, target)

    return floor


def _parse_templates(root: Path) -> None:
    """Parse every prompt template with Jinja, as any tool that checks them must."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment()
    for path in sorted((root / "prompts").rglob("*.j2")):
        environment.parse(path.read_text())


def _floor_build_with_templates(root: Path, rendered: dict[str, bytes]) -> Callable[[], None]:
    """The build floor plus parsing the templates: each release has two of its own, and
    Jinja's parse of them alone costs about what the C parser's read of the releases does."""
    build = _floor_build(root, rendered)

    def floor() -> None:
        build()
        _parse_templates(root)

    return floor


# What checking one file cannot do without, in a fresh process: pydantic's model machinery
# (and the plugin loader it imports to build a model), ruamel's C parser; Jinja where a
# template is analysed afresh.
CHECKING_LIBRARIES = "from pydantic import BaseModel; import pydantic.plugin._loader, ruamel.yaml.cyaml"


def _floor_start(code: str) -> Callable[[], None]:
    """A fresh Python process running `code` (the libraries a one-file run must import)."""
    return lambda: subprocess.run([sys.executable, "-c", code], check=True, env=RELC_ENVIRONMENT)


def _floor_compare(root: Path, rendered: dict[str, bytes]) -> Callable[[], None]:
    def floor() -> None:
        _parse_all(root)
        on_disk = _rendered(root)
        assert on_disk.keys() == rendered.keys() and all(on_disk[p] == rendered[p] for p in rendered)

    return floor


def _timed(function: Callable[[], None]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


class Touch:
    """Edits one release so its bytes are new on every run (a cache miss), then restores it."""

    def __init__(self, root: Path, index: int) -> None:
        self.path = root / "releases" / f"release-{index}.yaml"
        self.original = self.path.read_text()
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        self.path.write_text(self.original.replace("min_samples: 200, action: rollback}", f"min_samples: {300 + self.count}, action: rollback}}", 1))

    def restore(self) -> None:
        self.path.write_text(self.original)


def measure(root: Path, releases: int, runs: int) -> list[dict[str, object]]:
    rendered = _rendered(root)
    parse_floor = lambda: _parse_all(root)  # noqa: E731
    compare_floor = _floor_compare(root, rendered)
    rows: list[dict[str, object]] = []

    def row(command: str, run: Callable[[], tuple[float, float]], floor: Callable[[], None], before: Callable[[], None] = lambda: None) -> None:
        seconds, peaks, floors = [], [], []
        for _ in range(runs):
            before()
            took, peak = run()
            seconds.append(took)
            peaks.append(peak)
            floors.append(_timed(floor))
        rows.append({"releases": releases, "command": command, "seconds": round(statistics.median(seconds), 4),
                     "floor_seconds": round(statistics.median(floors), 4), "peak_mb": round(max(peaks), 1)})  # fmt: skip
        print(f"  {releases:>6} {command:<34} {rows[-1]['seconds']:>8.3f} s", file=sys.stderr)

    def relc(*arguments: str, allowed: tuple[int, ...] = (0,)) -> Callable[[], tuple[float, float]]:
        return lambda: _run_measured([*RELC, *arguments], root, allowed)

    def cold() -> None:
        _clear_cache(root)

    def cold_build() -> None:
        _clear_cache(root)
        shutil.rmtree(root / "rendered", ignore_errors=True)

    one = "releases/release-1.yaml"
    row("validate one file, no cache", relc("validate", "--no-cache", one), _floor_start(CHECKING_LIBRARIES + "; import jinja2.sandbox"))
    row("validate (cold)", relc("validate"), parse_floor, cold)
    row("validate (warm)", relc("validate"), parse_floor)
    row("validate one file (cached: start-up)", relc("validate", one), _floor_start("pass"))
    row("build (cold)", relc("build"), _floor_build(root, rendered), cold_build)
    row("build (cold), floor parses templates too", relc("build"), _floor_build_with_templates(root, rendered), cold_build)
    row("build (warm, nothing changed)", relc("build"), compare_floor)
    row("check (cold)", relc("check"), compare_floor, cold)
    row("check (warm)", relc("check"), compare_floor)
    touch, other = Touch(root, 0), Touch(root, 1)

    def touched() -> None:
        touch()
        subprocess.run([*RELC, "build", "--no-cache"], cwd=root, check=True, capture_output=True,
                       env=RELC_ENVIRONMENT)

    row("check (one release touched)", relc("check"), compare_floor, touched)
    row("validate the touched file", relc("validate", one), _floor_start(CHECKING_LIBRARIES), other)
    touch.restore()
    other.restore()
    subprocess.run([*RELC, "build"], cwd=root, check=True, capture_output=True, env=RELC_ENVIRONMENT)
    row("plan", relc("plan"), compare_floor)
    row("check --base HEAD (cold)", relc("check", "--base", "HEAD"), compare_floor, cold)
    row("check --base HEAD (warm)", relc("check", "--base", "HEAD"), compare_floor)
    row("rollback --dry-run", relc("rollback", "release-0", "--dry-run"), parse_floor)
    # A person's first rollback in a fresh clone during an incident: nothing cached yet.
    row("rollback --dry-run (cold)", relc("rollback", "release-0", "--dry-run"), parse_floor, cold)
    # Every release is in a rollout: each one's step start is read from history (warm: the
    # cache remembers it by commit, as a second look during an incident finds it).
    row("status (cold)", relc("status"), parse_floor, cold)
    row("status (warm)", relc("status"), parse_floor)
    # One tick of `relc watch` with a source that has no metrics (each release holds): every
    # release in rollout is evaluated and its hold timed, at a commit already read (the
    # steady state). There is no remote to fetch from.
    no_metrics = root / ".git" / "no-metrics.json"
    no_metrics.write_text('{"metrics": []}')
    watch = ("watch", "--no-deploy", "--metrics", str(no_metrics), "--interval", "1")
    row("watch, one tick", relc(*watch, "--ticks", "1"), parse_floor)

    # A long-running watcher's next tick at the same commit, timed from its log: a tick
    # begins by fetching (here from no remote, logged `fetch_failed`) and the watcher logs
    # `stopped` once the last one ends. The floor reads every release file (what telling
    # that none changed takes).
    def later_tick() -> tuple[float, float]:
        _, peak, output = _run_with_output([*RELC, *watch, "--ticks", "2"], root)
        events = [json.loads(line) for line in output.decode().splitlines()]
        starts = [_log_time(event) for event in events if event["event"] == "fetch_failed"]
        ends = [_log_time(event) for event in events if event["event"] == "stopped"]
        assert len(starts) == 2 and len(ends) == 1, "each tick should begin with a failed fetch (no remote)"
        return ends[0] - starts[1], peak

    row("watch, a later tick", later_tick, lambda: [path.read_bytes() for path in sorted((root / "releases").glob("*.yaml"))])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="release counts, comma-separated (default 10,100,1000)")
    parser.add_argument("--with-10000", action="store_true", help="also 10,000 releases (about ten minutes more)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown (default 3)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON objects, one list")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",") if size]
    if arguments.with_10000 and 10_000 not in sizes:
        sizes.append(10_000)
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            start = time.perf_counter()
            commits = make_repository(root, size)
            print(f"{size} releases, {commits} commits: made in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            rows += measure(root, size, arguments.runs if size < 10_000 else max(1, min(arguments.runs, 2)))
    if arguments.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'releases':>8}  {'command':<34} {'seconds':>8} {'floor s':>8} {'ratio':>6} {'peak MB':>8}")
    for row in rows:
        ratio = f"{row['seconds'] / row['floor_seconds']:.1f}" if row["floor_seconds"] > 0.0005 else "-"  # type: ignore[operator]
        print(f"{row['releases']:>8}  {row['command']:<34} {row['seconds']:>8.3f} {row['floor_seconds']:>8.3f} {ratio:>6} {row['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
