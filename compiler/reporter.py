"""How every command prints: diagnostics and results as text, JSON or GitHub annotations.

Finding problems and printing them are apart (as check-jsonschema's reporter is): a
command hands its diagnostics and its result value here, and the chosen format decides
what reaches stdout. Messages for people go to stderr in every format, so stdout stays
one parseable document under `--format json`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from typing import Any, Iterable, TextIO

from compiler.diagnostics import Diagnostic

FORMATS = ("text", "json", "github")


def format_text(diagnostics: Iterable[Diagnostic]) -> str:
    return "".join(d.as_text() + "\n" for d in diagnostics)


def format_json(diagnostics: Iterable[Diagnostic]) -> str:
    return to_json([diagnostic_record(d) for d in diagnostics])


def diagnostic_record(diagnostic: Diagnostic) -> dict[str, Any]:
    return {**asdict(diagnostic), "severity": diagnostic.severity.value}


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def escape_github_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_github_property(value: str) -> str:
    return escape_github_data(value).replace(":", "%3A").replace(",", "%2C")


def github_command(level: str, message: str, **properties: str) -> str:
    """One workflow command (`::error file=...::message`), escaped as GitHub requires."""
    listed = ",".join(f"{key}={_escape_github_property(value)}" for key, value in properties.items())
    return f"::{level} {listed}::{escape_github_data(message)}\n" if listed else f"::{level}::{escape_github_data(message)}\n"


def format_github(diagnostics: Iterable[Diagnostic]) -> str:
    """Workflow commands, so each problem shows on its line of the pull request."""
    return "".join(
        github_command(d.severity.value, d.message, file=d.path, line=str(d.line), col=str(d.column), title=d.code)
        for d in diagnostics
    )


FORMATTERS = {"text": format_text, "json": format_json, "github": format_github}


class Reporter:
    """Prints one command's output in one format; `path_prefix` turns paths into
    repository-root paths for GitHub annotations."""

    def __init__(self, output_format: str = "text", path_prefix: str = "", out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.format = output_format if output_format in FORMATS else "text"
        self.path_prefix = path_prefix
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @property
    def json(self) -> bool:
        return self.format == "json"

    def diagnostics(self, diagnostics: list[Diagnostic], always: bool = False) -> None:
        """Print diagnostics; under JSON an empty list too when `always` (a command whose
        only output is its diagnostics)."""
        if not diagnostics and not (always and self.json):
            return
        if self.format == "github":
            diagnostics = [replace(d, path=self.annotation_path(d.path)) for d in diagnostics]
        self.out.write(FORMATTERS[self.format](diagnostics))

    def result(self, text: str, data: Any) -> None:
        """A command's result: `data` as JSON under --format json, `text` otherwise."""
        self.out.write(to_json(data) if self.json else text)

    def detail(self, text: str) -> None:
        """Text for people beside the diagnostics (a diff): never mixed into JSON."""
        if not self.json:
            self.out.write(text)

    def annotation(self, level: str, title: str, message: str) -> None:
        """A workflow annotation with no file, under --format github only."""
        if self.format == "github":
            self.out.write(github_command(level, message, title=title))

    def note(self, message: str) -> None:
        """A line for the person at the terminal, on stderr, in any format."""
        print(message, file=self.err)

    def annotation_path(self, path: str) -> str:
        return path if path.startswith("/") else self.path_prefix + path
