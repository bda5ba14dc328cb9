"""`relc watch` as a real process over real clones of a bare remote in a temporary folder:
delivery of merged commits and reverts, rollback with a push, a refused push (drift),
two watchers racing, a metrics source that is down, and SIGTERM with health endpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support import Repository, Webhook, free_port, relc, release_text

pytestmark = pytest.mark.live

TRIGGERS = """triggers:
  - {name: errors, metric: error_rate, max: 0.05, window: 10m, min_samples: 100, action: rollback}
"""


class Remote:
    """A bare remote, the seed clone that publishes to it, and watcher clones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        self.seed = Repository(folder / "seed")
        self.seed.git("remote", "add", "origin", str(self.bare))

    def publish(self, message: str, text: str) -> str:
        self.seed.write("chat", text)
        commit = self.seed.commit(message)
        self.seed.git("push", "-q", "origin", "main")
        return commit

    def clone(self, name: str) -> Path:
        path = self.folder / name
        subprocess.run(["git", "clone", "-q", str(self.bare), str(path)], check=True)
        for key, value in (("user.name", f"relc watch {name}"), ("user.email", f"{name}@example.com")):
            subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
        return path

    def log(self) -> list[str]:
        output = subprocess.run(["git", "--git-dir", str(self.bare), "log", "--format=%s", "main"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        return output.splitlines()

    def branches(self) -> list[str]:
        output = subprocess.run(["git", "--git-dir", str(self.bare), "branch", "--format=%(refname:short)"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        return output.split()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    remote = Remote(tmp_path)
    remote.publish("Publish chat v2", release_text("chat", ["v1", "v2"], stable="v1") + TRIGGERS)
    return remote


def start_rollout(remote: Remote) -> str:
    return remote.publish("Start rollout of chat v2",
                          release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)  # fmt: skip


def snapshot(folder: Path, error_rate: float) -> str:
    path = folder / f"metrics-{error_rate}.json"
    path.write_text(json.dumps({"metrics": [
        {"release": "chat", "version": "v2", "metric": "error_rate", "value": error_rate, "samples": 500},
    ]}))  # fmt: skip
    return str(path)


def _started_environment() -> dict[str, str]:
    """This process's environment as a user's shell has it: without what an in-process
    `relc` run set for itself."""
    return {name: value for name, value in os.environ.items() if name != "PYDANTIC_DISABLE_PLUGINS"}


class Watch:
    """`relc watch` in its own process; its JSON event log in a file."""

    def __init__(self, clone: Path, *arguments: str, environment: dict[str, str] | None = None) -> None:
        self.log_path = clone.parent / f"{clone.name}-watch.log"
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "compiler", "watch", *arguments], cwd=clone, stdout=self.log_file,
            stderr=subprocess.STDOUT, env={**_started_environment(), **(environment or {})},
        )  # fmt: skip

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return [r for r in records if kind is None or r["event"] == kind]

    def wait(self, seconds: float = 60) -> int:
        code = self.process.wait(timeout=seconds)
        self.log_file.close()
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log_file.close()


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for watch in started:
        watch.stop()


def wait_until(condition: Callable[[], bool], failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(failure)


def served(deploy: Path) -> dict[str, float]:
    """Who serves what share, as the delivered bundle manifest says."""
    path = deploy / "bundles" / "chat.json"
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text())
    return {b["version"]: b["served_percent"] for b in manifest["bundles"] if b["served_percent"]}


def test_a_merged_commit_and_a_plain_git_revert_are_delivered(remote: Remote, watches: list[Watch]) -> None:
    clone, deploy = remote.clone("gateway"), remote.folder / "deploy" / "rendered"
    hook_log = remote.folder / "after-delivery.log"
    hook = remote.folder / "after-delivery.sh"
    # The operator's command gets the environment relc was started with, not relc's own settings.
    hook.write_text(f'#!/bin/sh\necho "${{PYDANTIC_DISABLE_PLUGINS-unset}} $RELC_DELIVERED_FILES" >> {hook_log}\n')
    hook.chmod(0o755)
    watch = Watch(clone, "--deploy-dir", str(deploy), "--interval", "1", "--after-delivery", str(hook))
    watches.append(watch)
    wait_until(lambda: served(deploy) == {"v1": 100.0}, "the first tick did not deliver the branch")
    start_rollout(remote)
    wait_until(lambda: served(deploy) == {"v1": 90.0, "v2": 10.0}, "the merged rollout was not delivered")
    remote.seed.git("revert", "--no-edit", "HEAD")
    remote.seed.git("push", "-q", "origin", "main")
    wait_until(lambda: served(deploy) == {"v1": 100.0}, "the revert was not delivered")
    wait_until(lambda: len(watch.events("after_delivery")) == 3, "the third delivery's command did not run")
    assert "litellm/config.yaml" in hook_log.read_text().splitlines()[-1]
    assert {line.split()[0] for line in hook_log.read_text().splitlines()} == {"unset"}
    assert (deploy / "litellm" / "config.yaml").exists()
    assert not list(deploy.glob(".relc-staging-*"))


def rolled_back_in_one_tick(remote: Remote, watches: list[Watch]) -> Watch:
    """One tick of a watcher on a fresh clone, chat's error rate breached: chat's rollout
    is reverted, delivered (v1 serves everything) and pushed."""
    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", snapshot(remote.folder, 0.3), "--ticks", "1")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    assert served(deploy) == {"v1": 100.0}
    assert remote.log()[0] == 'Revert "Start rollout of chat v2"'
    return watch


def test_a_breached_trigger_is_rolled_back_flipped_and_pushed(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    watch = rolled_back_in_one_tick(remote, watches)
    rollback = watch.events("rollback")[0]
    assert rollback["release"] == "chat" and rollback["decision_to_flip_seconds"] < 30
    assert [e["event"] for e in watch.events() if e["event"] in ("rollback", "pushed")] == ["rollback", "pushed"]


def test_a_breached_release_kept_in_a_yml_file_is_rolled_back_there(remote: Remote, watches: list[Watch]) -> None:
    """relc once looked for a release only as `chat.yaml`: the watcher could not roll back
    a breached `chat.yml`, and the candidate kept its traffic."""
    remote.seed.git("mv", "releases/chat.yaml", "releases/chat.yml")
    remote.seed.commit("Keep chat in chat.yml")
    (remote.seed.root / "releases" / "chat.yml").write_text(
        release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)  # fmt: skip
    remote.seed.commit("Start rollout of chat v2")
    remote.seed.git("push", "-q", "origin", "main")
    rolled_back_in_one_tick(remote, watches)
    pushed = subprocess.run(["git", "--git-dir", str(remote.bare), "show", "--format=", "--name-only", "main"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert "releases/chat.yml" in pushed and "releases/chat.yaml" not in pushed, pushed


def test_a_refused_push_keeps_the_rollback_in_force_and_reports_drift(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n"
                    "  [ \"$ref\" = refs/heads/main ] && { echo 'main is protected' >&2; exit 1; }\ndone\nexit 0\n")  # fmt: skip
    hook.chmod(0o755)
    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    webhook = Webhook()
    try:
        watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", snapshot(remote.folder, 0.3), "--ticks", "3",
                      "--interval", "1", environment={"RELC_ALERT_WEBHOOK_URL": webhook.url})  # fmt: skip
        watches.append(watch)
        assert watch.wait() == 0, watch.log_path.read_text()
    finally:
        webhook.close()
    assert served(deploy) == {"v1": 100.0}, "the rollback must stay in force although Git refused it"
    assert remote.log()[0] == "Start rollout of chat v2"
    drift = watch.events("drift")
    assert len(drift) >= 2 and drift[0]["releases"] == ["chat"] and drift[0]["kind"] == "refused"
    assert "relc/rollback-chat" in remote.branches()
    assert len(webhook.bodies) == 1 and "relc/rollback-chat" in webhook.bodies[0]["text"]


class GitHubApi:
    """GitHub's pulls API on 127.0.0.1, as far as the watcher uses it; it records each call."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.calls: list[tuple[str, str, dict[str, Any] | None, str]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length)) if length else None
                api.calls.append((self.command, self.path, payload, self.headers.get("Authorization", "")))
                opened = [c for c in api.calls[:-1] if c[0] == "POST"]
                if self.command == "GET":
                    body: Any = [{"number": 7}] if opened else []
                else:
                    body = {"number": 7, "html_url": "https://github.example/acme/releases/pull/7"}
                data = json.dumps(body).encode()
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = answer  # noqa: N815

            def log_message(self, *arguments: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refused_rollback_is_offered_as_a_pull_request_when_a_token_is_set(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do [ \"$ref\" = refs/heads/main ] && exit 1; done\nexit 0\n")
    hook.chmod(0o755)
    clone = remote.clone("gateway")
    github = GitHubApi()
    try:
        watch = Watch(clone, "--no-deploy", "--metrics", snapshot(remote.folder, 0.3), "--ticks", "1",
                      "--github-repository", "acme/releases", "--github-api", github.url,
                      environment={"RELC_GITHUB_TOKEN": "ghs_not-a-real-token"})  # fmt: skip
        watches.append(watch)
        assert watch.wait() == 0, watch.log_path.read_text()
    finally:
        github.close()
    method, path, payload, authorization = github.calls[-1]
    assert (method, path) == ("POST", "/repos/acme/releases/pulls") and authorization == "Bearer ghs_not-a-real-token"
    assert payload == {"head": "relc/rollback-chat", "base": "main", "title": 'Revert "Start rollout of chat v2"',
                       "body": payload["body"]} and "protected" not in payload["title"]  # fmt: skip
    assert watch.events("pull_request")[0]["url"] == "https://github.example/acme/releases/pull/7"
    assert "ghs_not-a-real-token" not in watch.log_path.read_text()


def test_two_watchers_racing_make_exactly_one_rollback_commit(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    metrics = snapshot(remote.folder, 0.3)
    clones = [remote.clone(name) for name in ("east", "west")]
    for clone in clones:
        watches.append(Watch(clone, "--deploy-dir", str(clone.parent / f"{clone.name}-deploy"), "--metrics", metrics,
                             "--ticks", "3", "--interval", "1"))  # fmt: skip
    assert [watch.wait() for watch in watches] == [0, 0]
    assert remote.log().count('Revert "Start rollout of chat v2"') == 1
    assert len(remote.log()) == 3
    heads = {subprocess.run(["git", "-C", str(c), "rev-parse", "HEAD"], capture_output=True, text=True).stdout for c in clones}
    assert len(heads) == 1, "both watchers must end on the remote's commit"
    for clone in clones:
        assert served(clone.parent / f"{clone.name}-deploy") == {"v1": 100.0}


def test_a_metrics_source_that_is_down_holds_and_alerts_once(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    clone = remote.clone("gateway")
    webhook = Webhook()
    try:
        watch = Watch(clone, "--no-deploy", "--metrics", f"http://127.0.0.1:{free_port()}", "--ticks", "4",
                      "--interval", "1", "--alert-after", "2", "--timeout", "1",
                      environment={"RELC_ALERT_WEBHOOK_URL": webhook.url})  # fmt: skip
        watches.append(watch)
        assert watch.wait() == 0, watch.log_path.read_text()
    finally:
        webhook.close()
    assert {e["decision"] for e in watch.events("decision")} == {"hold"}
    assert remote.log()[0] == "Start rollout of chat v2"
    assert len(webhook.bodies) == 1 and "failed on 2 ticks in a row" in webhook.bodies[0]["text"]


def test_sigterm_finishes_the_tick_and_health_is_served(remote: Remote, watches: list[Watch]) -> None:
    clone = remote.clone("gateway")
    port = free_port()
    watch = Watch(clone, "--no-deploy", "--interval", "1", "--listen", f"127.0.0.1:{port}")
    watches.append(watch)

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            return 0, ""

    wait_until(lambda: "relc_watch_ticks_total 2.0" in get("/metrics")[1], "the watcher did not tick twice")
    assert get("/healthz") == (200, "ok\n")
    watch.process.send_signal(signal.SIGTERM)
    assert watch.wait(seconds=30) == 0
    assert watch.events()[-1]["event"] == "stopped"


def test_a_watcher_that_lost_the_race_adopts_the_pushed_rollback(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)
    metrics = snapshot(remote.folder, 0.3)
    east, west = remote.clone("east"), remote.clone("west")
    hidden = remote.bare.with_name("away.git")
    remote.bare.rename(hidden)  # east decides while the remote is unreachable: its rollback stays local
    first = Watch(east, "--deploy-dir", str(remote.folder / "east-deploy"), "--metrics", metrics, "--ticks", "1")
    watches.append(first)
    assert first.wait() == 0
    assert first.events("rollback") and served(remote.folder / "east-deploy") == {"v1": 100.0}
    hidden.rename(remote.bare)
    second = Watch(west, "--no-deploy", "--metrics", metrics, "--ticks", "1")
    watches.append(second)
    assert second.wait() == 0 and second.events("pushed")
    third = Watch(east, "--deploy-dir", str(remote.folder / "east-deploy"), "--metrics", metrics, "--ticks", "1")
    watches.append(third)
    assert third.wait() == 0, third.log_path.read_text()
    assert third.events("adopted"), third.log_path.read_text()
    assert remote.log().count('Revert "Start rollout of chat v2"') == 1 and len(remote.log()) == 3


def test_with_promote_a_healthy_candidate_past_its_hold_is_promoted_and_pushed(remote: Remote, watches: list[Watch]) -> None:
    start_rollout(remote)  # dated hours ago: the 1h hold has passed
    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    healthy = snapshot(remote.folder, 0.01)
    without = Watch(clone, "--deploy-dir", str(deploy), "--metrics", healthy, "--ticks", "1")
    watches.append(without)
    assert without.wait() == 0 and remote.log()[0] == "Start rollout of chat v2", "no promotion without --promote"
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", healthy, "--ticks", "1", "--promote")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    assert remote.log()[0] == "Promote chat: v2 to step 2 of 2 (canary 50%)"
    assert served(deploy) == {"v1": 50.0, "v2": 50.0}


def test_a_candidate_within_its_hold_is_not_promoted(remote: Remote, watches: list[Watch]) -> None:
    """Each tick times the hold from the commit that entered the step (read once for
    every release, then remembered): healthy metrics do not promote before it ends."""
    remote.seed.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)
    remote.seed.commit("Start rollout of chat v2 now", when=int(time.time()))
    remote.seed.git("push", "-q", "origin", "main")
    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    healthy = snapshot(remote.folder, 0.01)
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", healthy, "--ticks", "2", "--interval", "1", "--promote")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    decisions = watch.events("decision")
    assert [decision["decision"] for decision in decisions] == ["hold", "hold"], watch.log_path.read_text()
    assert all("the step's hold ends at" in decision["reasons"][-1] for decision in decisions)
    assert remote.log()[0] == "Start rollout of chat v2 now"


def test_a_step_promoted_on_the_remote_during_a_rollback_holds_from_its_own_start(remote: Remote, watches: list[Watch]) -> None:
    """The tick rolls back alpha; meanwhile someone pushes chat's promotion to step 2
    (here, the delivery hook pushes it), so the rollback is rebased onto it. chat, read
    after the rebase, is at a step that began just now: its hold is timed from there,
    not from where step 1 began hours ago, and a healthy chat is not promoted again."""
    seed = remote.seed
    for name in ("alpha", "chat"):
        seed.write(name, release_text(name, ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)
    seed.commit("Start rollouts of alpha and chat")  # dated hours ago: step 1's hold has passed
    seed.git("push", "-q", "origin", "main")
    seed.git("switch", "-q", "-c", "promote-chat")
    seed.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2) + TRIGGERS)
    seed.commit("Promote chat to step 2", when=int(time.time()))
    seed.git("switch", "-q", "main")

    def metrics(alpha_errors: float) -> str:
        path = remote.folder / f"metrics-alpha-{alpha_errors}.json"
        path.write_text(json.dumps({"metrics": [
            {"release": name, "version": "v2", "metric": "error_rate", "value": value, "samples": 500}
            for name, value in (("alpha", alpha_errors), ("chat", 0.01))
        ]}))  # fmt: skip
        return str(path)

    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    delivered = Watch(clone, "--deploy-dir", str(deploy), "--metrics", metrics(0.01), "--ticks", "1")
    watches.append(delivered)
    assert delivered.wait() == 0 and remote.log()[0] == "Start rollouts of alpha and chat", delivered.log_path.read_text()
    push_promotion = f"git -C {seed.root} push -q origin promote-chat:main"
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", metrics(0.3), "--ticks", "1", "--promote",
                  "--after-delivery", push_promotion)  # fmt: skip
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    decisions = {event["release"]: event for event in watch.events("decision")}
    assert decisions["alpha"]["decision"] == "rollback" and watch.events("rollback_on_remote"), watch.log_path.read_text()
    assert decisions["chat"]["decision"] == "hold", watch.log_path.read_text()
    assert "the step's hold ends at" in decisions["chat"]["reasons"][-1]
    assert remote.log()[1:3] == ["Promote chat to step 2", "Start rollouts of alpha and chat"], remote.log()


def test_a_rollback_reaches_the_branch_and_then_judges_a_release_changed_there_as_it_stands(
    remote: Remote, watches: list[Watch]
) -> None:
    """The tick rolls back alpha; meanwhile someone aborts chat's rollout on the branch
    (the delivery hook pushes it). Both commits changed the same lines of rendered/ (the
    two releases sit side by side there), nothing else: the rollback is rebased with
    rendered/ made again from the merged releases, and reaches the branch. chat,
    evaluated after that, has nothing in rollout any more: it holds, though its old
    candidate's metrics breach, and no rollback of it is attempted on the strength of the
    file as the tick's first check read it."""
    seed = remote.seed
    for name in ("alpha", "chat"):
        seed.write(name, release_text(name, ["v1", "v2"], stable="v1", candidate="v2", step=1) + TRIGGERS)
    seed.commit("Start rollouts of alpha and chat")
    seed.git("push", "-q", "origin", "main")
    seed.git("switch", "-q", "-c", "abort-chat")
    seed.write("chat", release_text("chat", ["v1", "v2"], stable="v1") + TRIGGERS)
    seed.commit("Abort chat's rollout")
    seed.git("switch", "-q", "main")
    metrics = remote.folder / "metrics-both-breached.json"
    metrics.write_text(json.dumps({"metrics": [
        {"release": name, "version": "v2", "metric": "error_rate", "value": 0.3, "samples": 500} for name in ("alpha", "chat")
    ]}))  # fmt: skip

    clone, deploy = remote.clone("gateway"), remote.folder / "deploy"
    watch = Watch(clone, "--deploy-dir", str(deploy), "--metrics", str(metrics), "--ticks", "1",
                  "--after-delivery", f"git -C {seed.root} push -q origin abort-chat:main")  # fmt: skip
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    decisions = {event["release"]: event["decision"] for event in watch.events("decision")}
    assert decisions == {"alpha": "rollback", "chat": "hold"}, watch.log_path.read_text()
    assert watch.events("rollback_on_remote") and not watch.events("superseded"), watch.log_path.read_text()
    assert not watch.events("rollback_failed"), watch.log_path.read_text()
    assert remote.log()[:2] == ["Abort rollout of alpha: all traffic back to v1", "Abort chat's rollout"], remote.log()
    published = remote.clone("published")
    assert relc(published, "check") == 0, "the branch's rendered/ is what its releases render"
    assert "candidate" not in (published / "releases" / "alpha.yaml").read_text()


def test_a_watcher_killed_mid_rebase_is_followed_by_one_that_starts_from_its_branch(remote: Remote, watches: list[Watch]) -> None:
    """A kill while a rollback was being rebased leaves the clone mid-rebase, on no branch.
    The next watcher aborts that rebase (relc's, by its mark; a person's it refuses to
    touch), says so, and brings the rollback to the remote as usual (here the remote
    changed chat too: Git wins)."""
    start_rollout(remote)
    clone = remote.clone("gateway")
    assert relc(clone, "rollback", "chat") == 0
    remote.publish("Move chat to step 2", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2) + TRIGGERS)
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=clone, check=True)
    began = [subprocess.run(["git", "rev-parse", revision], cwd=clone, capture_output=True, text=True).stdout.strip()
             for revision in ("origin/main", "HEAD")]  # fmt: skip
    stopped = subprocess.run(["git", "rebase", "origin/main"], cwd=clone, capture_output=True)
    assert stopped.returncode != 0 and (clone / ".git" / "rebase-merge").exists(), stopped.stderr
    refused = Watch(clone, "--no-deploy", "--ticks", "1")
    watches.append(refused)
    assert refused.wait() == 1 and "relc did not start it" in refused.log_path.read_text(), "a person's rebase is theirs"
    (clone / ".git" / "relc-rebasing").write_text("\n".join(began) + "\n")  # the mark relc's own rebase carries
    watch = Watch(clone, "--no-deploy", "--ticks", "1")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    events = [event["event"] for event in watch.events()]
    assert events.index("rebase_aborted") < events.index("superseded"), watch.log_path.read_text()
    assert not (clone / ".git" / "rebase-merge").exists()
    assert subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip() == "main"


def test_a_release_that_fails_its_checks_is_said_to_go_unwatched(remote: Remote, watches: list[Watch]) -> None:
    """A merged release file with an error cannot be evaluated: its guardrails are off.
    The watcher says so once a commit, with the problem, and alerts once; the others
    are evaluated as usual."""
    start_rollout(remote)
    broken = release_text("talk", ["v1", "v2"], stable="v1", candidate="v2", step=9) + TRIGGERS
    remote.seed.write("talk", broken)
    remote.seed.commit("Add talk, at a step it does not have", build=False)
    remote.seed.git("push", "-q", "origin", "main")
    clone = remote.clone("gateway")
    webhook = Webhook()
    try:
        watch = Watch(clone, "--no-deploy", "--metrics", snapshot(remote.folder, 0.01), "--ticks", "2", "--interval", "1",
                      environment={"RELC_ALERT_WEBHOOK_URL": webhook.url})  # fmt: skip
        watches.append(watch)
        assert watch.wait() == 0, watch.log_path.read_text()
    finally:
        webhook.close()
    noted = watch.events("not_evaluated")
    assert len(noted) == 1 and noted[0]["files"] == ["releases/talk.yaml"], watch.log_path.read_text()
    assert any("RELC206" in problem for problem in noted[0]["problems"]), noted
    assert len(webhook.bodies) == 1 and "releases/talk.yaml" in webhook.bodies[0]["text"]
    assert [e["release"] for e in watch.events("decision")] == ["chat", "chat"], "chat is evaluated each tick"


def test_a_release_kept_in_two_files_is_not_acted_on(remote: Remote, watches: list[Watch]) -> None:
    """`chat.yaml` and `chat.yml` both hold chat (RELC214): the watcher took `chat.yaml`
    for the release and acted on its breach. Neither file is the release: it is said to go
    unwatched, as any release file that fails its checks."""
    start_rollout(remote)
    (remote.seed.root / "releases" / "chat.yml").write_text((remote.seed.root / "releases" / "chat.yaml").read_text())
    remote.seed.commit("Copy chat to chat.yml", build=False)
    remote.seed.git("push", "-q", "origin", "main")
    watch = Watch(remote.clone("gateway"), "--no-deploy", "--metrics", snapshot(remote.folder, 0.3), "--ticks", "1")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    assert watch.events("decision") == [] and watch.events("rollback") == [], watch.log_path.read_text()
    noted = watch.events("not_evaluated")
    assert len(noted) == 1 and any("RELC214" in problem for problem in noted[0]["problems"]), noted


def test_superseded_names_only_the_releases_the_watcher_changed(remote: Remote, watches: list[Watch]) -> None:
    """chat was rolled back here while the branch moved chat on and also changed talk:
    Git wins, and the event names chat, the release whose rollback was given up."""
    start_rollout(remote)
    clone = remote.clone("gateway")
    assert relc(clone, "rollback", "chat") == 0
    remote.seed.write("talk", release_text("talk", ["v1", "v2"], stable="v1") + TRIGGERS)
    remote.publish("Move chat to step 2", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=2) + TRIGGERS)
    watch = Watch(clone, "--no-deploy", "--ticks", "1")
    watches.append(watch)
    assert watch.wait() == 0, watch.log_path.read_text()
    superseded = watch.events("superseded")
    assert len(superseded) == 1 and superseded[0]["releases"] == ["chat"], watch.log_path.read_text()
