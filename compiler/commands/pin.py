"""`relc pin`: fill in the pins a release needs (prompt sha256s, registry digests), in the file's own layout."""

from __future__ import annotations

import argparse

from compiler.commands.common import ROOT
from compiler.errors import EXIT_OK
from compiler.reporter import Reporter


def run(arguments: argparse.Namespace, reporter: Reporter) -> int:
    from compiler.emit import write_atomically
    from compiler.pin import pin_release
    from compiler.registry import REGISTRY_ENV, open_registry, registry_location

    uri = registry_location(arguments.registry)
    change = pin_release(ROOT, arguments.name, open_registry(uri) if uri else None)
    if change.unchecked_references:
        reporter.note(f"relc: note: {change.unchecked_references} registry reference(s) not pinned: give --registry URI "
                      f"or set {REGISTRY_ENV} to record their registry_digest")  # fmt: skip
    reporter.result("".join(f"{line}\n" for line in change.pinned), {"release": change.name, "pinned": list(change.pinned)})
    if not change.pinned:
        reporter.note(f"{change.name}: every pin is current")
    elif arguments.dry_run:
        reporter.note("dry run: nothing written")
    else:
        write_atomically(ROOT / change.path, change.after)
        reporter.note(f"wrote {change.path}: review and commit it")
    return EXIT_OK
