"""The GitHub Actions files: linted by actionlint, hardened, and their `run:` steps
executed as written on real repositories with a base and a head commit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.support import Repository, release_text, require_binary, rollout_on_a_branch

pytestmark = pytest.mark.live

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_actionlint_finds_nothing_in_the_workflows_and_the_action() -> None:
    """actionlint checks action.yml through validate.yml's `uses: ./`; shellcheck runs on every script."""
    require_binary("shellcheck")
    actionlint = Path(sys.executable).parent / "actionlint"
    result = subprocess.run([str(actionlint), "-color=false"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = _load(REPO / ".github/workflows/validate.yml")["jobs"]["check"]["steps"]
    base_checkout = next(step for step in steps if step.get("with", {}).get("path") == ".relc-base")
    assert base_checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}", "the gate runs the base's relc"
    assert any(step.get("uses") == "./.relc-base" for step in steps)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_are_hardened(path: Path) -> None:
    workflow = _load(path)
    triggers = workflow.get(True, workflow.get("on"))  # PyYAML reads the key `on` as True
    assert "pull_request_target" not in triggers
    assert workflow["permissions"] == {}, "no token permissions unless a job asks for them"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job and "timeout-minutes" in job, name
        for step in job["steps"]:
            if "uses" in step:
                assert step["uses"] == "./.relc-base" or PINNED.match(step["uses"]), f"{step['uses']} is not pinned by commit"
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
            assert "${{" not in step.get("run", ""), f"{name}: pass expressions through env:, not into run:"


def test_the_action_passes_inputs_through_env_and_pins_its_actions() -> None:
    for step in ACTION["runs"]["steps"]:
        if "uses" in step:
            assert PINNED.match(step["uses"])
        else:
            assert step["shell"] == "bash" and "${{" not in step["run"]


def _expressions(values: dict[str, str]) -> Any:
    def substitute(text: str) -> str:
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda match: values[match.group(1)], text)

    return substitute


def run_step(
    step: dict[str, Any], cwd: Path, values: dict[str, str], summary: Path, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one `run:` step as the runner would: its env, PATH with relc, the files a runner
    provides ($GITHUB_STEP_SUMMARY, $GITHUB_ENV, $GITHUB_OUTPUT), and the runner's bash
    flags (`shell: bash` adds pipefail; a workflow step without `shell:` runs `bash -e`)."""
    substitute = _expressions(values)
    variables = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary),
                 "GITHUB_ENV": str(summary.with_name("env")), "GITHUB_OUTPUT": str(summary.with_name("output"))}  # fmt: skip
    variables.update(environment or {})
    variables.update({key: substitute(str(value)) for key, value in step.get("env", {}).items()})
    folder = cwd / substitute(step.get("working-directory", "."))
    flags = ["-eo", "pipefail"] if step.get("shell") == "bash" else ["-e"]
    return subprocess.run(["bash", *flags, "-c", step["run"]], cwd=folder, env=variables,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def run_steps(steps: list[dict[str, Any]], cwd: Path, values: dict[str, str], work: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run steps in order, carrying what each writes to $GITHUB_ENV into the next, as a runner does."""
    summary = work / "summary.md"
    results, environment = [], {}
    for step in steps:
        results.append(run_step(step, cwd, values, summary, environment))
        env_file = summary.with_name("env")
        if env_file.exists():
            environment.update(dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line))
    return results


def _outputs(work: Path) -> dict[str, str]:
    output = work / "output"
    return dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}


def _action_step(step_id: str) -> dict[str, Any]:
    return next(step for step in ACTION["runs"]["steps"] if step.get("id") == step_id)


@pytest.fixture
def pull_request(tmp_path: Path) -> Repository:
    """main has chat v1 stable and v2 at canary 10%; the PR branch starts from it."""
    return rollout_on_a_branch(tmp_path / "repo", "pr")


def _run_action(repository: Repository, base: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str], str]:
    values = {"inputs.base": base, "inputs.path": ".", "github.action_path": str(REPO)}
    summary = tmp_path / "summary.md"
    summary.write_text("")
    check = run_step(_action_step("check"), repository.root, values, summary)
    plan = run_step(_action_step("plan"), repository.root, values, summary)
    return check, plan, summary.read_text()


def test_the_action_drills_every_release_in_rollout(pull_request: Repository, tmp_path: Path) -> None:
    pull_request.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    pull_request.commit("Promote chat v2 to 50%")
    values = {"inputs.path": ".", "github.action_path": str(REPO)}
    drill = run_step(_action_step("drill"), pull_request.root, values, tmp_path / "summary.md")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "::error" not in drill.stdout
    pull_request.write("chat", pull_request.read("chat").replace("  step: 2\n", "  step: 2\n  # frozen\n"))
    pull_request.commit("Note a freeze on the rollout lines")
    drill = run_step(_action_step("drill"), pull_request.root, values, tmp_path / "summary.md")
    assert drill.returncode == 1 and "::error title=relc drill chat%3A the rollback would fail::" in drill.stdout


def test_the_action_keeps_the_folder_relc_caches_in(pull_request: Repository, tmp_path: Path) -> None:
    """actions/cache saves and restores the very folder relc reads its cache from."""
    from compiler.cache import cache_folder

    values = {"inputs.path": ".", "inputs.cache": "true"}
    found = run_step(_action_step("cache-folder"), pull_request.root, values, tmp_path / "summary.md")
    assert found.returncode == 0, found.stderr
    assert Path(_outputs(tmp_path)["path"]) == cache_folder(pull_request.root)
    assert _action_step("cache")["with"]["path"] == _action_step("cache-save")["with"]["path"] == "${{ steps.cache-folder.outputs.path }}"
    assert _action_step("cache")["if"] == _action_step("cache-folder")["if"] == "${{ inputs.cache == 'true' }}"
    # Saved last (with what drill and plan remembered too), even when the check fails (a
    # refused pull request is pushed again), under the key restored with.
    steps = [step.get("id") for step in ACTION["runs"]["steps"]]
    assert steps.index("cache") < steps.index("check") < steps.index("cache-save") == len(steps) - 1
    assert _action_step("cache-save")["if"] == "${{ !cancelled() && inputs.cache == 'true' }}"
    assert _action_step("cache-save")["with"]["key"] == _action_step("cache")["with"]["key"]
    assert ACTION["inputs"]["cache"]["default"] == "false", "opt-in: what can write the cache decides what the gate trusts"


def test_a_good_pull_request_passes_with_the_plan_in_the_summary(pull_request: Repository, tmp_path: Path) -> None:
    base = pull_request.git("rev-parse", "main")
    pull_request.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    pull_request.commit("Promote chat v2 to 50%")
    check, plan, summary = _run_action(pull_request, base, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "::error" not in check.stdout
    assert plan.returncode == 0, plan.stderr
    assert summary.startswith("## relc plan\n\n1 of 1 release(s) change traffic.")
    assert "| `v2` | candidate | 10% | 50% |  |" in summary


def test_a_bundle_changed_in_place_fails_with_an_annotation_on_its_line(pull_request: Repository, tmp_path: Path) -> None:
    base = pull_request.git("rev-parse", "main")
    text = release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, temperature={"v2": 0.7})
    pull_request.write("chat", text)
    pull_request.commit("Tweak v2 in place")
    check, _, _ = _run_action(pull_request, base, tmp_path)
    assert check.returncode == 1
    line = text.splitlines().index("  - version: v2") + 1
    assert f"::error file=releases/chat.yaml,line={line},col=14,title=RELC701::bundle `v2` was published" in check.stdout


def test_an_invalid_release_and_a_stale_render_are_annotated(pull_request: Repository, tmp_path: Path) -> None:
    base = pull_request.git("rev-parse", "main")
    text = release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1).replace("canary: 50", "canary: 150")
    pull_request.write("chat", text)
    pull_request.commit("Typo", build=False)
    check, _, _ = _run_action(pull_request, base, tmp_path)
    assert check.returncode == 1
    line = text.splitlines().index("    - {canary: 150, hold: 1h}") + 1
    assert f"::error file=releases/chat.yaml,line={line},col=16,title=RELC105::rollout.steps[1].canary must be between 0 and 100, got 150" in check.stdout
    pull_request.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    pull_request.commit("Promote, without relc build", build=False)
    check, _, _ = _run_action(pull_request, base, tmp_path)
    assert check.returncode == 1 and "::error file=rendered/bundles/chat.json,line=1,col=1,title=RELC601::" in check.stdout


def _rollback_steps(*ids: str) -> list[dict[str, Any]]:
    job = _load(REPO / ".github/workflows/rollback.yml")["jobs"]["evaluate"]
    steps = {step["id"]: step for step in job["steps"] if "id" in step}
    return [steps[step_id] for step_id in ids]


def test_the_manual_rollback_commits_a_revert_and_bundles_it_for_delivery(pull_request: Repository, tmp_path: Path) -> None:
    start = pull_request.head()
    values = {"inputs.release": "chat", "inputs.reason": "support tickets doubled"}
    results = run_steps(_rollback_steps("identity", "manual", "bundle"), pull_request.root, values, tmp_path)
    assert [result.returncode for result in results] == [0, 0, 0], [r.stderr for r in results]
    message = pull_request.git("log", "-1", "--format=%B")
    assert message.startswith('Revert "Start rollout of chat v2"') and "Relc-Reason: support tickets doubled" in message
    assert pull_request.git("log", "-1", "--format=%an") == "relc[bot]"
    assert _outputs(tmp_path)["commits"] == "1"
    clone = tmp_path / "deliver"
    subprocess.run(["git", "clone", "-q", str(pull_request.root), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", start], cwd=clone, check=True)
    subprocess.run(["git", "fetch", "-q", str(pull_request.root / "relc.bundle"), "HEAD:refs/relc/commits"], cwd=clone, check=True)
    assert subprocess.run(["git", "rev-parse", "refs/relc/commits"], cwd=clone, capture_output=True, text=True).stdout.strip() == pull_request.head()


def test_the_scheduled_run_evaluates_every_release_even_when_one_fails(pull_request: Repository, tmp_path: Path) -> None:
    triggers = "triggers:\n  - {name: errors, metric: error_rate, max: 0.05, window: 10m, min_samples: 100, action: rollback}\n"
    alerting = "triggers:\n  - {name: thumbs, metric: thumbs_down_rate, max: 0.1, window: 1d, min_samples: 10, action: alert}\n"
    pull_request.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + triggers)
    pull_request.write("assistant", release_text("assistant", ["v1", "v2"], stable="v1") + alerting)
    pull_request.commit("Add triggers and the assistant release")
    pull_request.write("assistant", release_text("assistant", ["v1", "v2"], stable="v1", candidate="v2", step=1) + alerting)
    pull_request.commit("Start rollout of assistant v2")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(__import__("json").dumps({"metrics": [
        {"release": "chat", "version": "v2", "metric": "error_rate", "value": 0.3, "samples": 900},
        {"release": "assistant", "version": "v2", "metric": "thumbs_down_rate", "value": 0.5, "samples": 90},
    ]}))  # fmt: skip
    values = {"vars.RELC_METRICS_URL": str(metrics), "vars.RELC_QUERIES": "", "secrets.RELC_ALERT_WEBHOOK_URL": "",
              "runner.temp": str(tmp_path)}  # fmt: skip
    identity, scheduled, bundle = run_steps(_rollback_steps("identity", "scheduled", "bundle"), pull_request.root, values, tmp_path)
    # The assistant's alert cannot be sent (no webhook): that fails the step, after chat was rolled back.
    assert scheduled.returncode == 1
    assert "::error title=relc evaluate assistant::failed with exit status 1" in scheduled.stdout
    assert "::error title=relc evaluate chat%3A rollback::" in scheduled.stdout
    assert pull_request.git("log", "-1", "--format=%s") == 'Revert "Start rollout of chat v2"'
    assert bundle.returncode == 0 and _outputs(tmp_path)["commits"] == "1"


def test_pre_commit_hooks_run_relc_as_declared(pull_request: Repository) -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"relc-validate", "relc-check"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["entry"].split()[0] == "relc"
    relc = str(Path(sys.executable).parent / "relc")
    validate = hooks["relc-validate"]
    assert re.search(validate["files"], "releases/chat.yaml") and not re.search(validate["files"], "prompts/basic.j2")
    ok = subprocess.run([relc, *validate["entry"].split()[1:], "releases/chat.yaml"], cwd=pull_request.root, capture_output=True)
    assert ok.returncode == 0
    check = hooks["relc-check"]
    assert check["pass_filenames"] is False
    assert subprocess.run([relc, *check["entry"].split()[1:]], cwd=pull_request.root, capture_output=True).returncode == 0
    (pull_request.root / "rendered" / "bundles" / "chat.json").write_text("{}\n")
    assert subprocess.run([relc, *check["entry"].split()[1:]], cwd=pull_request.root, capture_output=True).returncode == 1


def test_the_deliver_job_pushes_the_bundled_commits(pull_request: Repository, tmp_path: Path) -> None:
    """The evaluate job's bundle, delivered by the deliver job's script to a real remote.

    The remote is a bare repository on disk; git's `insteadOf` sends the script's
    github.com push URL there. (Pull-request mode also needs GitHub's API: not run here.)
    """
    pull_request.git("switch", "-q", "main")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(pull_request.root), str(origin)], check=True)
    evaluate_checkout, deliver_checkout = tmp_path / "evaluate", tmp_path / "deliver"
    for checkout in (evaluate_checkout, deliver_checkout):
        subprocess.run(["git", "clone", "-q", str(origin), str(checkout)], check=True)
    work = tmp_path / "evaluate-run"
    work.mkdir()
    values = {"inputs.release": "chat", "inputs.reason": "errors"}
    results = run_steps(_rollback_steps("identity", "manual", "bundle"), evaluate_checkout, values, work)
    assert [result.returncode for result in results] == [0, 0, 0], [r.stderr for r in results]
    (deliver_checkout / "relc.bundle").write_bytes((evaluate_checkout / "relc.bundle").read_bytes())

    config = tmp_path / "gitconfig"
    config.write_text(f'[url "{origin}"]\n\tinsteadOf = https://x-access-token:token@github.com/acme/models.git\n')
    deliver = next(s for s in _load(REPO / ".github/workflows/rollback.yml")["jobs"]["deliver"]["steps"] if s.get("id") == "deliver")
    environment = {"DELIVERY": "push", "GITHUB_REPOSITORY": "acme/models", "GITHUB_REF_NAME": "main",
                   "GIT_CONFIG_GLOBAL": str(config)}  # fmt: skip
    values = {"secrets.RELC_PUSH_TOKEN || github.token": "token"}
    work = tmp_path / "deliver-run"
    work.mkdir()
    result = run_step(deliver, deliver_checkout, values, work / "summary.md", environment)
    assert result.returncode == 0, result.stdout + result.stderr
    delivered = subprocess.run(["git", "log", "-1", "--format=%s", "main"], cwd=origin, capture_output=True, text=True)
    assert delivered.stdout.strip() == 'Revert "Start rollout of chat v2"'
    assert "token" not in result.stdout + result.stderr
