"""The `relc` command line: parse arguments, call the core, print, set the exit code.

It only parses and dispatches: each command's body is `compiler/commands/<command>.py`.
Exit status: 0 when everything checked is valid, 1 when any problem was found, 2 for
usage errors. Heavy modules are imported inside the commands that need them, so that
`relc --help` and `relc validate` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from compiler import __version__
from compiler.environment import run_no_pydantic_plugins
from compiler.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_USAGE, RelcError, UsageError
from compiler.reporter import FORMATS, Reporter

DESCRIPTION = """\
relc compiles LLM release specs (releases/<name>.yaml) into gateway configs.
A release declares immutable serving bundles, a rollout (shadow, canary steps)
and triggers; Git holds all state, and rollback is a revert commit.
"""

EPILOG = """\
exit status: 0 success, 1 problems found or the operation refused, 2 usage error (also
an unknown release or revision, for every command), 70 an internal error (a bug in relc:
please report it). relc evaluate also uses 3 hold, 4 alert and 5 rollback.
environment: RELC_JOBS=N does the work the cache lacks (checking releases, parsing history)
in N processes (default: one per core, at most 8; 1 turns the workers off).
docs: README.md and docs/diagnostics.md (every diagnostic code).
"""


def _seconds(low: float, high: float) -> Any:
    """An argparse type: a finite number of seconds in [low, high], or a usage error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not low <= value <= high:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g} seconds, got {text}")
        return value

    return parse


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1000000, got {text!r}")
    return int(text)


def _release_name(text: str) -> str:
    """NAME, or the path of its file (`releases/support-chat.yaml`, tab-completed)."""
    if text.endswith((".yaml", ".yml")) or "/" in text:
        name = text.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if name:
            return name
    return text


def _address(text: str) -> tuple[str, int]:
    """HOST:PORT for the watcher's health server (port 0 picks a free one)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:9109, got {text!r}")
    return host.strip("[]"), int(port)


REGISTRY_URI_HELP = "the MLflow tracking server for --sync-registry (default: $RELC_MLFLOW_URI)"


def _registry_sync_options(parser: argparse.ArgumentParser) -> None:
    """--sync-registry and --registry, for the commands that commit a rollout change."""
    parser.add_argument(
        "--sync-registry", action="store_true",
        help="after the commit, move the MLflow aliases champion (stable), challenger (candidate) and previous, "
        "and tag the versions with the commit; a registry that fails is reported and never undoes the commit",
    )  # fmt: skip
    parser.add_argument("--registry", metavar="URI", help=REGISTRY_URI_HELP)


def _command(commands: Any, name: str, help: str, description: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
    """A subcommand whose --help keeps the description's wording and ends with the exit codes."""
    return commands.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _no_cache_option(command: argparse.ArgumentParser, afresh: str = "check and render every release afresh") -> None:
    command.add_argument(
        "--no-cache", action="store_true",
        help=f"{afresh}, without reading or writing the release cache (.git/relc-cache); the result is the same either way",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relc", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"relc {__version__}")
    parser.add_argument(
        "-C", dest="directory", metavar="DIR", help="run as if started in DIR (the repository root); default: here"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = _command(
        commands,
        "validate",
        help="check release files and their prompt templates",
        description="Check release files: YAML safety, the spec, rollout and trigger rules, prompt templates "
        "(path, sha256, sandbox) and literal secrets. Reports every problem, one line each, as "
        "FILE:LINE:COL: SEVERITY CODE: MESSAGE.",
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="release files or folders (default: releases/)")
    validate.add_argument(
        "--registry", metavar="URI",
        help="also resolve each bundle's model.registry reference on this MLflow tracking server (default: "
        "$RELC_MLFLOW_URI; without either, references are not checked and a note says how many)",
    )  # fmt: skip
    validate.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json, or github (workflow annotations that show on pull request lines)",
    )
    _no_cache_option(validate)

    build = _command(
        commands,
        "build",
        help="render every release into rendered/",
        description="Validate every release in releases/ and render the gateway configs and bundle manifests into "
        "rendered/. Nothing is written unless every release is valid; each changed file is replaced atomically "
        "(Envoy picks up a new render without a restart), files no release produces are removed, and a link "
        "there is replaced by a file (never written through).",
    )
    build.add_argument("--format", choices=FORMATS, default="text", help="format of any diagnostics")
    _no_cache_option(build)
    build.add_argument(
        "--allow-empty", action="store_true",
        help="when releases/ holds no release, empty rendered/ (refused without this flag, so a lost folder "
        "never deletes every gateway's routes)",
    )  # fmt: skip

    check = _command(
        commands,
        "check",
        help="fail when rendered/ or schemas/ is stale (the CI gate)",
        description="Validate every release, re-render in memory and compare with rendered/ and the published "
        "schema. Exit 1 with a unified diff when anything is stale (a link in rendered/ is stale too, and never "
        "read); writes nothing.",
    )
    check.add_argument("--format", choices=FORMATS, default="text", help="format of diagnostics")
    _no_cache_option(check)
    check.add_argument(
        "--base",
        metavar="REV",
        help="also fail when a bundle version published in the history of REV (a PR's base) has other content "
        "now, or when a rollout moves past the gate (skips a step or a hold, makes a bundle stable without its "
        "steps, edits a passed step); needs full history (fetch-depth: 0)",
    )
    check.add_argument(
        "--override", metavar="REASON",
        help="let rollout moves past the gate through, as loud warnings (map it from a pull request label); "
        "a commit trailer `Relc-Override: RELEASE: REASON` does the same for one release",
    )  # fmt: skip

    rollback = _command(
        commands,
        "rollback",
        help="commit a revert of a release to its last known-good revision",
        description="Write one commit on the current branch that reverts releases/NAME.yaml to its last "
        "known-good revision (the newest in which the suspect bundle, the candidate or a just-promoted stable, "
        "took no part) and re-renders rendered/. Commits since then that changed bundles or rollout are reverted; "
        "edits to owners, description or triggers are kept. The message follows `git revert`.",
    )
    rollback.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    rollback.add_argument("--reason", metavar="TEXT", help="why, recorded as a Relc-Reason trailer")
    rollback.add_argument("--trigger", metavar="NAME", help="the trigger that fired, recorded as a Relc-Trigger trailer")
    rollback.add_argument("--to", metavar="REV", help="restore the file exactly as it was at this commit instead")
    rollback.add_argument("--dry-run", action="store_true", help="print the diff, message and plan; write nothing")
    rollback.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or github")
    _registry_sync_options(rollback)

    promote = _command(
        commands,
        "promote",
        help="commit the next rollout step (at the last, the candidate becomes stable)",
        description="Advance releases/NAME.yaml one rollout step as a commit with rendered/. At the last step "
        "the candidate becomes stable and the old stable previous. Refused while the current step's hold has not "
        "passed since the commit that entered it.",
    )
    promote.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    promote.add_argument("--force", action="store_true", help="promote before the hold has passed")
    promote.add_argument("--dry-run", action="store_true", help="print the diff and message; write nothing")
    promote.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or github")
    _registry_sync_options(promote)

    sync_registry = _command(
        commands,
        "sync-registry",
        help="move a release's MLflow aliases to what its rollout says now (retry a failed --sync-registry)",
        description="Set the MLflow aliases champion (stable), challenger (candidate) and previous of every "
        "registered model the release names to the versions its bundles name, remove those whose role is empty, "
        "and tag each version an alias moved to with the current commit. Idempotent.",
    )
    sync_registry.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    sync_registry.add_argument("--registry", metavar="URI", help="the MLflow tracking server (default: $RELC_MLFLOW_URI)")

    status = _command(
        commands,
        "status",
        help="show each release's rollout: roles, step, traffic, when it began and may be promoted",
        description="Show each release (or NAME): stable, candidate, previous, current step, traffic split, "
        "when the step began (from Git history) and when it may be promoted.",
    )
    status.add_argument("name", nargs="?", metavar="NAME", type=_release_name, help="one release: NAME or its file (default: all)")
    status.add_argument("--in-progress", action="store_true", help="only releases with a candidate being rolled out")
    status.add_argument(
        "--format", choices=("text", "json", "names"), default="text",
        help="text (default), json, or names: one release name per line, for scripts",
    )  # fmt: skip
    _no_cache_option(status, "check every release and read its history afresh")

    evaluate = _command(
        commands,
        "evaluate",
        help="read metrics, check the triggers, decide promote / hold / alert / rollback",
        description="Read the candidate's (and, for relative triggers, the stable bundle's) metrics over each "
        "trigger's window, check every trigger and print one decision with its reasons. Without --apply nothing "
        "changes; with it a rollback or promote becomes a commit and an alert is posted to the webhook.",
        epilog="exit status: 0 promote, 3 hold, 4 alert, 5 rollback; 1 when metrics or the action failed, 2 usage.",
    )
    evaluate.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    evaluate.add_argument(
        "--metrics", action="append", metavar="SOURCE",
        help="a Prometheus URL (http://127.0.0.1:9090), a quality monitor (phoenix+http://127.0.0.1:6006?project=NAME "
        "or langfuse+https://HOST) or a snapshot file (.json or .csv); repeat it for several sources (each metric from "
        "the first that answers it); default: the sources in relc.yaml",
    )  # fmt: skip
    evaluate.add_argument(
        "--queries", metavar="SET|FILE",
        help="PromQL for each metric: `envoy` (default) or `litellm` for their own metrics, or a JSON/YAML file",
    )  # fmt: skip
    evaluate.add_argument("--apply", action="store_true", help="commit the rollback or promote, or post the alert")
    evaluate.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or github")
    evaluate.add_argument(
        "--webhook-env", default="RELC_ALERT_WEBHOOK_URL", metavar="VAR",
        help="environment variable holding the alert webhook URL (default: RELC_ALERT_WEBHOOK_URL)",
    )  # fmt: skip
    evaluate.add_argument(
        "--timeout", type=_seconds(0.001, 600), default=10.0, metavar="SECONDS", help="per metrics query (default 10)"
    )
    _registry_sync_options(evaluate)
    evaluate.add_argument(
        "--alert-state", metavar="FILE",
        help="where --apply remembers the alert incidents it posted, so each is posted once until the release "
        "leaves alert (default: .git/relc-alerts.json; keep it between scheduled runs, e.g. with actions/cache)",
    )  # fmt: skip

    watch = _command(
        commands,
        "watch",
        help="the control loop: deliver merged commits, evaluate rollouts, roll back in seconds",
        description="Run beside a gateway, in a clone of the release repository. Every --interval it "
        "fast-forwards from REMOTE/BRANCH and, on a new commit, renders the releases into --deploy-dir (the "
        "folder the gateway reads) with atomic renames. With --metrics it evaluates every release in rollout "
        "like `relc evaluate`; on a rollback decision it commits, flips --deploy-dir at once, then pushes "
        "(a push that loses a race adopts the identical rollback; a refused push keeps the rollback in force, "
        "pushes the branch relc/rollback-NAME and reports drift). Alerts post once per incident. SIGTERM "
        "finishes the current tick and exits. Logs one JSON line per event on stdout.",
        epilog="exit status: 0 after SIGTERM or --ticks, 1 when it cannot start, 2 usage error.",
    )
    target = watch.add_mutually_exclusive_group()
    target.add_argument("--deploy-dir", metavar="DIR", help="the folder the gateway reads (same layout as rendered/)")
    target.add_argument(
        "--no-deploy", action="store_true", help="only decide and push: Argo CD or Flux delivers rendered/"
    )
    watch.add_argument("--remote", default="origin", help="the remote that holds the truth (default: origin)")
    watch.add_argument("--branch", help="the branch to follow (default: the checked-out branch)")
    watch.add_argument(
        "--interval", type=_seconds(1, 3600), default=5.0, metavar="SECONDS", help="seconds between ticks (default 5, at least 1)"
    )
    watch.add_argument(
        "--metrics", action="append", metavar="SOURCE",
        help="a Prometheus URL, a quality monitor or a snapshot file, as for `relc evaluate` (repeatable; default: the sources in "
        "relc.yaml); with neither, the watcher only delivers",
    )  # fmt: skip
    watch.add_argument("--queries", metavar="SET|FILE", help="PromQL set or file, as for `relc evaluate`")
    watch.add_argument(
        "--timeout", type=_seconds(0.001, 600), default=5.0, metavar="SECONDS", help="per metrics query (default 5)"
    )
    watch.add_argument(
        "--after-delivery", metavar="COMMAND",
        help="run COMMAND (split like a shell, not run by one) after each delivery that changed files, with "
        "$RELC_DELIVERED_FILES and $RELC_DEPLOY_DIR set: restart a LiteLLM proxy, POST Kong's /config",
    )  # fmt: skip
    watch.add_argument("--promote", action="store_true", help="also promote when a hold has passed and every trigger is healthy")
    watch.add_argument(
        "--webhook-env", default="RELC_ALERT_WEBHOOK_URL", metavar="VAR",
        help="environment variable holding the alert webhook URL (default: RELC_ALERT_WEBHOOK_URL)",
    )  # fmt: skip
    watch.add_argument(
        "--alert-after", type=_count, default=3, metavar="N",
        help="alert when the metrics source failed N ticks in a row (default 3); the releases hold meanwhile",
    )  # fmt: skip
    watch.add_argument(
        "--listen", type=_address, metavar="HOST:PORT",
        help="serve /healthz and Prometheus /metrics here (e.g. 127.0.0.1:9109; port 0 picks a free port)",
    )  # fmt: skip
    watch.add_argument(
        "--github-token-env", default="RELC_GITHUB_TOKEN", metavar="VAR",
        help="environment variable with a token that may open pull requests; when set, a refused rollback is "
        "also offered as a pull request from relc/rollback-NAME (default: RELC_GITHUB_TOKEN)",
    )  # fmt: skip
    watch.add_argument(
        "--github-repository", metavar="OWNER/NAME", help="the GitHub repository (default: read from the remote's URL)"
    )
    watch.add_argument(
        "--github-api", default="https://api.github.com", metavar="URL", help="GitHub's API (GitHub Enterprise: its /api/v3)"
    )
    watch.add_argument(
        "--sync-registry", action="store_true",
        help="after each new commit (delivered, rolled back or promoted), move the MLflow aliases champion, "
        "challenger and previous of every release's registered models and tag the versions with the commit; a "
        "registry that fails is logged, counted in /metrics and retried next tick, and never delays a rollback",
    )  # fmt: skip
    watch.add_argument("--registry", metavar="URI", help=REGISTRY_URI_HELP)
    watch.add_argument("--ticks", type=_count, metavar="N", help="stop after N ticks (for scripts and tests)")

    init = _command(
        commands,
        "init",
        help="scaffold a valid release and its prompt template, pinned",
        description="Write releases/NAME.yaml (one hosted bundle, three canary steps, an error-rate trigger) and "
        "prompts/NAME/v1.j2 with its sha256 pinned, then validate them. Never overwrites a file.",
    )
    init.add_argument("name", metavar="NAME", type=_release_name, help="the new release's name (lower-case, dashes)")

    pin = _command(
        commands,
        "pin",
        help="fill in every pin a release needs (prompt sha256s, registry digests)",
        description="Set each bundle's prompt.sha256 to its template's bytes and, with a registry, each "
        "model.registry reference's registry_digest to its version's source and run, keeping the file's comments and "
        "layout. Pinning a bundle already published changes its content: relc check --base says so.",
    )
    pin.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    pin.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    pin.add_argument(
        "--registry", metavar="URI",
        help="also set each model.registry reference's registry_digest from this MLflow tracking server "
        "(default: $RELC_MLFLOW_URI); a version that is missing, archived or not ready is refused",
    )  # fmt: skip
    pin.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or github")

    history = _command(
        commands,
        "history",
        help="a release's audit trail from Git: who promoted, rolled back or overrode what, when and why",
        description="List every commit of releases/NAME.yaml on this branch, newest first: when, who, what it "
        "did (promote, rollback, abort, restore, override, change), what served after it, and the reason, "
        "trigger, overrides and evidence its Relc-* trailers record.",
    )
    history.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    history.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")

    drill = _command(
        commands,
        "drill",
        help="rehearse a rollback in a throwaway worktree and check it with the real gateways' validators",
        description="Plan and commit `relc rollback NAME` in a temporary worktree on a throwaway branch (the "
        "branch and working tree are never touched), render it, and check every gateway's files with the real "
        "tool: `envoy --mode validate` with clusters and routes inlined, the decK file schema for Kong, LiteLLM's "
        "Router for LiteLLM (a tool that is not installed is reported as skipped). Reports the traffic after the "
        "rollback, how long each stage took, whether the bundle that takes over is deployed (warm) now, and any "
        "reason the rollback would fail.",
        epilog="exit status: 0 the rollback would work, 1 it would not (or relc could not try), 2 usage error.",
    )
    drill.add_argument("name", metavar="NAME", type=_release_name, help="the release: NAME or releases/NAME.yaml")
    drill.add_argument("--format", choices=FORMATS, default="text", help="text (default), json or github")

    plan = _command(
        commands,
        "plan",
        help="show traffic before and after, per release and gateway",
        description="Show, per release, who serves what share before and after: before is rendered/ on disk "
        "(or at --base REV), after is a fresh render of releases/. Markdown suits a pull request summary.",
    )
    plan.add_argument("--base", metavar="REV", help="compare with rendered/ at this git revision (e.g. origin/main)")
    plan.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="text (default), markdown or json"
    )
    plan.add_argument(
        "--override", metavar="REASON",
        help="as for `relc check --base`: rollout moves past the gate are shown as overridden, not refused "
        "(give it to both when a pull request label maps to it)",
    )  # fmt: skip
    _no_cache_option(plan)

    schema = _command(
        commands,
        "schema",
        help="write schemas/release.schema.json from the spec",
        description="Regenerate the published JSON Schema of release files from the spec models.",
    )
    mode = schema.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed schema is stale; write nothing")
    mode.add_argument("--stdout", action="store_true", help="print the schema instead of writing it")
    return parser


def _reporter(arguments: argparse.Namespace) -> Reporter:
    """The command's reporter; GitHub annotations get paths from the repository root."""
    output_format = getattr(arguments, "format", "text")
    prefix = ""
    if output_format == "github":
        from compiler.git import repository_prefix

        prefix = repository_prefix(Path("."))
    return Reporter(output_format, prefix)


def _error_reporter(arguments: argparse.Namespace) -> Reporter:
    """The command's reporter for an error's diagnostics (with the same path prefix), or
    a plain one when even that cannot be made (no repository to take paths from)."""
    try:
        return _reporter(arguments)
    except RelcError:
        return Reporter(getattr(arguments, "format", "text"))


# Arguments that may name files relative to where relc was started.
_PATH_ARGUMENTS = ("metrics", "queries", "deploy_dir")


def _go_to_repository_root(arguments: argparse.Namespace) -> None:
    """From a subfolder, run where `releases/` is, as git finds its repository from anywhere;
    file arguments keep meaning the files they named from the subfolder."""
    here = Path.cwd()
    if (here / "releases").is_dir() or (here / ".git").exists() or getattr(arguments, "paths", None):
        return  # files named explicitly resolve their templates from here, as they always did
    for folder in here.parents:
        if (folder / "releases").is_dir():
            for name in _PATH_ARGUMENTS:
                value = getattr(arguments, name, None)
                if isinstance(value, str):
                    setattr(arguments, name, _anchored(here, value))
                elif isinstance(value, list):
                    setattr(arguments, name, [_anchored(here, item) for item in value])
            os.chdir(folder)
            print(f"relc: running in {folder} (where releases/ is)", file=sys.stderr)
            return
        if (folder / ".git").exists():
            return  # the repository's top, and no releases/ in it: stay


def _anchored(start: Path, value: str) -> str:
    """A relative path that exists from `start`, made absolute; anything else unchanged."""
    candidate = start / value
    return str(candidate) if not os.path.isabs(value) and candidate.exists() else value


def dispatch(arguments: argparse.Namespace) -> int:
    """Run the command's module, `compiler/commands/<command>.py`."""
    if arguments.directory:
        try:
            os.chdir(arguments.directory)
        except OSError as error:
            raise UsageError(f"cannot change to {arguments.directory}: {error.strerror}") from None
    else:
        _go_to_repository_root(arguments)
    module = importlib.import_module(f"compiler.commands.{arguments.command.replace('-', '_')}")
    with _fewer_collections():
        return module.run(arguments, _reporter(arguments))


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cycle collector a seventieth as often: checking a release allocates
    hundreds of thousands of objects, hardly any in cycles, and Python's default (a
    collection every 700 allocations) spent 3-4% of a cold check collecting nothing.
    Forked workers inherit it; the caller's setting is back afterwards."""
    import gc

    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def main(argv: Sequence[str] | None = None) -> int:
    run_no_pydantic_plugins()
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return dispatch(arguments)
    except RelcError as error:
        # A message that already lists its diagnostics prints them once, in the message.
        if error.diagnostics and "\n" not in str(error):
            _error_reporter(arguments).diagnostics(error.diagnostics)
        print(f"relc: error: {error}", file=sys.stderr)
        return error.exit_status
    except OSError as error:  # the system refused (disk full, read-only folder): not a bug in relc
        where = f" ({error.filename})" if error.filename else ""
        print(f"relc: error: {error.strerror or error}{where}: the system refused a file operation, so relc stopped; "
              "files it had not replaced are as they were", file=sys.stderr)  # fmt: skip
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug in relc, never in the input: say so briefly
        if os.environ.get("RELC_DEBUG"):
            raise
        print(f"relc: internal error: {type(error).__name__}: {error} (set RELC_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
