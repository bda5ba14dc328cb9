"""`relc watch`: the long-running agent beside a gateway (see compiler/watch/)."""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.commands.common import ROOT, metric_source
from compiler.errors import EXIT_OK, UsageError
from compiler.reporter import Reporter

if TYPE_CHECKING:
    from compiler.registry import Registry
    from compiler.watch.pull_request import PullRequestTarget


def _pull_request_target(arguments: argparse.Namespace) -> "PullRequestTarget | None":
    """Pull requests for refused rollbacks, when a token is configured."""
    import os

    from compiler import git
    from compiler.watch.pull_request import PullRequestTarget, repository_from_remote

    token = os.environ.get(arguments.github_token_env)
    if not token:
        return None
    repository = arguments.github_repository or repository_from_remote(git.remote_url(ROOT, arguments.remote))
    if repository is None:
        raise UsageError(f"${arguments.github_token_env} is set but {arguments.remote} is not a GitHub remote: "
                         "name the repository with --github-repository OWNER/NAME")  # fmt: skip
    return PullRequestTarget(repository, token, arguments.github_api)


def _registry(arguments: argparse.Namespace) -> "Registry | None":
    if not arguments.sync_registry:
        return None
    from compiler.registry.sync import registry_for_sync

    return registry_for_sync(arguments.registry, timeout=arguments.timeout)  # a tick never waits long on it


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler import git
    from compiler.watch.health import EventLog, WatchHealth, serve_health
    from compiler.watch.loop import CountingSource, Watcher, WatchOptions

    if arguments.deploy_dir is None and not arguments.no_deploy:
        raise UsageError("say where the gateway reads its files with --deploy-dir DIR, or pass --no-deploy "
                         "when Argo CD or Flux delivers rendered/")  # fmt: skip
    if arguments.after_delivery and arguments.no_deploy:
        raise UsageError("--after-delivery runs after a delivery into --deploy-dir; with --no-deploy there is none")
    # The clone is the watcher's own: a rebase left stopped is one a killed watcher began.
    rebase_aborted = git.abort_interrupted_rebase(ROOT)
    if git.current_branch(ROOT) is None:
        raise UsageError("relc watch needs a clone with a branch checked out (it fast-forwards and commits on it)")
    options = WatchOptions(
        root=ROOT,
        remote=arguments.remote,
        branch=arguments.branch or git.current_branch(ROOT) or "main",
        interval=arguments.interval,
        deploy_dir=None if arguments.no_deploy else Path(arguments.deploy_dir).resolve(),
        promote=arguments.promote,
        webhook_env=arguments.webhook_env,
        alert_after=arguments.alert_after,
        pull_requests=_pull_request_target(arguments),
        after_delivery=tuple(shlex.split(arguments.after_delivery)) if arguments.after_delivery else (),
        registry=_registry(arguments),
    )
    source = None
    if arguments.metrics or (ROOT / "relc.yaml").exists():
        source = CountingSource(metric_source(arguments.metrics, arguments.queries, arguments.timeout))
    health = WatchHealth(interval=options.interval)
    log = EventLog(reporter.out)
    server = None
    if arguments.listen:
        host, port = arguments.listen
        server = serve_health(health, host, port)
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    log("started", remote=options.remote, branch=options.branch, interval=options.interval,
        deploy_dir=str(options.deploy_dir) if options.deploy_dir else None,
        metrics=source.description if source else None,
        listen=f"{arguments.listen[0]}:{server.server_address[1]}" if server else None)  # fmt: skip
    if rebase_aborted:
        log("rebase_aborted", branch=options.branch,
            detail="a watcher was stopped while rebasing its commits; they stand again and are brought to the remote")  # fmt: skip
    try:
        Watcher(options, source, log, health).run(stop, ticks=arguments.ticks)
    finally:
        if server is not None:
            server.shutdown()
        log("stopped", ticks=health.ticks)
    return EXIT_OK
