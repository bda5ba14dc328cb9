"""Git as the state store: immutability against the base branch, and `relc status`."""

from __future__ import annotations

import subprocess
import time
from typing import Any
from pathlib import Path

import pytest

from compiler.cache import ReleaseCache
from tests.conftest import run_relc
from tests.support import Repository, release_text, rollout_on_a_branch, workers_answers


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    return rollout_on_a_branch(tmp_path / "repo", "change")


def test_unchanged_and_new_bundles_pass_against_the_base(repository: Repository) -> None:
    repository.write("chat", release_text("chat", ["v1", "v2", "v3"], stable="v1", candidate="v2", step=2))
    repository.commit("Publish v3, promote v2")
    result = run_relc("check", "--base", "main", cwd=repository.root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bundle_changed_in_place_is_an_error_naming_the_publishing_commit(repository: Repository) -> None:
    published = repository.git("rev-list", "--max-count=1", "main~1")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, temperature={"v1": 0.9}))
    repository.commit("Tune v1 in place")
    result = run_relc("check", "--base", "main", "--format", "github", cwd=repository.root)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "RELC701" in line)
    assert line.startswith("::error file=releases/chat.yaml,line=9,col=14,title=RELC701::")
    assert f"published in {published[:12]}" in line
    assert "serving.temperature differ" in line and "new version" in line


def test_removing_then_readding_a_version_with_other_content_is_caught(repository: Repository) -> None:
    repository.git("switch", "-q", "main")
    repository.write("chat", release_text("chat", ["v2"], stable="v2"))
    repository.commit("Retire v1")
    repository.git("switch", "-q", "-c", "readd")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v2", temperature={"v1": 0.5}))
    repository.commit("Bring back v1, differently")
    result = run_relc("check", "--base", "main", cwd=repository.root)
    assert result.returncode == 1 and "RELC701" in result.stdout and "bundle `v1`" in result.stdout


def test_history_checks_work_on_a_detached_head(repository: Repository) -> None:
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, temperature={"v2": 1.0}))
    repository.commit("Change v2 in place")
    repository.git("checkout", "-q", "--detach")
    result = run_relc("check", "--base", "main", cwd=repository.root)
    assert result.returncode == 1 and "RELC701" in result.stdout


def test_a_shallow_clone_fails_loudly_instead_of_passing(repository: Repository, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "main", f"file://{repository.root}", str(shallow)], check=True)
    result = run_relc("check", "--base", "HEAD", cwd=shallow)
    assert result.returncode == 1
    assert "shallow" in result.stderr and "fetch-depth: 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_base_is_a_clear_error(repository: Repository) -> None:
    result = run_relc("check", "--base", "origin/nope", cwd=repository.root)
    assert result.returncode == 2 and "no commit `origin/nope`" in result.stderr


@pytest.mark.parametrize("command", [
    ["rollback", "nope"], ["promote", "nope"], ["drill", "nope"], ["status", "nope"],
    ["evaluate", "nope", "--metrics", "http://127.0.0.1:9"],
    ["check", "--base", "no-such-rev"], ["plan", "--base", "no-such-rev"], ["rollback", "chat", "--to", "no-such-rev"],
])  # fmt: skip
def test_an_unknown_release_or_revision_is_exit_2_for_every_command(repository: Repository, command: list[str]) -> None:
    result = run_relc(*command, cwd=repository.root)
    assert result.returncode == 2, result.stderr
    assert "nope" in result.stderr or "no-such-rev" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_release_file_path_names_the_release_and_subfolders_find_the_root(repository: Repository) -> None:
    by_path = run_relc("status", "releases/chat.yaml", "--format", "names", cwd=repository.root)
    assert by_path.returncode == 0 and by_path.stdout == "chat\n"
    from_subfolder = run_relc("status", "--format", "names", cwd=repository.root / "releases")
    assert from_subfolder.returncode == 0 and from_subfolder.stdout == "chat\n"
    assert f"running in {repository.root}" in from_subfolder.stderr


def test_a_server_address_without_a_scheme_gets_a_hint(repository: Repository) -> None:
    result = run_relc("evaluate", "chat", "--metrics", "localhost:9090", cwd=repository.root)
    assert result.returncode == 1 and "write http://localhost:9090" in result.stderr


def test_status_shows_roles_traffic_and_when_the_step_began(repository: Repository) -> None:
    started = repository.git("rev-parse", "HEAD")
    result = run_relc("status", cwd=repository.root)
    assert result.returncode == 0, result.stderr
    assert "  bundles:  stable v1, candidate v2" in result.stdout
    assert "  step:     step 1 of 2: canary 10%, hold 1h" in result.stdout
    assert "  traffic:  v1 90%, v2 10%" in result.stdout
    assert f"({started[:12]} Start rollout of chat v2)" in result.stdout
    assert "  promote:  now" in result.stdout  # the commit is dated long ago


def test_status_counts_the_hold_from_the_commit_that_entered_the_step(repository: Repository) -> None:
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    entered = int(time.time()) - 600
    repository.commit("Promote", when=entered)
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2, owners=["tests", "ops"]))
    repository.commit("Add an owner", when=int(time.time()))
    result = run_relc("status", "chat", cwd=repository.root)
    assert "Promote)" in result.stdout, "the hold starts at the commit that entered the step, not the newest"
    ready = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entered + 3600))
    assert f"  promote:  {ready} (in 4" in result.stdout


def test_outside_git_and_in_an_empty_repository_the_errors_say_so(example_repo: Path) -> None:
    outside = run_relc("rollback", "support-chat", cwd=example_repo)
    assert outside.returncode == 1 and "is not inside a git repository" in outside.stderr
    status = run_relc("status", "support-chat", cwd=example_repo)
    assert status.returncode == 0 and "began:    unknown: " in status.stdout
    subprocess.run(["git", "init", "-q"], cwd=example_repo, check=True)
    empty = run_relc("check", "--base", "HEAD", cwd=example_repo)
    assert empty.returncode == 1 and "no commits yet" in empty.stderr
    assert "Traceback" not in outside.stderr + status.stderr + empty.stderr


def test_a_merged_step_counts_from_the_merge_not_from_the_branch_commit(repository: Repository) -> None:
    """A pull request dated days ago must not skip the hold: the step began when it was merged."""
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Promote on a branch", when=int(time.time()) - 3 * 86400)
    repository.git("switch", "-q", "main")
    merged_at = int(time.time()) - 60
    repository.git("merge", "-q", "--no-ff", "-m", "Merge the promotion", "change", when=merged_at)
    result = run_relc("status", "chat", cwd=repository.root)
    assert "Merge the promotion)" in result.stdout
    ready = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(merged_at + 3600))
    assert f"  promote:  {ready}" in result.stdout
    refused = run_relc("promote", "chat", cwd=repository.root)
    assert refused.returncode == 1 and "its hold ends at" in refused.stderr


def _renamed_mid_rollout(tmp_path: Path) -> tuple[Repository, str]:
    """chat publishes v2, starts its rollout, then its file is moved with `git mv` to
    support.yaml (and renamed inside); the commit that published v2, for --to."""

    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1"))
    published = repository.commit("Publish chat v2")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    repository.git("mv", "releases/chat.yaml", "releases/support.yaml")
    (repository.root / "releases" / "support.yaml").write_text(repository.read("support").replace("name: chat", "name: support"))
    repository.commit("Rename chat to support")
    return repository, published


def test_a_release_moved_with_git_mv_keeps_its_history(tmp_path: Path) -> None:

    repository, published = _renamed_mid_rollout(tmp_path)
    root = repository.root
    audit = run_relc("history", "support", cwd=root)
    assert audit.returncode == 0, audit.stderr
    assert "Publish chat v2" in audit.stdout and "Start rollout of chat v2" in audit.stdout

    # Rollback finds the known-good revision from before the rename and reverts the rollout
    # (without following the rename it found none, and aborted the rollout instead).
    rolled = run_relc("rollback", "support", "--reason", "test", cwd=root)
    assert rolled.returncode == 0, rolled.stderr
    assert repository.git("log", "-1", "--format=%s") == 'Revert "Start rollout of chat v2"'
    assert "candidate" not in repository.read("support") and "name: support" in repository.read("support")
    assert run_relc("check", cwd=root).returncode == 0

    # --to a commit from before the rename restores it whole, under the name the file has now.
    repository.git("reset", "--quiet", "--hard", "HEAD~1")
    restored = run_relc("rollback", "support", "--to", published, "--reason", "test", cwd=root)
    assert restored.returncode == 0, restored.stderr
    assert "name: support" in repository.read("support") and "candidate" not in repository.read("support")
    assert run_relc("check", cwd=root).returncode == 0


def test_a_rename_is_no_way_to_change_a_published_bundle(tmp_path: Path) -> None:

    repository, _ = _renamed_mid_rollout(tmp_path)
    root = repository.root
    path = root / "releases" / "support.yaml"
    path.write_text(path.read_text().replace("temperature: 0.2", "temperature: 0.9", 1))
    assert run_relc("build", cwd=root).returncode == 0
    changed = run_relc("check", "--base", "HEAD", cwd=root)
    assert changed.returncode == 1 and "RELC701" in changed.stdout and "bundle `v1` was published" in changed.stdout

    # Moved and changed in the same pull request: the base has only chat.yaml.
    repository.git("reset", "--quiet", "--hard", "HEAD~1")
    repository.git("mv", "releases/chat.yaml", "releases/other.yaml")
    moved = root / "releases" / "other.yaml"
    moved.write_text(moved.read_text().replace("name: chat", "name: other").replace("temperature: 0.2", "temperature: 0.9", 1))
    assert run_relc("build", cwd=root).returncode == 0
    both = run_relc("check", "--base", "HEAD", cwd=root)
    assert both.returncode == 1 and "RELC701" in both.stdout, both.stdout + both.stderr


def test_a_published_bundle_stays_published_when_the_whole_folder_moves(tmp_path: Path) -> None:
    """A monorepo moves relc's files under `deploy/` (`relc -C deploy` from then on): a
    bundle published before the move, even one retired before it, is still published, and
    bringing it back changed is refused with the commit that published it. A draft moved
    in from a folder of another name published nothing before."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1"))
    published = repository.commit("Publish chat v1 and v2")
    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Retire chat v2")
    drafts = repository.root / "drafts"
    drafts.mkdir()
    (drafts / "talk.yaml").write_text(release_text("talk", ["v1"], stable="v1", temperature={"v1": 0.1}))
    repository.commit("Draft talk", build=False)
    (repository.root / "deploy").mkdir()
    for folder in ("releases", "prompts", "schemas", "rendered"):
        repository.git("mv", folder, f"deploy/{folder}")
    repository.commit("Move relc's files under deploy/", build=False)
    deploy = repository.root / "deploy"
    repository.git("mv", "drafts/talk.yaml", "deploy/releases/talk.yaml")
    (deploy / "releases" / "talk.yaml").write_text(release_text("talk", ["v1"], stable="v1", temperature={"v1": 0.3}))
    assert run_relc("build", cwd=deploy).returncode == 0
    repository.commit("Ship talk, tuned", build=False)

    (deploy / "releases" / "chat.yaml").write_text(release_text("chat", ["v1", "v2"], stable="v1", temperature={"v2": 0.7}))
    assert run_relc("build", cwd=deploy).returncode == 0
    for cache in ([], ["--no-cache"], []):  # the scan, then remembered (a later run reads nothing new)
        result = run_relc("check", "--base", "HEAD", *cache, cwd=deploy)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"RELC701: bundle `v2` was published in {published[:12]}" in result.stdout, result.stdout
        assert "talk.yaml" not in result.stdout


def test_a_person_s_git_settings_do_not_change_what_relc_reads(tmp_path: Path) -> None:
    """`diff.relative` makes git name paths from the folder it runs in: under `relc -C
    deploy` the step timing found no history ("not committed yet") and the gate refused a
    plain `git mv` of a release file (RELC707); `log.showRoot=false` hides what the first
    commit added."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start chat v2")
    _move_relc_files(repository, "", "deploy")
    repository.commit("Move relc's files under deploy/", build=False)
    deploy = repository.root / "deploy"
    plain = run_relc("status", cwd=deploy).stdout
    repository.git("config", "diff.relative", "true")
    repository.git("config", "log.showRoot", "false")  # the first commit, which added chat, shown with no change
    assert "not committed yet" not in plain and run_relc("status", "--no-cache", cwd=deploy).stdout == plain
    assert run_relc("history", "chat", cwd=deploy).stdout.startswith("chat: 2 change(s)")
    repository.git("mv", "deploy/releases/chat.yaml", "deploy/releases/chat.yml")
    moved = run_relc("check", "--base", "HEAD", cwd=deploy)
    assert moved.returncode == 0, moved.stdout + moved.stderr


def _move_relc_files(repository: Repository, source: str, target: str) -> None:
    """`git mv` relc's folders from `source` to `target` (either may be the top: "")."""
    for folder in ("releases", "prompts", "schemas", "rendered"):
        old, new = f"{source}/{folder}".lstrip("/"), f"{target}/{folder}".lstrip("/")
        if (repository.root / old).exists():
            (repository.root / new).parent.mkdir(parents=True, exist_ok=True)
            repository.git("mv", old, new)


@pytest.mark.parametrize("after", ["renamed in the new folder", "moved back"])
def test_a_bundle_published_across_folder_moves_stays_published(tmp_path: Path, after: str) -> None:
    """Publications follow a release file into the new folder also when it is renamed
    there afterwards, and when relc's files move away and back again."""
    repository = Repository(tmp_path / "repo")
    deploy = repository.root / "deploy"

    def publish_then_retire(root: Path) -> str:
        (root / "releases" / "chat.yaml").write_text(release_text("chat", ["v1", "v2"], stable="v1"))
        assert run_relc("build", cwd=root).returncode == 0
        published = repository.commit("Publish chat v2", build=False)
        (root / "releases" / "chat.yaml").write_text(release_text("chat", ["v1"], stable="v1"))
        assert run_relc("build", cwd=root).returncode == 0
        repository.commit("Retire chat v2", build=False)
        return published

    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Publish chat v1")
    if after == "renamed in the new folder":
        published = publish_then_retire(repository.root)
        _move_relc_files(repository, "", "deploy")
        repository.commit("Move relc's files under deploy/", build=False)
        repository.git("mv", "deploy/releases/chat.yaml", "deploy/releases/talk.yaml")
        repository.commit("Rename chat to talk", build=False)
        root, name = deploy, "talk"
    else:
        _move_relc_files(repository, "", "deploy")
        repository.commit("Move relc's files under deploy/", build=False)
        published = publish_then_retire(deploy)
        _move_relc_files(repository, "deploy", "")
        repository.commit("Move relc's files back to the top", build=False)
        root, name = repository.root, "chat"
    (root / "releases" / f"{name}.yaml").write_text(release_text(name, ["v1", "v2"], stable="v1", temperature={"v2": 0.7}))
    assert run_relc("build", cwd=root).returncode == 0
    result = run_relc("check", "--base", "HEAD", "--no-cache", cwd=root)
    assert result.returncode == 1 and f"RELC701: bundle `v2` was published in {published[:12]}" in result.stdout, result.stdout


def _dashes_at_column_zero(text: str) -> str:
    """The same release with its bundles' dashes at the left edge, as YAML allows."""
    head, _, rest = text.partition("bundles:\n")
    block, _, tail = rest.partition("rollout:\n")
    return head + "bundles:\n" + "\n".join(line[2:] for line in block.splitlines()) + "\nrollout:\n" + tail


def test_a_bundle_changed_in_place_is_caught_when_the_dashes_are_at_the_left_edge(tmp_path: Path) -> None:
    """The history scan keys file versions by their `bundles:` block: a block whose items
    start at column 0 is still the whole block, so v2's publication is seen."""
    repository = Repository(tmp_path / "repo")
    repository.write("chat", _dashes_at_column_zero(release_text("chat", ["v1"], stable="v1")))
    repository.commit("Publish chat v1")
    repository.write("chat", _dashes_at_column_zero(release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1)))
    repository.commit("Start rollout of chat v2")
    repository.git("switch", "-q", "-c", "change")
    repository.write(
        "chat",
        _dashes_at_column_zero(release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, temperature={"v2": 1.0})),
    )
    repository.commit("Change v2 in place")
    assert run_relc("validate", cwd=repository.root).returncode == 0
    result = run_relc("check", "--base", "main", "--no-cache", cwd=repository.root)
    assert result.returncode == 1 and "RELC701" in result.stdout and "bundle `v2`" in result.stdout, result.stdout


def test_steps_began_of_many_releases_is_step_began_of_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`relc status` reads every release's step from one walk of history: the same
    commits as one `git log --follow` a release, through renames, merges, releases
    with no rollout and steps longer than one round of reads."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    for name in ("chat", "talk", "voice", "long"):
        repository.write(name, release_text(name, ["v1"], stable="v1"))
    repository.commit("Publish four releases", build=False)
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.write("voice", release_text("voice", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start two rollouts", build=False)
    repository.git("mv", "releases/voice.yaml", "releases/speech.yaml")
    repository.commit("Rename voice to speech", build=False)
    repository.write("long", release_text("long", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start long", build=False)
    for edit in range(10):  # longer than a round of reads
        repository.write("long", release_text("long", ["v1", "v2"], stable="v1", candidate="v2", step=1, owners=[f"team-{edit}"]))
        repository.commit(f"Edit long's owners ({edit})", build=False)
    repository.git("switch", "-q", "-c", "feature")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Promote chat on a branch", build=False)
    repository.git("switch", "-q", "main")
    repository.git("merge", "-q", "--no-ff", "-m", "Merge the promotion", "feature", when=repository.clock + 3600)
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2, owners=["others"]))
    repository.commit("Chat's owners, same step", build=False)

    names = ["chat", "talk", "speech", "long", "gone"]
    one_by_one = {name: history.step_began(repository.root, "HEAD", name) for name in names}
    assert one_by_one["chat"] is not None and one_by_one["chat"].subject == "Merge the promotion"
    assert one_by_one["speech"] is not None and one_by_one["speech"].subject == "Start two rollouts"
    assert one_by_one["long"] is not None and one_by_one["long"].subject == "Start long"
    assert one_by_one["talk"] is None and one_by_one["gone"] is None
    for at_once in (1, 3, history.REVISIONS_AT_ONCE):
        monkeypatch.setattr(history, "REVISIONS_AT_ONCE", at_once)
        assert history.steps_began(repository.root, "HEAD", names) == one_by_one, at_once
        # With the cache: what a first run parsed, a second knows without reading it.
        cache = ReleaseCache(tmp_path / f"cache-{at_once}", "salt")
        assert history.steps_began(repository.root, "HEAD", names, cache) == one_by_one, at_once
        read: list[str] = []
        monkeypatch.setattr(history.git, "read_blobs", lambda root, blobs: read.extend(blobs) or {})
        assert history.steps_began(repository.root, "HEAD", names, cache) == one_by_one, at_once
        assert read == [], "every revision's roles came from the cache"
        monkeypatch.undo()
        monkeypatch.setattr(history, "REVISIONS_AT_ONCE", at_once)
    damaged = ReleaseCache(tmp_path / "damaged", "salt")
    damaged.store(damaged.key(history._RolesMemo.KEY), {"roles": {"not-a-blob": [1, 2], "x": "y"}})
    assert history.steps_began(repository.root, "HEAD", names, damaged) == one_by_one, "a damaged memo is not used"

    # Many revisions to read: the worker processes parse them ahead of the walk.
    answered = workers_answers(monkeypatch)
    monkeypatch.setattr(history, "ROLES_AT_ONCE", 1)
    assert history.steps_began(repository.root, "HEAD", names) == one_by_one
    assert answered and max(answered) >= 2, "the workers parsed revisions"


def test_where_steps_began_is_carried_forward_from_the_commit_last_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache remembers where each step began as of a commit: asked again at that
    commit, history is not read; at a later commit of the branch, only the commits since.
    Whatever moved (a step, a merge, a rollback, a deleted file, a rename, a rewritten
    history, a release asked for the first time), the answer is `step_began`'s."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    for name in ("chat", "talk", "long", "other"):
        repository.write(name, release_text(name, ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start four rollouts", build=False)
    cache = ReleaseCache(tmp_path / "cache", "salt")
    logs: list[str] = []
    changes_under = history.git.changes_under
    monkeypatch.setattr(history.git, "changes_under", lambda root, revision, *rest, **options: logs.append(revision) or changes_under(root, revision, *rest, **options))

    def agrees(names: list[str]) -> dict[str, str | None]:
        """Ask with the cache; the answer must be what one walk a release gives."""
        one_by_one = {name: history.step_began(repository.root, "HEAD", name) for name in names}
        logs.clear()
        cached = history.steps_began(repository.root, "HEAD", names, cache)
        assert cached == one_by_one
        return {name: began.subject if began else None for name, began in cached.items()}

    names = ["chat", "talk", "long"]
    assert agrees(names) == dict.fromkeys(names, "Start four rollouts")
    assert logs == [repository.head()], "the first run walks the whole history"
    assert agrees(names) == dict.fromkeys(names, "Start four rollouts")
    assert logs == [], "the same commit again reads no history"
    assert agrees(["talk"]) and logs == [], "one release of those known (`relc status talk`)"
    assert agrees(["other"]) and logs == [repository.head()], "a release not known yet: a walk"
    assert agrees([*names, "other"]) and logs == [], "what was known at this commit is kept beside it"

    def moved(message: str, **releases: str | None) -> None:
        for name, text in releases.items():
            if text is None:
                (repository.root / "releases" / f"{name}.yaml").unlink()
            else:
                repository.write(name, text)
        before = repository.head()
        repository.commit(message, build=False)
        assert agrees(names)  # recorded in `logs`
        assert logs == [f"{before}..{repository.head()}"], f"{message}: only the commits since are read"

    moved("Chat's owners, same step", chat=release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1, owners=["others"]))
    moved("Promote talk", talk=release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    assert agrees(names) == {"chat": "Start four rollouts", "talk": "Promote talk", "long": "Start four rollouts"}
    repository.git("switch", "-q", "-c", "feature")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Promote chat on a branch", build=False)
    repository.git("switch", "-q", "main")
    before = repository.head()
    repository.git("merge", "-q", "--no-ff", "-m", "Merge the promotion", "feature", when=repository.clock + 3600)
    assert agrees(names)["chat"] == "Merge the promotion" and logs == [f"{before}..{repository.head()}"]
    moved("Roll back talk", talk=release_text("talk", ["v1", "v2"], stable="v1"))
    moved("Delete long", long=None)
    assert agrees(names) == {"chat": "Merge the promotion", "talk": None, "long": None}

    repository.git("mv", "releases/other.yaml", "releases/renamed.yaml")
    repository.commit("Rename other", build=False)
    assert agrees(names) and logs[-1] == repository.head(), "a rename since: the whole history, whose walk follows it"
    repository.git("reset", "-q", "--hard", "HEAD~3")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=3))
    repository.commit("Rewritten: promote chat", build=False)
    assert agrees(names)["chat"] == "Rewritten: promote chat" and logs == [repository.head()], "history was rewritten"
    assert agrees([*names, "never-asked"])["never-asked"] is None and logs == [repository.head()], "a release asked first"
    damaged = ReleaseCache(tmp_path / "cache", "salt")
    damaged.store(damaged.key(history._StartsMemo.KEY), {"commit": repository.head(), "releases": {"chat": [["v2", "3"], None]}})
    assert agrees(names) and logs == [repository.head()], "a damaged memo is not used"


def test_where_steps_began_is_each_walk_s_in_a_subfolder(tmp_path: Path) -> None:
    """relc run in a subfolder of the repository (`relc -C deploy`) reads each step from
    the one walk as from a walk a release, a file renamed away and its name taken by a
    new file included."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    folder = repository.root / "deploy" / "releases"
    folder.mkdir(parents=True)

    def write(name: str, owners: list[str], **rollout: Any) -> None:
        (folder / f"{name}.yaml").write_text(release_text(name, ["v1", "v2"], stable="v1", owners=owners, **rollout))

    write("chat", ["tests"], candidate="v2", step=1)
    write("talk", ["tests"], candidate="v2", step=1)
    repository.commit("Start chat and talk", build=False)
    write("talk", ["voice-team"], candidate="v2", step=1)
    repository.commit("Talk's owners", build=False)
    repository.git("mv", "deploy/releases/talk.yaml", "deploy/releases/speech.yaml")
    repository.commit("Rename talk to speech", build=False)
    (folder / "talk.yaml").write_text(release_text("talk", ["v1", "v2", "v3", "v4"], stable="v1", candidate="v2", step=1, owners=["new"]))
    repository.commit("A new talk, at the step the old one had", build=False)
    write("chat", ["tests"], candidate="v2", step=2)
    repository.commit("Promote chat", build=False)

    root = repository.root / "deploy"
    assert history.step_began(root, "HEAD", "chat").subject == "Promote chat"  # type: ignore[union-attr]
    for names in (["chat", "talk"], ["talk"], ["chat", "speech"], ["talk", "speech"]):
        one_by_one = {name: history.step_began(root, "HEAD", name) for name in names}
        assert history.steps_began(root, "HEAD", names) == one_by_one, names
        cache = ReleaseCache(tmp_path / f"cache-{len(names)}", "salt")
        for _ in range(2):  # walked, then remembered
            assert history.steps_began(root, "HEAD", names, cache) == one_by_one, names


def test_a_release_copied_from_one_in_a_rollout_begins_its_step_at_the_copy(tmp_path: Path) -> None:
    """`git log --follow` also follows copies: a release made by copying another (the
    usual way to start one) must not inherit the other's step start, which would let
    `relc promote` and the gate skip its hold, nor its revisions as rollback targets."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("chat v2 at step 2", build=False)
    repository.write("chat-eu", release_text("chat-eu", ["v1", "v2"], stable="v1", candidate="v2", step=2))
    repository.commit("Copy chat to chat-eu", build=False)
    assert "C0" in repository.git("log", "-1", "--follow", "--name-status", "--format=", "--", "releases/chat-eu.yaml")

    began = history.step_began(repository.root, "HEAD", "chat-eu")
    assert began is not None and began.subject == "Copy chat to chat-eu"
    assert [revision.commit.subject for revision in history.revisions(repository.root, "HEAD", "chat-eu")] == ["Copy chat to chat-eu"]
    assert history.step_began(repository.root, "HEAD", "chat").subject == "chat v2 at step 2"  # type: ignore[union-attr]
    for names in (["chat", "chat-eu"], ["chat-eu"]):
        assert history.steps_began(repository.root, "HEAD", names) == {name: history.step_began(repository.root, "HEAD", name) for name in names}


@pytest.mark.parametrize("when", ["with the rename", "after the rename, alike", "after the rename, unlike"])
def test_a_name_taken_by_a_new_file_begins_with_it_whichever_releases_are_asked(tmp_path: Path, when: str) -> None:
    """`git mv talk.yaml speech.yaml` and a new `talk.yaml`: speech keeps talk's history,
    the new talk begins at its own commit, and each walk (one a release, or one for
    many) says so whichever other releases are asked with it. In one commit, git sees
    talk edited and speech copied from it: speech begins there, and talk's step goes on."""
    from compiler import history

    repository = Repository(tmp_path / "repo")
    repository.write("talk", release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start talk", build=False)
    repository.git("mv", "releases/talk.yaml", "releases/speech.yaml")
    if when != "with the rename":
        repository.commit("Rename talk to speech", build=False)
    versions, stable, candidate = (["v1", "v2"], "v1", "v2") if when != "after the rename, unlike" else (["v1", "v2", "v3", "v4"], "v3", "v4")
    repository.write("talk", release_text("talk", versions, stable=stable, candidate=candidate, step=1, owners=["new"]))
    repository.commit("A new talk", build=False)

    expected = {"talk": "A new talk", "speech": "Start talk"}
    if when == "with the rename":
        expected = {"talk": "Start talk", "speech": "A new talk"}
    for names in (["talk", "speech"], ["speech", "talk"], ["talk"], ["speech"]):
        one_by_one = {name: history.step_began(repository.root, "HEAD", name) for name in names}
        assert {name: began.subject for name, began in one_by_one.items() if began} == {name: expected[name] for name in names}
        assert history.steps_began(repository.root, "HEAD", names) == one_by_one, names
