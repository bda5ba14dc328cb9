"""The `relc` command line: parse arguments, call the core, print, set the exit code.

Exit status: 0 when everything checked is valid, 1 when any problem was found, 2 for
usage errors. Heavy modules are imported inside the commands that need them, so that
`relc --help` and `relc validate` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.rollout import ReleaseChange
    from compiler.triggers import Decision
    from compiler.validate import ValidationResult

from compiler import __version__

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
FORMATS = ("text", "json", "github")

DESCRIPTION = """\
relc compiles LLM release specs (releases/<name>.yaml) into gateway configs.
A release declares immutable serving bundles, a rollout (shadow, canary steps)
and triggers; Git holds all state, and rollback is a revert commit.
"""

EPILOG = """\
exit status: 0 success, 1 problems found or the operation refused, 2 usage error,
70 an internal error (a bug in relc: please report it). relc evaluate also uses
3 hold, 4 alert and 5 rollback.
docs: README.md and docs/diagnostics.md (every diagnostic code).
"""


class _UsageError(Exception):
    """A mistake in how relc was called, reported with exit status 2."""


class _OperationError(Exception):
    """An operation that could not be done (dirty tree, shallow clone...), exit status 1."""


def _validated(
    paths: list[str], output_format: str, quiet: bool = False, allow_no_releases: bool = False
) -> "ValidationResult":
    """Validate release files, print their diagnostics, and return the result."""
    from compiler.diagnostics import FORMATTERS
    from compiler.validate import validate_paths

    release_paths = [Path(p) for p in paths] or [Path("releases")]
    if not paths and allow_no_releases and not release_paths[0].exists():
        release_paths = []  # every release was deleted (git keeps no empty folder): nothing to render
    missing = [p for p in release_paths if not p.exists()]
    if missing:
        raise _UsageError(f"no such file or folder: {', '.join(str(p) for p in missing)}")
    result = validate_paths(release_paths, root=Path("."))
    if result.diagnostics or output_format == "json":
        sys.stdout.write(FORMATTERS[output_format](_for_output(result.diagnostics, output_format)))
    if output_format == "text" and not (quiet and result.ok):
        errors = sum(1 for d in result.diagnostics if d.severity.value == "error")
        summary = f"{len(result.releases)} release(s) valid" if result.ok else f"{errors} error(s)"
        print(summary, file=sys.stderr)
    return result


@lru_cache(maxsize=1)
def _repository_prefix() -> str:
    """Where this folder sits in its git repository (`deploy/` or empty): GitHub wants
    annotation paths from the repository root, relc prints them from here."""
    import subprocess

    try:
        completed = subprocess.run(["git", "rev-parse", "--show-prefix"], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _annotation_path(path: str) -> str:
    return path if Path(path).is_absolute() else _repository_prefix() + path


def _for_output(diagnostics: list["Diagnostic"], output_format: str) -> list["Diagnostic"]:
    if output_format != "github":
        return diagnostics
    from dataclasses import replace

    return [replace(d, path=_annotation_path(d.path)) for d in diagnostics]


def _validate(arguments: argparse.Namespace) -> int:
    return EXIT_OK if _validated(arguments.paths, arguments.format).ok else EXIT_PROBLEMS


def _build(arguments: argparse.Namespace) -> int:
    from compiler.emit import write_tree
    from compiler.render import RENDERED_DIR, render_tree

    result = _validated([], arguments.format, quiet=True, allow_no_releases=True)
    if not result.ok:
        print(f"relc: nothing written: fix the errors above, then build again", file=sys.stderr)
        return EXIT_PROBLEMS
    change = write_tree(Path(RENDERED_DIR), render_tree(result.releases, Path(".")))
    _refresh_schema()
    print(
        f"{RENDERED_DIR}/: {len(change.written)} written, {len(change.removed)} removed, {change.unchanged} unchanged "
        f"({len(result.releases)} release(s))",
        file=sys.stderr,
    )
    for path in change.written:
        print(f"  wrote {RENDERED_DIR}/{path}", file=sys.stderr)
    for path in change.removed:
        print(f"  removed {RENDERED_DIR}/{path}", file=sys.stderr)
    return EXIT_OK


def _refresh_schema() -> None:
    """`relc build` keeps a committed schema current, so `relc check` asks for one command."""
    from compiler.schema import SCHEMA_PATH, schema_text, write_schema

    if SCHEMA_PATH.exists() and SCHEMA_PATH.read_text(encoding="utf-8") != schema_text():
        write_schema(Path("."))
        print(f"  wrote {SCHEMA_PATH.as_posix()}", file=sys.stderr)


def _check(arguments: argparse.Namespace) -> int:
    from compiler.emit import compare_tree
    from compiler.render import RENDERED_DIR, render_tree
    from compiler.schema import SCHEMA_PATH, schema_text

    result = _validated([], arguments.format, quiet=True, allow_no_releases=True)
    if not result.ok:
        return EXIT_PROBLEMS
    problems = 0
    if arguments.base:
        problems += _check_immutability(arguments.base, result, arguments.format)
    schema_file = Path(SCHEMA_PATH)
    # A repository that keeps the published schema (for editors) must keep it current.
    if schema_file.exists() and schema_file.read_text(encoding="utf-8") != schema_text():
        print(f"{SCHEMA_PATH} is stale: run `relc schema` and commit it", file=sys.stderr)
        if arguments.format == "github":
            print(f"::error file={_annotation_path(SCHEMA_PATH.as_posix())},title=RELC601::{SCHEMA_PATH.as_posix()} is stale: run `relc schema` and commit it")
        problems += 1
    differences = compare_tree(Path(RENDERED_DIR), render_tree(result.releases, Path(".")), RENDERED_DIR)
    for difference in differences:
        sys.stdout.write(difference.diff)
        if arguments.format == "github":
            print(f"::error file={_annotation_path(RENDERED_DIR + '/' + difference.path)},title=RELC601::{RENDERED_DIR}/{difference.path} is "
                  f"{difference.status}: run `relc build` and commit {RENDERED_DIR}/")  # fmt: skip
    if differences:
        print(f"{RENDERED_DIR}/ is stale ({len(differences)} file(s)): run `relc build` and commit it", file=sys.stderr)
        problems += 1
    if problems:
        return EXIT_PROBLEMS
    print(f"{len(result.releases)} release(s) valid; {RENDERED_DIR}/ and {SCHEMA_PATH} are current", file=sys.stderr)
    return EXIT_OK


def _check_immutability(base: str, result: "ValidationResult", output_format: str) -> int:
    """Print bundles changed since their publication on `base`; 1 when there are any."""
    from compiler.diagnostics import FORMATTERS
    from compiler.git import GitError
    from compiler.immutability import immutability_diagnostics

    try:
        diagnostics = immutability_diagnostics(Path("."), base, result.releases)
    except GitError as error:
        raise _OperationError(str(error)) from None
    if diagnostics:
        sys.stdout.write(FORMATTERS[output_format](_for_output(diagnostics, output_format)))
    return 1 if diagnostics else 0


def _run_change(arguments: argparse.Namespace, change: "ReleaseChange") -> int:
    from compiler.rollout import apply, preview

    if arguments.dry_run:
        diff, rendered = preview(Path("."), change)
        sys.stdout.write(diff)
        print(f"\ncommit message:\n{change.message}", end="")
        print(f"rendered files that would change: {', '.join(rendered) or 'none'}")
        print("dry run: nothing written", file=sys.stderr)
        return EXIT_OK
    commit = apply(Path("."), change)
    print(f"committed {commit[:12]}: {change.message.splitlines()[0]}", file=sys.stderr)
    return EXIT_OK


def _rollback(arguments: argparse.Namespace) -> int:
    from compiler.rollout import plan_rollback

    change = plan_rollback(Path("."), arguments.name, reason=arguments.reason, trigger=arguments.trigger, to=arguments.to)
    return _run_change(arguments, change)


def _promote(arguments: argparse.Namespace) -> int:
    from compiler.rollout import plan_promote

    return _run_change(arguments, plan_promote(Path("."), arguments.name, force=arguments.force))


def _status(arguments: argparse.Namespace) -> int:
    from compiler.status import format_status, format_status_json, release_status

    paths = [f"releases/{arguments.name}.yaml"] if arguments.name else []
    result = _validated(paths, "text", quiet=True)
    if not result.ok:
        return EXIT_PROBLEMS
    checked = sorted(result.releases, key=lambda c: c.release.name)
    if arguments.in_progress:
        checked = [c for c in checked if c.release.rollout.candidate is not None]
    if arguments.format == "names":
        sys.stdout.write("".join(f"{c.release.name}\n" for c in checked))
        return EXIT_OK
    statuses = [release_status(Path("."), c) for c in checked]
    sys.stdout.write(format_status_json(statuses) if arguments.format == "json" else format_status(statuses))
    return EXIT_OK


def _evaluate(arguments: argparse.Namespace) -> int:
    from compiler.alert import AlertError
    from compiler.evaluate import act, evaluate, would_do
    from compiler.metrics import MetricError, open_source
    from compiler.triggers import decision_json

    try:
        source = open_source(arguments.metrics, arguments.queries, timeout=arguments.timeout)
        decision = evaluate(Path("."), arguments.name, source)
    except MetricError as error:
        raise _OperationError(str(error)) from None
    if arguments.format == "json":
        sys.stdout.write(decision_json(decision))
    else:
        sys.stdout.write(_decision_text(decision, source.description, arguments.format == "github"))
    if arguments.apply:
        try:
            done = act(Path("."), decision, arguments.webhook_env)
        except (MetricError, AlertError) as error:
            raise _OperationError(str(error)) from None
        print(done, file=sys.stderr)
    elif arguments.format != "json":
        print(f"dry run: {would_do(decision)}", file=sys.stderr)
    return decision.exit_code


def _decision_text(decision: "Decision", source: str, github: bool) -> str:
    against = f" against {decision.baseline}" if decision.baseline else ""
    lines = [f"{decision.release}: {decision.action} ({decision.subject or 'nothing'}{against}, metrics from {source})"]
    for check in decision.checks:
        lines.append(f"  [{check.outcome}] {check.detail}")
    lines += [f"  reason: {reason}" for reason in decision.reasons]
    if github:
        level = {"rollback": "error", "alert": "warning"}.get(decision.action, "notice")
        summary = "; ".join(decision.reasons).replace("%", "%25").replace("\n", "%0A")
        lines.append(f"::{level} title=relc evaluate {decision.release}: {decision.action}::{summary}")
    return "\n".join(lines) + "\n"


def _plan(arguments: argparse.Namespace) -> int:
    from compiler import plan
    from compiler.emit import existing_files
    from compiler.git import GitError, files_at, resolve_revision
    from compiler.render import RENDERED_DIR, render_tree, states_of

    result = _validated([], "text", quiet=True, allow_no_releases=True)
    if not result.ok:
        return EXIT_PROBLEMS
    if arguments.base:
        try:
            commit = resolve_revision(Path("."), arguments.base)
            base_files = files_at(Path("."), commit, f"{RENDERED_DIR}/bundles")
        except GitError as error:
            raise _UsageError(str(error)) from None
        before = plan.manifests_from_files({path.removeprefix(f"{RENDERED_DIR}/"): c for path, c in base_files.items()})
    else:
        on_disk = existing_files(Path(RENDERED_DIR))
        before = plan.manifests_from_files({path: file.read_bytes() for path, file in on_disk.items()})
    after = plan.manifests_from_files(render_tree(result.releases, Path(".")))
    plans = plan.make_plan(before, after, states_of(result.releases))
    formatter = plan.format_markdown if arguments.format == "markdown" else plan.format_text
    sys.stdout.write(formatter(plans))
    return EXIT_OK


def _schema(arguments: argparse.Namespace) -> int:
    from compiler.schema import SCHEMA_PATH, schema_text, write_schema

    if arguments.stdout:
        sys.stdout.write(schema_text())
        return EXIT_OK
    if arguments.check:
        target = Path(".") / SCHEMA_PATH
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != schema_text():
            print(f"{SCHEMA_PATH} is stale: run `relc schema` and commit it", file=sys.stderr)
            return EXIT_PROBLEMS
        return EXIT_OK
    target = write_schema(Path("."))
    print(f"wrote {target.as_posix()}", file=sys.stderr)
    return EXIT_OK


def _with_domain_errors(arguments: argparse.Namespace) -> int:
    """Run the command, turning the core's refusals into a message and exit status 1."""
    from compiler.git import GitError
    from compiler.rollout import RolloutError

    try:
        return arguments.run(arguments)
    except (GitError, RolloutError) as error:
        diagnostics = getattr(error, "diagnostics", [])
        if diagnostics and "\n" not in str(error):
            from compiler.diagnostics import format_text

            sys.stdout.write(format_text(diagnostics))
        raise _OperationError(str(error)) from None


def _command(commands: Any, name: str, help: str, description: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
    """A subcommand whose --help keeps the description's wording and ends with the exit codes."""
    return commands.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


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
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json, or github (workflow annotations that show on pull request lines)",
    )
    validate.set_defaults(run=_validate)

    build = _command(
        commands,
        "build",
        help="render every release into rendered/",
        description="Validate every release in releases/ and render the gateway configs and bundle manifests into "
        "rendered/. Nothing is written unless every release is valid; each changed file is replaced atomically "
        "(Envoy picks up a new render without a restart) and files no release produces are removed.",
    )
    build.add_argument("--format", choices=FORMATS, default="text", help="format of any diagnostics")
    build.set_defaults(run=_build)

    check = _command(
        commands,
        "check",
        help="fail when rendered/ or schemas/ is stale (the CI gate)",
        description="Validate every release, re-render in memory and compare with rendered/ and the published "
        "schema. Exit 1 with a unified diff when anything is stale; writes nothing.",
    )
    check.add_argument("--format", choices=FORMATS, default="text", help="format of diagnostics")
    check.add_argument(
        "--base",
        metavar="REV",
        help="also fail when a bundle version published in the history of REV (a PR's base) has other content "
        "now; needs full history (fetch-depth: 0)",
    )
    check.set_defaults(run=_check)

    rollback = _command(
        commands,
        "rollback",
        help="commit a revert of a release to its last known-good revision",
        description="Write one commit on the current branch that reverts releases/NAME.yaml to its last "
        "known-good revision (the newest in which the suspect bundle, the candidate or a just-promoted stable, "
        "took no part) and re-renders rendered/. Commits since then that changed bundles or rollout are reverted; "
        "edits to owners, description or triggers are kept. The message follows `git revert`.",
    )
    rollback.add_argument("name", metavar="NAME", help="the release (releases/NAME.yaml)")
    rollback.add_argument("--reason", metavar="TEXT", help="why, recorded as a Relc-Reason trailer")
    rollback.add_argument("--trigger", metavar="NAME", help="the trigger that fired, recorded as a Relc-Trigger trailer")
    rollback.add_argument("--to", metavar="REV", help="restore the file exactly as it was at this commit instead")
    rollback.add_argument("--dry-run", action="store_true", help="print the diff, message and plan; write nothing")
    rollback.set_defaults(run=_rollback)

    promote = _command(
        commands,
        "promote",
        help="commit the next rollout step (at the last, the candidate becomes stable)",
        description="Advance releases/NAME.yaml one rollout step as a commit with rendered/. At the last step "
        "the candidate becomes stable and the old stable previous. Refused while the current step's hold has not "
        "passed since the commit that entered it.",
    )
    promote.add_argument("name", metavar="NAME", help="the release (releases/NAME.yaml)")
    promote.add_argument("--force", action="store_true", help="promote before the hold has passed")
    promote.add_argument("--dry-run", action="store_true", help="print the diff and message; write nothing")
    promote.set_defaults(run=_promote)

    status = _command(
        commands,
        "status",
        help="show each release's rollout: roles, step, traffic, when it began and may be promoted",
        description="Show each release (or NAME): stable, candidate, previous, current step, traffic split, "
        "when the step began (from Git history) and when it may be promoted.",
    )
    status.add_argument("name", nargs="?", metavar="NAME", help="one release (default: all)")
    status.add_argument("--in-progress", action="store_true", help="only releases with a candidate being rolled out")
    status.add_argument(
        "--format", choices=("text", "json", "names"), default="text",
        help="text (default), json, or names: one release name per line, for scripts",
    )  # fmt: skip
    status.set_defaults(run=_status)

    evaluate = _command(
        commands,
        "evaluate",
        help="read metrics, check the triggers, decide promote / hold / alert / rollback",
        description="Read the candidate's (and, for relative triggers, the stable bundle's) metrics over each "
        "trigger's window, check every trigger and print one decision with its reasons. Without --apply nothing "
        "changes; with it a rollback or promote becomes a commit and an alert is posted to the webhook.",
        epilog="exit status: 0 promote, 3 hold, 4 alert, 5 rollback; 1 when metrics or the action failed, 2 usage.",
    )
    evaluate.add_argument("name", metavar="NAME", help="the release (releases/NAME.yaml)")
    evaluate.add_argument(
        "--metrics", required=True, metavar="SOURCE",
        help="a Prometheus URL (http://127.0.0.1:9090) or a snapshot file (.json or .csv)",
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
    evaluate.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per metrics query (default 10)")
    evaluate.set_defaults(run=_evaluate)

    plan = _command(
        commands,
        "plan",
        help="show traffic before and after, per release and gateway",
        description="Show, per release, who serves what share before and after: before is rendered/ on disk "
        "(or at --base REV), after is a fresh render of releases/. Markdown suits a pull request summary.",
    )
    plan.add_argument("--base", metavar="REV", help="compare with rendered/ at this git revision (e.g. origin/main)")
    plan.add_argument("--format", choices=("text", "markdown"), default="text", help="text (default) or markdown")
    plan.set_defaults(run=_plan)

    schema = _command(
        commands,
        "schema",
        help="write schemas/release.schema.json from the spec",
        description="Regenerate the published JSON Schema of release files from the spec models.",
    )
    mode = schema.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed schema is stale; write nothing")
    mode.add_argument("--stdout", action="store_true", help="print the schema instead of writing it")
    schema.set_defaults(run=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if arguments.directory:
            try:
                os.chdir(arguments.directory)
            except OSError as error:
                raise _UsageError(f"cannot change to {arguments.directory}: {error.strerror}") from None
        return _with_domain_errors(arguments)
    except _UsageError as error:
        print(f"relc: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except _OperationError as error:
        print(f"relc: error: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug in relc, never in the input: say so briefly
        if os.environ.get("RELC_DEBUG"):
            raise
        print(f"relc: internal error: {type(error).__name__}: {error} (set RELC_DEBUG=1 for the traceback)", file=sys.stderr)
        return 70
