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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: tests/ is beside benchmarks/
from tests import builder  # noqa: E402  (the tests' release builder)

TEMPLATE = """You are the assistant for team {index}. Answer using only the passages below.
{{% for passage in passages %}}
[{{{{ loop.index }}}}] {{{{ passage.title }}}}: {{{{ passage.text | truncate(800) }}}}
{{% endfor %}}
{{% if tier == "enterprise" %}}Mention the dedicated channel.{{% endif %}}
Question ({variant}): {{{{ question }}}}
"""

SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/release.schema.json\n"  # as editors want it
TRIGGERS = [
    builder.trigger("errors", "error_rate", max=0.02, window="10m", min_samples=200, action="rollback"),
    builder.trigger("latency", "latency_p95", max=1.2, relative_to_stable=True, relative_mode="ratio", window="15m",
                    min_samples=200, action="rollback"),
    builder.trigger("quality", "eval_score", min=-0.02, relative_to_stable=True, window="1d", min_samples=300, action="alert"),
    builder.trigger("escalations", "escalation_rate", max=0.08, window="1h", min_samples=100, action="alert"),
]  # fmt: skip
STEPS = [builder.canary(2, "30m"), builder.canary(10, "1h"), builder.canary(50, "2h"), builder.canary(100, "30m")]


def templates(index: int) -> dict[str, str]:
    """Release `index`'s two prompt templates, by variant: its own, so no template check is shared."""
    return {variant: TEMPLATE.format(index=index, variant=variant) for variant in ("a", "b")}


def release(index: int) -> builder.Document:
    """Release `index`: v2 stable, v3 at canary 10% (step 2), v1 previous, on all three gateways."""
    digests = {variant: hashlib.sha256(text.encode()).hexdigest() for variant, text in templates(index).items()}

    def bundle(version: str, template: str) -> builder.Document:
        model = {"provider": "vllm", "name": f"acme/model-{index}-{version}", "api_base": f"http://vllm-{index}-{version}.serving.svc:8000/v1",
                 "weights_digest": f"sha256:{index:064x}"}  # fmt: skip
        prompt = {"template": f"prompts/release-{index}/{template}.j2", "sha256": digests[template], "variables": ["passages", "question", "tier"]}
        return builder.bundle(
            version, builder.BlockMapping(model), prompt=builder.BlockMapping(prompt),
            description=f"Generated bundle {version} of release {index}.",
            retrieval={"index": f"kb-{index}", "version": "2026-11-01", "top_k": 8},
            tokenizer={"name": "o200k_base", "revision": "tiktoken-0.8.0"},
            serving={"temperature": 0.2, "max_tokens": 800, "timeout": "30s", "retries": 1},
        )  # fmt: skip

    bundles = [bundle(version, template) for version, template in (("v1", "a"), ("v2", "a"), ("v3", "b"))]
    return builder.release(
        f"release-{index}", bundles, "v2", "v3", 2, "v1", steps=STEPS, triggers=TRIGGERS, gateways=["litellm", "envoy", "kong"],
        owners=[f"@acme/team-{index}"], description=f"Generated release number {index} for the benchmark.",
    )  # fmt: skip


def release_file(document: builder.Document) -> str:
    return SCHEMA_LINE + builder.dump(document)


def generate(root: Path, count: int) -> None:
    (root / "releases").mkdir(parents=True)
    (root / "schemas").mkdir()
    shutil.copy(ROOT / "schemas" / "release.schema.json", root / "schemas")
    for index in range(count):
        folder = root / "prompts" / f"release-{index}"
        folder.mkdir(parents=True)
        for variant, text in templates(index).items():
            (folder / f"{variant}.j2").write_text(text)
        (root / "releases" / f"release-{index}.yaml").write_text(release_file(release(index)))


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
