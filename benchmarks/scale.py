"""Benchmark: `relc validate` and `relc build` on many generated releases, and start-up.

Run on demand (not part of the test suite):  .venv/bin/python benchmarks/scale.py [--releases 1000]
Each generated release is a realistic ~70-line file with three self-hosted bundles,
four steps, four triggers, all three gateways and two prompt templates of its own, so
no template check is shared.
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

TEMPLATE = """You are the assistant for team {index}. Answer using only the passages below.
{{% for passage in passages %}}
[{{{{ loop.index }}}}] {{{{ passage.title }}}}: {{{{ passage.text | truncate(800) }}}}
{{% endfor %}}
{{% if tier == "enterprise" %}}Mention the dedicated channel.{{% endif %}}
Question ({variant}): {{{{ question }}}}
"""

BUNDLE = """  - version: {version}
    description: Generated bundle {version} of release {index}.
    model:
      provider: vllm
      name: acme/model-{index}-{version}
      api_base: http://vllm-{index}-{version}.serving.svc:8000/v1
      weights_digest: sha256:{digest}
    prompt:
      template: prompts/release-{index}/{template}.j2
      sha256: {sha}
      variables: [passages, question, tier]
    retrieval: {{index: kb-{index}, version: "2026-11-01", top_k: 8}}
    tokenizer: {{name: o200k_base, revision: tiktoken-0.8.0}}
    serving: {{temperature: 0.2, max_tokens: 800, timeout: 30s, retries: 1}}
"""

RELEASE = """# yaml-language-server: $schema=../schemas/release.schema.json
apiVersion: relc/v1
kind: Release
name: release-{index}
description: Generated release number {index} for the benchmark.
owners: ["@acme/team-{index}"]
route:
  model: release-{index}
  gateways: [litellm, envoy, kong]
bundles:
{bundles}rollout:
  stable: v2
  candidate: v3
  previous: v1
  step: 2
  steps:
    - {{canary: 2, hold: 30m}}
    - {{canary: 10, hold: 1h}}
    - {{canary: 50, hold: 2h}}
    - {{canary: 100, hold: 30m}}
triggers:
  - {{name: errors, metric: error_rate, max: 0.02, window: 10m, min_samples: 200, action: rollback}}
  - {{name: latency, metric: latency_p95, max: 1.2, relative_to_stable: true, relative_mode: ratio, window: 15m, min_samples: 200, action: rollback}}
  - {{name: quality, metric: eval_score, min: -0.02, relative_to_stable: true, window: 1d, min_samples: 300, action: alert}}
  - {{name: escalations, metric: escalation_rate, max: 0.08, window: 1h, min_samples: 100, action: alert}}
"""


def generate(root: Path, count: int) -> None:
    (root / "releases").mkdir(parents=True)
    (root / "schemas").mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "schemas" / "release.schema.json", root / "schemas")
    for index in range(count):
        folder = root / "prompts" / f"release-{index}"
        folder.mkdir(parents=True)
        digests = {}
        for variant in ("a", "b"):
            text = TEMPLATE.format(index=index, variant=variant)
            (folder / f"{variant}.j2").write_text(text)
            digests[variant] = hashlib.sha256(text.encode()).hexdigest()
        bundles = "".join(
            BUNDLE.format(version=version, index=index, template=template, sha=digests[template], digest=f"{index:064x}")
            for version, template in (("v1", "a"), ("v2", "a"), ("v3", "b"))
        )
        (root / "releases" / f"release-{index}.yaml").write_text(RELEASE.format(index=index, bundles=bundles))


def timed(command: list[str], cwd: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if completed.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    relc = [sys.executable, "-m", "compiler"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate(root, arguments.releases)
        lines = sum(len(p.read_text().splitlines()) for p in (root / "releases").glob("*.yaml"))
        many = timed([*relc, "validate", "releases"], root, arguments.runs)
        build = timed([*relc, "build"], root, 1) + timed([*relc, "check"], root, arguments.runs - 1)
        one = timed([*relc, "validate", "releases/release-0.yaml"], root, arguments.runs * 2)
        rendered = sum(p.stat().st_size for p in (root / "rendered").rglob("*") if p.is_file())
    print(f"relc validate, {arguments.releases} releases ({lines} lines, {2 * arguments.releases} templates): "
          f"median {statistics.median(many):.2f} s, best {min(many):.2f} s over {arguments.runs} runs")  # fmt: skip
    print(f"relc build (first run) then relc check, {arguments.releases} releases, three gateways "
          f"({rendered / 1e6:.1f} MB rendered): build {build[0]:.2f} s, check median {statistics.median(build[1:]):.2f} s")  # fmt: skip
    print(f"relc validate, one release (start-up included): median {statistics.median(one) * 1000:.0f} ms, "
          f"best {min(one) * 1000:.0f} ms over {arguments.runs * 2} runs")  # fmt: skip


if __name__ == "__main__":
    main()
