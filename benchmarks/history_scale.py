"""Benchmark: `relc check --base` on a release file with a long history.

Run on demand:  .venv/bin/python benchmarks/history_scale.py [--commits 10000]
Builds a repository with git fast-import where every commit changes the release file
(rollout steps, owners, and a new bundle every 50 commits), then times the check.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "tests" / "cases" / "prompts" / "basic.j2").read_bytes()
SHA = hashlib.sha256(TEMPLATE).hexdigest()


def release(commit: int) -> bytes:
    count = 2 + commit // 50
    versions = [f"v{n}" for n in range(1, count + 1)]
    bundles = "".join(
        f"""  - version: {version}
    model: {{provider: openai, name: model-{version}, api_key_env: OPENAI_API_KEY}}
    prompt: {{template: prompts/basic.j2, sha256: {SHA}, variables: [question]}}
    tokenizer: {{name: o200k_base, revision: "1"}}
    serving: {{temperature: 0.2, max_tokens: 64, timeout: 10s}}
"""
        for version in versions[-20:]  # older bundles are retired from the file
    )
    return f"""apiVersion: relc/v1
kind: Release
name: chat
owners: [team-{commit % 7}]
route: {{model: chat, gateways: [litellm]}}
bundles:
{bundles}rollout:
  stable: {versions[-2]}
  candidate: {versions[-1]}
  step: {1 + commit % 2}
  steps:
    - {{canary: 10, hold: 1h}}
    - {{canary: 50, hold: 1h}}
""".encode()


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
