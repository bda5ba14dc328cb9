"""The one error type: a refusal the person can act on, with the exit status it means.

Core modules raise `RelcError` (or a subclass that only names the stage it came from);
the CLI's one handler prints the message and exits with `exit_status`. Anything else
that escapes is a bug in relc and is reported as one (exit 70).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class RelcError(Exception):
    """What could not be done, why, and what to do; `diagnostics` when they say where."""

    exit_status = EXIT_PROBLEMS

    def __init__(self, message: str, diagnostics: Sequence["Diagnostic"] = (), exit_status: int | None = None) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        if exit_status is not None:
            self.exit_status = exit_status


class UsageError(RelcError):
    """relc was called wrongly: an unknown release, a bad revision, a bad number."""

    exit_status = EXIT_USAGE
