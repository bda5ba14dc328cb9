"""`relc history`: a release's audit trail from Git (who, what, when, why, on what evidence)."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT
from compiler.errors import EXIT_OK, UsageError
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.audit import history_records, history_text, release_history

    entries = release_history(ROOT, arguments.name)
    if not entries:
        from compiler.history import release_paths

        looked_in = " or ".join(release_paths(arguments.name))
        raise UsageError(f"no release `{arguments.name}` in this branch's history ({looked_in})")
    reporter.result(history_text(arguments.name, entries), history_records(entries))
    return EXIT_OK
