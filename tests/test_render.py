"""Rendering and writing rendered/: current, deterministic, atomic, and the CI gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.emit import STAGING_PREFIX, to_yaml
from compiler.load import load_bytes
from compiler.render import render_tree
from compiler.traffic import FULL, traffic_state
from compiler.validate import validate_paths
from tests.conftest import REPO, run_relc, snapshot
from tests.support import Repository, relc, write_live_release


def _committed_rendered() -> dict[str, bytes]:
    return snapshot(REPO / "rendered")


def test_committed_rendered_is_what_the_releases_produce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = validate_paths([Path("releases")], Path("."))
    assert result.ok
    assert render_tree(result.releases) == _committed_rendered(), "rendered/ is stale: run `relc build`"


def test_builds_in_two_checkouts_are_byte_identical(tmp_path: Path) -> None:
    trees = []
    for checkout in (tmp_path / "a", tmp_path / "b" / "elsewhere"):
        for folder in ("releases", "prompts", "schemas"):
            shutil.copytree(REPO / folder, checkout / folder)
        assert run_relc("build", cwd=checkout).returncode == 0
        trees.append(snapshot(checkout / "rendered"))
    assert trees[0] == trees[1] == _committed_rendered()


def test_a_second_build_touches_no_file(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    stats = {path: os.stat(path) for path in (example_repo / "rendered").rglob("*") if path.is_file()}
    second = run_relc("build", cwd=example_repo)
    assert "0 written, 0 removed" in second.stderr
    for path, before in stats.items():
        after = os.stat(path)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), path


def test_an_invalid_release_leaves_rendered_untouched(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    before = snapshot(example_repo)
    release = example_repo / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("step: 2", "step: 9"))
    result = run_relc("build", cwd=example_repo)
    assert result.returncode == 1
    assert "RELC206" in result.stdout and "nothing written" in result.stderr
    after = snapshot(example_repo)
    assert {p: c for p, c in after.items() if p.startswith("rendered/")} == {
        p: c for p, c in before.items() if p.startswith("rendered/")
    }


def test_files_no_release_produces_are_removed(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    (example_repo / "rendered" / "litellm" / "old.yaml").write_text("model_list: []\n")
    (example_repo / "rendered" / f"{STAGING_PREFIX}crashed").mkdir()
    (example_repo / "releases" / "code-review.yaml").unlink()
    result = run_relc("build", cwd=example_repo)
    assert result.returncode == 0
    files = snapshot(example_repo / "rendered")
    assert "litellm/old.yaml" not in files and "bundles/code-review.json" not in files
    assert "removed rendered/bundles/code-review.json" in result.stderr
    assert not list((example_repo / "rendered").glob(STAGING_PREFIX + "*"))


def test_check_passes_on_a_current_tree_and_fails_with_a_diff_on_a_stale_one(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    assert run_relc("check", cwd=example_repo).returncode == 0
    config = example_repo / "rendered" / "litellm" / "config.yaml"
    config.write_text(config.read_text().replace("weight: 9000", "weight: 8000"))
    before = snapshot(example_repo)
    stale = run_relc("check", "--format", "github", cwd=example_repo)
    assert stale.returncode == 1
    assert "--- a/rendered/litellm/config.yaml" in stale.stdout
    assert "-    weight: 8000\n+    weight: 9000" in stale.stdout
    assert "::error file=rendered/litellm/config.yaml,line=1,col=1,title=RELC601::" in stale.stdout
    assert snapshot(example_repo) == before, "check must write nothing"
    shutil.rmtree(example_repo / "rendered")
    assert run_relc("check", cwd=example_repo).returncode == 1


def test_check_fails_when_the_schema_is_stale(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    (example_repo / "schemas" / "release.schema.json").write_text("{}\n")
    result = run_relc("check", cwd=example_repo)
    assert result.returncode == 1 and "error RELC601: schemas/release.schema.json is stale" in result.stdout


@pytest.mark.parametrize("step", [None, 1, 2, 3])
def test_every_gateway_splits_exactly_all_traffic(tmp_path: Path, step: int | None) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, step, gateways=["envoy", "litellm"])
    assert relc(tmp_path, "build") == 0
    litellm = yaml.safe_load((tmp_path / "rendered" / "litellm" / "config.yaml").read_text())
    public = [d["litellm_params"]["weight"] for d in litellm["model_list"] if d["model_name"] == "live"]
    assert sum(public) == FULL and all(weight > 0 for weight in public)
    routes = yaml.safe_load((tmp_path / "rendered" / "envoy" / "rds.yaml").read_text())["resources"][0]
    clusters = routes["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert sum(cluster["weight"] for cluster in clusters) == FULL


def test_the_stable_bundle_stays_warm_at_every_step(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, 3, gateways=["envoy", "litellm"])  # canary 100%
    assert relc(tmp_path, "build") == 0
    clusters = yaml.safe_load((tmp_path / "rendered" / "envoy" / "cds.yaml").read_text())["resources"]
    assert {cluster["name"] for cluster in clusters} == {"live@v1", "live@v2"}
    litellm = yaml.safe_load((tmp_path / "rendered" / "litellm" / "config.yaml").read_text())
    assert {d["model_name"] for d in litellm["model_list"]} == {"live", "live@v1", "live@v2"}


def test_traffic_state_follows_the_step() -> None:
    monkey_root = REPO
    result = validate_paths([monkey_root / "releases"], monkey_root)
    states = {checked.release.name: traffic_state(checked.release) for checked in result.releases}
    support = states["support-chat"]
    assert [(live.version, live.role, live.weight) for live in support.live] == [
        ("v41", "stable", 9000), ("v42", "candidate", 1000), ("v40", "previous", 0),
    ]  # fmt: skip
    assert support.fallbacks_of("v42") == ("v41", "v40")
    summarizer = states["doc-summarizer"]
    assert summarizer.mirrored is not None and summarizer.mirrored.mirror_weight == 2500
    assert [live.weight for live in summarizer.served] == [FULL, 0]


_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False, width=64),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_PLAIN)
def test_yaml_output_reads_back_identically_in_yaml_1_1_and_1_2(data: Any) -> None:
    text = to_yaml(data)
    assert yaml.safe_load(text) == data, text  # PyYAML reads YAML 1.1, as LiteLLM does
    document, diagnostics = load_bytes(text.encode(), "emitted.yaml")  # relc's own YAML 1.2 reader
    if diagnostics and all(d.code == "RELC004" for d in diagnostics):
        assert data is None or data == ""
        return
    assert diagnostics == [] and document is not None and document.data == data, text


def _shadow_committed_then_canary(root: Path) -> None:
    """The live release committed (rendered) at its shadow step, then moved to canary 30% on disk."""
    write_live_release(root, {"v1": 9001, "v2": 9002}, 1, gateways=["envoy", "litellm"])
    Repository.adopt(root).commit("shadow")
    write_live_release(root, {"v1": 9001, "v2": 9002}, 2, gateways=["envoy", "litellm"])


def test_plan_shows_traffic_before_and_after_a_base_revision(tmp_path: Path) -> None:
    _shadow_committed_then_canary(tmp_path)
    text = run_relc("plan", "--base", "HEAD", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "live: step 1 of 3: shadow 50%, hold 1m -> step 2 of 3: canary 30%, hold 1m" in text.stdout
    assert "v2               candidate              served     0% ->    30%" in text.stdout
    markdown = run_relc("plan", "--base", "HEAD", "--format", "markdown", cwd=tmp_path).stdout
    assert "| `v1` | stable | 100% | 70% |  |" in markdown
    assert "- **envoy**: route `/live/`: `live@v1` 70%, `live@v2` 30%" in markdown
    unknown = run_relc("plan", "--base", "no-such-rev", cwd=tmp_path)
    assert unknown.returncode == 2 and "no commit `no-such-rev`" in unknown.stderr


def test_plan_diffs_each_gateways_config_of_a_changed_release(tmp_path: Path) -> None:
    _shadow_committed_then_canary(tmp_path)
    text = run_relc("plan", cwd=tmp_path).stdout
    envoy, litellm = text[text.index("  envoy config:"):text.index("  litellm config:")], text[text.index("  litellm config:"):]
    assert "--- envoy: live at HEAD" in envoy and "+++ envoy: live" in envoy
    assert "-    request_mirror_policies:" in envoy, "the shadow's mirror goes"
    assert "-        weight: 10000" in envoy and "+        weight: 7000" in envoy and "+        weight: 3000" in envoy
    assert "-    silent_model: live@v2" in litellm and "+    weight: 3000" in litellm
    records = json.loads(run_relc("plan", "--format", "json", cwd=tmp_path).stdout)["plan"]
    assert {name for name, _ in records[0]["diffs"]} == {"envoy", "litellm"}
    markdown = run_relc("plan", "--format", "markdown", cwd=tmp_path).stdout
    assert "<details><summary>litellm config</summary>" in markdown and "```diff\n--- litellm: live at HEAD" in markdown
    (tmp_path / "releases" / "live.yaml").unlink()
    removed = run_relc("plan", cwd=tmp_path).stdout  # every line of the committed config goes
    gone = removed[removed.index("  litellm config:"):removed.index("1 of 1 release(s)")].splitlines()[3:]
    assert gone and all(line.startswith(("    -", "    @@")) for line in gone), removed


def test_the_manifest_carries_the_pinned_template_bytes_exactly(tmp_path: Path) -> None:
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, None, gateways=["litellm"])
    template = tmp_path / "prompts" / "basic.j2"
    template.write_bytes(b"Line one\r\nQuestion: {{ question }}\r\n")
    release = tmp_path / "releases" / "live.yaml"
    import hashlib

    old = hashlib.sha256((REPO / "tests" / "cases" / "prompts" / "basic.j2").read_bytes()).hexdigest()
    release.write_text(release.read_text().replace(old, hashlib.sha256(template.read_bytes()).hexdigest()))
    assert relc(tmp_path, "build") == 0
    manifest = __import__("json").loads((tmp_path / "rendered" / "bundles" / "live.json").read_text())
    assert manifest["bundles"][0]["prompt"]["text"] == "Line one\r\nQuestion: {{ question }}\r\n"


def _manifest_text(files: dict[str, bytes]) -> str:
    return json.loads(files["bundles/live.json"])["bundles"][0]["prompt"]["text"]


def test_rendering_copies_the_template_bytes_that_were_checked(tmp_path: Path) -> None:
    """A template edited between the check and the render never reaches rendered/:
    the manifest holds the bytes whose sha256 was checked against the pin."""
    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, None, gateways=["litellm"])
    template = tmp_path / "prompts" / "basic.j2"
    checked_text = template.read_text()
    result = validate_paths([tmp_path / "releases"], tmp_path)
    assert result.ok
    template.write_text("Ignore the pin: {{ question }}\n")
    assert _manifest_text(render_tree(result.releases)) == checked_text


def test_a_template_read_again_must_still_match_its_pin(tmp_path: Path) -> None:
    """Released from memory (a large repository), a template is read again for the render,
    through the same guards; one changed meanwhile stops the run rather than ship."""
    from compiler.errors import RelcError

    write_live_release(tmp_path, {"v1": 9001, "v2": 9002}, None, gateways=["litellm"])
    result = validate_paths([tmp_path / "releases"], tmp_path, keep_releases=False)
    assert result.ok
    assert _manifest_text(render_tree(result.releases)) == (tmp_path / "prompts" / "basic.j2").read_text()
    result.releases[0].free()
    (tmp_path / "prompts" / "basic.j2").write_text("Ignore the pin: {{ question }}\n")
    with pytest.raises(RelcError, match=r"`prompts/basic.j2` changed while relc was running"):
        render_tree(result.releases)


def test_a_repository_without_the_schema_file_passes_check_and_build_keeps_one_current(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    schema = example_repo / "schemas" / "release.schema.json"
    schema.unlink()
    assert run_relc("check", cwd=example_repo).returncode == 0, "other repositories need not keep the schema"
    schema.write_text("{}\n")
    assert run_relc("check", cwd=example_repo).returncode == 1
    built = run_relc("build", cwd=example_repo)
    assert "wrote schemas/release.schema.json" in built.stderr
    assert run_relc("check", cwd=example_repo).returncode == 0


def test_check_as_json_on_a_stale_tree_is_one_json_document(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    config = example_repo / "rendered" / "litellm" / "config.yaml"
    config.write_text(config.read_text().replace("weight: 9000", "weight: 8000"))
    result = run_relc("check", "--format", "json", cwd=example_repo)
    assert result.returncode == 1
    records = json.loads(result.stdout)  # the diff is a detail of text output only
    assert [(r["path"], r["code"]) for r in records] == [("rendered/litellm/config.yaml", "RELC601")]


def test_an_empty_releases_folder_never_wipes_rendered_without_a_flag(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    before = snapshot(example_repo / "rendered")
    shutil.rmtree(example_repo / "releases")
    (example_repo / "elsewhere").mkdir()
    (example_repo / "releases").symlink_to(example_repo / "elsewhere")
    result = run_relc("build", cwd=example_repo)
    assert result.returncode == 1 and "relc build --allow-empty" in result.stderr
    assert snapshot(example_repo / "rendered") == before
    assert run_relc("build", "--allow-empty", cwd=example_repo).returncode == 0
    assert snapshot(example_repo / "rendered") == {}


def _with_file_size_limit(limit: int) -> None:
    """In the child: writes past `limit` bytes fail with EFBIG, as on a full disk."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_is_a_clear_error_and_keeps_the_old_output(example_repo: Path) -> None:
    import sys

    assert relc(example_repo, "build") == 0
    before = snapshot(example_repo / "rendered")
    release = example_repo / "releases" / "support-chat.yaml"
    release.write_text(release.read_text().replace("max_tokens: 800", "max_tokens: 801"))
    result = subprocess.run([sys.executable, "-m", "compiler", "build"], cwd=example_repo, capture_output=True,
                            text=True, timeout=120, preexec_fn=lambda: _with_file_size_limit(512))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "File too large" in result.stderr and "internal error" not in result.stderr
    assert snapshot(example_repo / "rendered") == before
    assert not list((example_repo / "rendered").glob(STAGING_PREFIX + "*"))


def test_two_builds_at_once_both_finish_and_agree(example_repo: Path) -> None:
    import subprocess
    import sys

    commands = [subprocess.Popen([sys.executable, "-m", "compiler", "build"], cwd=example_repo,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]  # fmt: skip
    outcomes = [command.wait(timeout=120) for command in commands]
    assert outcomes == [0, 0, 0, 0], [c.stderr.read() for c in commands]  # type: ignore[union-attr]
    assert run_relc("check", cwd=example_repo).returncode == 0
    assert not list((example_repo / "rendered").glob(STAGING_PREFIX + "*"))


def test_a_string_ending_in_a_newline_keeps_it() -> None:
    """Found by the property above: `$` in the plain-scalar pattern matched before a final newline."""
    for data in ("A\n", {"key": "value\n"}, ["yes\n"]):
        text = to_yaml(data)
        assert yaml.safe_load(text) == data and load_bytes(text.encode(), "x.yaml")[0].data == data  # type: ignore[union-attr]


def _apply(before: list[str], diff: str) -> list[str]:
    """Apply a unified diff the way patch does, checking every context and removed line."""
    import re

    lines = diff.splitlines(keepends=True)[2:]
    result, position, index = [], 0, 0
    while index < len(lines):
        start = int(re.match(r"@@ -(\d+)", lines[index]).group(1))
        start = start - 1 if start else 0
        result += before[position:start]
        position = start
        index += 1
        while index < len(lines) and not lines[index].startswith("@@"):
            kind, text = lines[index][0], lines[index][1:]
            if kind in " -":
                assert before[position] == text, "context or removed line does not match"
                position += 1
            if kind in " +":
                result.append(text)
            index += 1
    return result + before[position:]


def test_the_diff_of_a_stale_file_is_a_true_patch_and_difflibs_when_lines_are_unique() -> None:
    """check diffs only the part that differs: the hunks are difflib's on the whole file
    when lines are unique (as a gateway file's named entries are), and a true patch always."""
    import difflib
    import random

    from compiler.emit import unified_diff

    generator = random.Random(11)
    for trial in range(400):
        unique = trial % 2 == 0
        before = [f"line {n if unique else generator.randrange(30)}\n" for n in range(generator.randrange(0, 80))]
        after = list(before)
        for _ in range(generator.randrange(1, 4)):
            where = generator.randrange(len(after) + 1)
            action = generator.choice(["insert", "delete", "change"])
            if action == "insert" or not after:
                after.insert(where, f"new {trial} {generator.randrange(10**6)}\n")
            elif action == "delete":
                del after[min(where, len(after) - 1)]
            else:
                after[min(where, len(after) - 1)] = f"changed {trial} {generator.randrange(10**6)}\n"
        diff = unified_diff(before, after, "a/x", "b/x")
        assert _apply(before, diff) == after
        if unique:
            assert diff == "".join(difflib.unified_diff(before, after, "a/x", "b/x"))


SECRET = "hunter2-outside-value"


def _outside_file(example_repo: Path) -> Path:
    secret = example_repo.parent / f"{example_repo.name}-outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text(f"password: {SECRET}\n")
    return secret


def test_check_reports_a_link_in_rendered_without_reading_through_it_and_build_replaces_it(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    config = example_repo / "rendered" / "litellm" / "config.yaml"
    config.unlink()
    config.symlink_to(_outside_file(example_repo))
    for format in ("text", "github"):
        result = run_relc("check", "--format", format, cwd=example_repo)
        assert result.returncode == 1
        assert "rendered/litellm/config.yaml is a symbolic link: run `relc build`" in result.stdout
        assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert "--- a/rendered/litellm/config.yaml (a symbolic link, not read)" in result.stdout
    assert run_relc("build", cwd=example_repo).returncode == 0
    assert not config.is_symlink() and SECRET not in config.read_text()
    assert run_relc("check", cwd=example_repo).returncode == 0


def test_build_never_writes_through_a_folder_link_in_rendered(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    outside = example_repo.parent / f"{example_repo.name}-outside-folder"
    shutil.move(example_repo / "rendered" / "litellm", outside)
    (example_repo / "rendered" / "litellm").symlink_to(outside)
    before = snapshot(outside)
    result = run_relc("check", cwd=example_repo)
    assert result.returncode == 1 and "rendered/litellm is a symbolic link" in result.stdout
    assert run_relc("build", cwd=example_repo).returncode == 0
    assert snapshot(outside) == before, "build wrote through the link"
    assert (example_repo / "rendered" / "litellm").is_dir() and not (example_repo / "rendered" / "litellm").is_symlink()
    assert run_relc("check", cwd=example_repo).returncode == 0


def test_a_rendered_folder_linked_out_of_the_repository_is_refused_by_check_and_build(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    outside = example_repo.parent / f"{example_repo.name}-outside-rendered"
    shutil.move(example_repo / "rendered", outside)
    (outside / "litellm" / "config.yaml").write_text(f"password: {SECRET}\n")
    (example_repo / "rendered").symlink_to(outside)
    before = snapshot(outside)
    for command in ("check", "build", "plan"):
        result = run_relc(command, cwd=example_repo)
        assert result.returncode == 1, (command, result.stderr)
        assert "resolves outside the repository through a symbolic link" in result.stderr  # plan names the file it met
        assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert snapshot(outside) == before, "nothing outside the repository was written or removed"


def test_plan_never_reads_a_bundle_manifest_through_a_link(example_repo: Path) -> None:
    assert relc(example_repo, "build") == 0
    manifest = example_repo / "rendered" / "bundles" / "support-chat.json"
    secret = _outside_file(example_repo).with_suffix(".json")
    secret.write_text(manifest.read_text().replace('"release": "support-chat"', f'"release": "{SECRET}"'))
    manifest.unlink()
    manifest.symlink_to(secret)
    result = run_relc("plan", cwd=example_repo)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_release_file_ending_in_yml_is_built_as_the_same_release(example_repo: Path) -> None:
    """`code-review.yml` is release `code-review` as `code-review.yaml` was: the same
    rendered/ bytes, and nothing to warn of."""
    assert relc(example_repo, "build") == 0
    before = snapshot(example_repo / "rendered")
    releases = example_repo / "releases"
    (releases / "code-review.yaml").rename(releases / "code-review.yml")
    result = run_relc("build", cwd=example_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "code-review.yml" not in result.stdout + result.stderr
    assert snapshot(example_repo / "rendered") == before


def test_two_files_of_one_release_are_an_error(example_repo: Path) -> None:
    """Two folders given, each with a `code-review.yaml`: one manifest written twice, one name routed twice."""
    original = (example_repo / "releases" / "code-review.yaml").read_text()
    twin = original.replace("model: review-assistant ", "model: review-assistant-twin ")
    assert twin != original, "the twin needs its own public model name, or RELC209 says it first"
    (example_repo / "drafts").mkdir()
    (example_repo / "drafts" / "code-review.yaml").write_text(twin)
    result = run_relc("validate", "releases", "drafts", cwd=example_repo)
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr
    assert "releases/code-review.yaml:6:7: error RELC214: release `code-review` is also in drafts/code-review.yaml" in output
    assert run_relc("validate", "drafts/code-review.yaml", cwd=example_repo).returncode == 0, "each file alone is valid"
