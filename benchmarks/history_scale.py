"""Benchmark: `relc check --base` on a release file with a long history.

Run on demand:  .venv/bin/python benchmarks/history_scale.py [--commits 10000]
Builds a repository with git fast-import where every commit changes the release file
(rollout steps, owners, and a new bundle every 50 commits), then times the check.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: tests/ is beside benchmarks/
from tests import builder  # noqa: E402  (the tests' release builder)

TEMPLATE = (ROOT / "tests" / "cases" / builder.BASIC_TEMPLATE).read_bytes()  # what the bundles pin


def release(commit: int) -> bytes:
    """The release file at `commit`: a bundle more every 50 commits, step and owners cycling."""
    return _release(commit // 50, commit % 14)


@functools.cache  # the file repeats with period 14 within each 50 commits: serialize each once
def _release(window: int, phase: int) -> bytes:
    versions = [f"v{n}" for n in range(1, window + 3)]
    bundles = [builder.hosted_bundle(version) for version in versions[-20:]]  # older bundles are retired from the file
    document = builder.release("chat", bundles, versions[-2], versions[-1], 1 + phase % 2, owners=[f"team-{phase % 7}"])
    return builder.dump(document).encode()


def fast_import_stream(commits: int) -> bytes:
    parts = []
    for number in range(commits):
        content = release(number)
        files = f"M 100644 inline releases/chat.yaml\ndata {len(content)}\n".encode() + content + b"\n"
        if number == 0:
            files += f"M 100644 inline prompts/basic.j2\ndata {len(TEMPLATE)}\n".encode() + TEMPLATE + b"\n"
        message = f"Change {number}".encode()
        header = f"commit refs/heads/main\ncommitter Bench <b@example.com> {1_700_000_000 + number * 60} +0000\n"
        parts.append(header.encode() + f"data {len(message)}\n".encode() + message + b"\n" + files + b"\n")
    return b"".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
        subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=fast_import_stream(arguments.commits), check=True)
        subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
        (root / "schemas").mkdir()
        shutil.copy(ROOT / "schemas" / "release.schema.json", root / "schemas")
        relc = [sys.executable, "-m", "compiler"]
        subprocess.run([*relc, "build"], cwd=root, check=True, capture_output=True)
        times = []
        for _ in range(arguments.runs):
            start = time.perf_counter()
            completed = subprocess.run([*relc, "check", "--base", "HEAD"], cwd=root, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if completed.returncode != 0:
                sys.exit(completed.stdout + completed.stderr)
    print(f"relc check --base HEAD, {arguments.commits} commits on the release file: "
          f"median {statistics.median(times):.2f} s, best {min(times):.2f} s over {arguments.runs} runs")  # fmt: skip


if __name__ == "__main__":
    main()
