"""`relc evaluate`: read metrics, check the triggers, decide; with --apply, act on it."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT, metric_source
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.evaluate import act, evaluate, would_do
    from compiler.triggers import decision_record, decision_text

    source = metric_source(arguments.metrics, arguments.queries, arguments.timeout)
    decision = evaluate(ROOT, arguments.name, source)
    reporter.result(decision_text(decision, source.description), decision_record(decision))
    level = {"rollback": "error", "alert": "warning"}.get(decision.action, "notice")
    reporter.annotation(level, f"relc evaluate {decision.release}: {decision.action}", "; ".join(decision.reasons))
    if arguments.apply:
        reporter.note(act(ROOT, decision, arguments.webhook_env))
    elif not reporter.json:
        reporter.note(f"dry run: {would_do(decision)}")
    return decision.exit_code
