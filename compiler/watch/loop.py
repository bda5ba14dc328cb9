"""The watcher's tick: sync with the remote, deliver what changed, evaluate, act.

Order matters for a rollback: commit locally, flip the gateway's files, then push. The
flip never waits for the network, and Git's push arbitrates between watchers: a push
that finds the same rollback already on the remote drops its own commit (an empty
rebase) instead of adding a second one. A refused push keeps the rollback in force and
reports drift until the remote branch says the same.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from compiler import git
from compiler.errors import RelcError
from compiler.metrics import MetricError, MetricQuery, MetricSource, Observation
from compiler.triggers import Decision
from compiler.watch.health import EventLog, WatchHealth

if TYPE_CHECKING:
    from compiler.registry import Registry
    from compiler.validate import ValidationResult
    from compiler.watch.pull_request import PullRequestTarget

PUSH_ATTEMPTS = 3
MAX_LOGGED_PROBLEMS = 20  # of the release files not evaluated, in their log line
DRIFT_BRANCH_PREFIX = "relc/rollback-"


@dataclass(frozen=True)
class WatchOptions:
    root: Path
    remote: str = "origin"
    branch: str = "main"
    interval: float = 5.0
    deploy_dir: Path | None = None
    promote: bool = False
    webhook_env: str = "RELC_ALERT_WEBHOOK_URL"
    alert_after: int = 3
    # Run after each delivery that wrote files (a gateway that reads files only at start:
    # restart it, or call its admin API). An operator's command, never from a release.
    after_delivery: tuple[str, ...] = ()
    # Where a refused rollback is offered for review; None: only the branch is pushed.
    pull_requests: "PullRequestTarget | None" = None
    # With --sync-registry: the registry whose aliases follow what the branch says runs.
    registry: "Registry | None" = None


class CountingSource:
    """A metric source that counts its failures, so a source that is down is noticed."""

    def __init__(self, inner: MetricSource) -> None:
        self.inner = inner
        self.description = inner.description
        self.failures = 0

    def observe(self, query: MetricQuery) -> Observation:
        try:
            return self.inner.observe(query)
        except MetricError:
            self.failures += 1
            raise

    def answers(self) -> set[str]:
        return self.inner.answers()


@dataclass
class Watcher:
    options: WatchOptions
    source: CountingSource | None
    log: EventLog
    health: WatchHealth
    clock: Callable[[], float] = time.time
    delivered_head: str | None = None
    alerted: set[tuple[str, ...]] = field(default_factory=set)
    failing_ticks: int = 0
    registry_synced_head: str | None = None
    invalid_noted_head: str | None = None

    @property
    def root(self) -> Path:
        return self.options.root

    def run(self, stop: threading.Event, ticks: int | None = None) -> None:
        """Tick every interval until `stop` is set (SIGTERM): the current tick always finishes."""
        done = 0
        while not stop.is_set() and (ticks is None or done < ticks):
            self.tick()
            done += 1
            if ticks is None or done < ticks:
                stop.wait(self.options.interval)

    def tick(self) -> None:
        try:
            self.sync()
            self.deliver_if_changed("new commit")
            if self.source is not None:
                self.evaluate_all()
            self.sync_registry()
        except (RelcError, OSError) as error:  # one bad tick (a full disk too) must not stop the loop
            self.log("tick_failed", error=str(error))
        with self.health.lock:
            self.health.ticks += 1
            self.health.last_tick_end = self.clock()

    # Git: fetch, fast-forward, or bring local commits (our rollbacks) to the remote.

    def sync(self) -> None:
        try:
            remote_head = git.fetch(self.root, self.options.remote, self.options.branch)
        except git.GitError as error:
            self.log("fetch_failed", error=str(error))
            return
        local = git.head(self.root)
        if local == remote_head:
            self.clear_drift()
            return
        if git.is_ancestor(self.root, local, remote_head):
            git.fast_forward(self.root, remote_head)
            self.log("fast_forward", commit=remote_head)
            self.clear_drift()
            return
        self.bring_to_remote(remote_head)

    def bring_to_remote(self, remote_head: str) -> bool:
        """Rebase local commits on the remote branch and push them, retrying a lost race;
        True when the remote branch then holds them (pushed, or adopted). Where others'
        commits changed other releases, the rendered files both changed are rendered again
        from the merged releases: a rollback is never dropped over generated lines."""
        from compiler.render import RENDERED_DIR
        from compiler.watch.deliver import deliver

        def render_again() -> None:
            """rendered/ made from the merged releases, as `relc build` writes it."""
            deliver(self.root, self.root / RENDERED_DIR, inside=self.root)

        for _ in range(PUSH_ATTEMPTS):
            if not git.is_ancestor(self.root, remote_head, git.head(self.root)):
                if not git.rebase_onto(self.root, remote_head, RENDERED_DIR, render_again):
                    # Someone changed the same release on the branch since (or the merged
                    # releases are not valid together): Git decides, and the next tick
                    # evaluates what it now says.
                    releases = self.unpushed_releases()
                    git.reset_to(self.root, remote_head)
                    self.log("superseded", releases=releases, commit=remote_head,
                             detail="the remote branch changed the same release; its version now runs")  # fmt: skip
                    self.clear_drift()
                    return False
                if git.head(self.root) == remote_head:
                    self.log("adopted", commit=remote_head, detail="the remote branch already has this change")
                    self.count_push("adopted")
                    self.clear_drift()
                    return True
            result = git.push(self.root, self.options.remote, "HEAD", self.options.branch)
            if result.outcome == "pushed":
                self.log("pushed", commit=git.head(self.root))
                self.count_push("pushed")
                self.clear_drift()
                return True
            if result.outcome == "refused":
                self.count_push("refused")
                self.report_drift("refused", result.message)
                return False
            self.count_push("behind")
            try:
                remote_head = git.fetch(self.root, self.options.remote, self.options.branch)
            except git.GitError as error:
                self.log("fetch_failed", error=str(error))
                return False
        self.report_drift("behind", f"the remote branch kept moving through {PUSH_ATTEMPTS} attempts; retrying next tick")
        return False

    def count_push(self, outcome: str) -> None:
        with self.health.lock:
            self.health.pushes[outcome] += 1

    def report_drift(self, kind: str, detail: str) -> None:
        """The rollback stays in force here; say so every tick until Git catches up."""
        releases = self.unpushed_releases()
        first = not self.health.drift
        with self.health.lock:
            self.health.drift = {release: detail for release in releases} or {"(unknown)": detail}
        self.log("drift", kind=kind, releases=releases, detail=detail)
        if first and kind == "refused":
            branch = self.drift_branch(releases)
            review = self.push_drift_branch(branch, releases, detail)
            self.alert_text(
                ("drift", *releases),
                f"relc watch: the rollback of {', '.join(releases)} is in force on this gateway but the push to "
                f"{self.options.remote}/{self.options.branch} was refused ({detail}). Merge {review} so that "
                "Git says what runs.",
            )

    def clear_drift(self) -> None:
        if self.health.drift:
            self.log("drift_resolved", releases=sorted(self.health.drift))
            with self.health.lock:
                self.health.drift = {}
            self.incident_over("drift")

    def unpushed_releases(self) -> list[str]:
        """The releases this clone's own commits changed, since its history left the
        remote's: not those the remote changed meanwhile."""
        remote_ref = f"refs/remotes/{self.options.remote}/{self.options.branch}"
        return git.changed_release_names(self.root, git.merge_base(self.root, remote_ref, "HEAD"), "HEAD")

    def drift_branch(self, releases: list[str]) -> str:
        return DRIFT_BRANCH_PREFIX + "-".join(releases or ["releases"])

    def push_drift_branch(self, branch: str, releases: list[str], detail: str) -> str:
        """Offer the rollback for review on a fixed branch (forced on each incident) and, with a
        token, in a pull request opened or updated on it; what a person should merge."""
        result = git.push(self.root, self.options.remote, "HEAD", branch, force=True)
        self.log("drift_branch", branch=branch, outcome=result.outcome, detail=result.message)
        target = self.options.pull_requests
        if target is None or result.outcome != "pushed":
            return f"the branch {branch}"
        from compiler.watch.pull_request import PullRequestError, open_or_update

        subject = git.commit_subject(self.root, "HEAD")
        body = (f"relc watch rolled back {', '.join(releases)} on its gateway, but the push to "
                f"`{self.options.branch}` was refused ({detail}). The rollback is in force there now; merge this "
                "so that Git says what runs. The watcher reports drift until it is merged.")  # fmt: skip
        try:
            url = open_or_update(target, branch, self.options.branch, subject, body)
        except PullRequestError as error:
            self.log("pull_request_failed", branch=branch, error=str(error))
            return f"the branch {branch}"
        self.log("pull_request", branch=branch, url=url)
        return f"{url} (branch {branch})"

    # Delivery.

    def deliver_if_changed(self, reason: str) -> None:
        head = git.head(self.root)
        if head != self.delivered_head:
            self.deliver(reason)

    def deliver(self, reason: str) -> None:
        head = git.head(self.root)
        if self.options.deploy_dir is None:
            self.delivered_head = head
            return
        from compiler.watch.deliver import deliver

        try:
            delivery = deliver(self.root, self.options.deploy_dir)
        except RelcError as error:
            self.log("delivery_failed", commit=head, error=str(error))
            self.delivered_head = head  # the same commit stays bad: say so once, not every tick
            return
        self.delivered_head = head
        with self.health.lock:
            self.health.deliveries += 1
        self.log("delivered", commit=head, reason=reason, written=list(delivery.written), removed=list(delivery.removed))
        if self.options.after_delivery and (delivery.written or delivery.removed):
            self.run_after_delivery(delivery.written + delivery.removed)

    def run_after_delivery(self, changed: tuple[str, ...]) -> None:
        """The operator's command, with the changed files in $RELC_DELIVERED_FILES."""
        import subprocess

        from compiler.environment import users_environment

        environment = {**users_environment(), "RELC_DELIVERED_FILES": " ".join(changed),
                       "RELC_DEPLOY_DIR": str(self.options.deploy_dir or "")}  # fmt: skip
        try:
            completed = subprocess.run(list(self.options.after_delivery), env=environment, capture_output=True,
                                       text=True, timeout=120, check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as error:
            self.log("after_delivery_failed", error=f"{type(error).__name__}: {error}")
            return
        event = "after_delivery" if completed.returncode == 0 else "after_delivery_failed"
        self.log(event, exit_status=completed.returncode, output=(completed.stdout + completed.stderr)[-500:])

    # The registry follows Git: after the flip and the push, never before them.

    def sync_registry(self) -> None:
        """Move the registry's aliases to what the checked-out commit says; a registry that
        fails is logged, counted, and tried again next tick (the sync is idempotent)."""
        registry = self.options.registry
        if registry is None:
            return
        head = git.head(self.root)
        if head == self.registry_synced_head:
            return
        from compiler.registry import RegistryError, references
        from compiler.cache import open_cache
        from compiler.registry.sync import sync_release
        from compiler.validate import validate_paths

        releases = self.root / "releases"
        result = validate_paths([releases], self.root, cache=open_cache(self.root), keep_releases=False) if releases.is_dir() else None
        checked = result.releases if result else []
        with self.health.lock:
            self.health.registry_pending = True
        try:
            named = sorted((c for c in checked if c.facts.registry_references), key=lambda c: c.name)
            for release in (c.release for c in named if references(c.release)):
                moves = sync_release(registry, release, head)
                if moves:
                    self.log("registry_synced", release=release.name, commit=head, moves=[str(m) for m in moves])
        except RegistryError as error:
            with self.health.lock:
                self.health.registry_sync_failures += 1
            self.log("registry_sync_failed", commit=head, error=str(error), detail="retried next tick")
            return
        self.registry_synced_head = head
        with self.health.lock:
            self.health.registry_pending = False

    # Evaluation and action.

    def evaluate_all(self) -> None:
        from compiler.cache import open_cache
        from compiler.evaluate import evaluate
        from compiler.validate import validate_paths

        assert self.source is not None
        self.source.failures = 0
        # Every tick: from the cache's facts, an unchanged release costs no parse.
        releases = self.root / "releases"
        cache = open_cache(self.root)  # one for the tick: its packs are opened once
        result = validate_paths([releases], self.root, cache=cache, keep_releases=False) if releases.is_dir() else None
        self.note_invalid_releases(result)
        names = sorted(c.name for c in (result.releases if result else []) if c.facts.candidate)
        # Each release as that check found it, until a commit of this tick changes the worktree.
        checked = {c.name: c for c in result.releases} if result else {}
        began = self.steps_began(names)
        for name in names:
            decision = evaluate(self.root, name, self.source, now=self.clock(), began=began, cache=cache,
                                checked=checked.get(name))  # fmt: skip
            decided_at = time.monotonic()
            with self.health.lock:
                self.health.decisions[(name, decision.action)] += 1
            self.log("decision", release=name, decision=decision.action, subject=decision.subject,
                     reasons=list(decision.reasons))  # fmt: skip
            self.act(decision, decided_at)
            if decision.action == "rollback" or (decision.action == "promote" and self.options.promote):
                # A commit, and maybe a rebase onto others' commits: steps may have moved, and
                # any release file may have changed (each is checked again as it then stands).
                began = self.steps_began(names)
                checked = {}
        self.note_source_health(names)

    def note_invalid_releases(self, result: "ValidationResult | None") -> None:
        """A release file that fails its checks is not evaluated: its triggers guard
        nothing until it is fixed. Said once a commit in the log (`not_evaluated`, with
        the problems), and alerted once while the same files fail."""
        from compiler.diagnostics import Severity

        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR] if result else []
        failing = sorted({d.path for d in errors})
        if not failing:
            self.incident_over("invalid-releases")
            return
        head = git.head(self.root)
        if head != self.invalid_noted_head:
            self.invalid_noted_head = head
            self.log("not_evaluated", commit=head, files=failing, problems=[d.as_text() for d in errors[:MAX_LOGGED_PROBLEMS]],
                     detail="these release files do not pass their checks: no trigger of theirs is evaluated")  # fmt: skip
        self.alert_text(("invalid-releases", *failing),
                        f"relc watch evaluates no trigger of {', '.join(failing)}: the file(s) do not pass their checks "
                        f"(`relc validate` says why), so no rollback can happen there until they are fixed")  # fmt: skip

    def steps_began(self, names: list[str]) -> "dict[str, git.Commit | None] | None":
        """Where each release's step began, from one walk of history that the cache
        remembers by commit: a tick reads no history while HEAD stands still, and only the
        new commits after one (a walk of a release's history each took a quarter of a second
        at 10,000 commits, and delayed every decision after it). None when history cannot
        tell: each evaluation then says why."""
        from compiler.cache import open_cache
        from compiler.history import steps_began

        try:
            return steps_began(self.root, "HEAD", names, open_cache(self.root)) if names else {}
        except git.GitError:
            return None

    def note_source_health(self, evaluated: list[str]) -> None:
        assert self.source is not None
        if not evaluated:
            return
        if self.source.failures == 0:
            self.failing_ticks = 0
            self.incident_over("source-down")
            with self.health.lock:
                self.health.last_successful_evaluation = self.clock()
            return
        self.failing_ticks += 1
        with self.health.lock:
            self.health.evaluation_errors += self.source.failures
        if self.failing_ticks >= self.options.alert_after:
            self.alert_text(
                ("source-down", self.source.description),
                f"relc watch: the metrics source {self.source.description} failed on {self.failing_ticks} ticks in a row; "
                f"{', '.join(evaluated)} hold (no data never promotes) until it answers again.",
            )

    def act(self, decision: Decision, decided_at: float) -> None:
        if decision.action == "rollback":
            self.commit_and_flip("rollback", decision, decided_at)
        elif decision.action == "alert":
            from compiler.alert import alert_message, incident

            # Keyed by release first, so incident_over("alert", release) ends them all.
            self.alert_message(("alert", decision.release, incident(decision)), alert_message(decision))
            return
        self.incident_over("alert", decision.release)
        if decision.action == "promote" and self.options.promote:
            self.commit_and_flip("promote", decision, decided_at)

    def commit_and_flip(self, kind: str, decision: Decision, decided_at: float) -> None:
        from compiler.changes import apply
        from compiler.evaluate import evidence
        from compiler.promote import plan_promote
        from compiler.rollback import plan_rollback

        try:
            if kind == "rollback":
                fired = decision.breached("rollback")[0]
                change = plan_rollback(self.root, decision.release, reason=f"relc watch: {fired.detail}",
                                       trigger=fired.trigger.name, evidence=evidence(decision))  # fmt: skip
            else:
                change = plan_promote(self.root, decision.release, now=self.clock(), evidence=evidence(decision))
            commit = apply(self.root, change)
        except RelcError as error:
            self.log(f"{kind}_failed", release=decision.release, error=str(error))
            self.alert_text((f"{kind}-failed", decision.release), f"relc watch could not {kind} {decision.release}: {error}")
            return
        self.deliver(kind)
        flip = time.monotonic() - decided_at
        with self.health.lock:
            self.health.flip_seconds.append(flip)
        self.log(kind, release=decision.release, commit=commit, decision_to_flip_seconds=round(flip, 4),
                 subject=change.message.splitlines()[0])  # fmt: skip
        remote_head = self.remote_head()
        if remote_head is not None and self.bring_to_remote(remote_head):
            self.log(f"{kind}_on_remote", release=decision.release, commit=git.head(self.root),
                     decision_to_remote_seconds=round(time.monotonic() - decided_at, 4))  # fmt: skip

    def remote_head(self) -> str | None:
        try:
            return git.fetch(self.root, self.options.remote, self.options.branch)
        except git.GitError as error:
            self.log("fetch_failed", error=str(error))
            return None

    # Alerts: once per incident, never the webhook's URL.

    def incident_over(self, *prefix: str) -> None:
        """An incident that ended may alert again when it comes back."""
        self.alerted = {incident for incident in self.alerted if incident[: len(prefix)] != prefix}

    def alert_text(self, incident: tuple[str, ...], text: str) -> None:
        self.alert_message(incident, {"text": text})

    def alert_message(self, incident: tuple[str, ...], message: dict) -> None:
        if incident in self.alerted:
            return
        from compiler.alert import AlertError, post_message

        url = os.environ.get(self.options.webhook_env)
        if not url:
            self.log("alert_not_sent", incident=list(incident), detail=f"${self.options.webhook_env} is not set")
            self.alerted.add(incident)
            return
        try:
            post_message(url, message)
        except AlertError as error:
            self.log("alert_failed", incident=list(incident), error=str(error))
            return  # tried again next tick
        self.alerted.add(incident)
        self.log("alerted", incident=list(incident))
