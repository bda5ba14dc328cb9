"""Problems as values: every stage returns `Diagnostic`s instead of raising them.

Formatting (text, JSON, GitHub annotations) lives apart, in `reporter.py`, so one run
can report every problem in every file in whichever format the reader needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# Stable codes: tools and people match on these, so a code is never reused or renumbered.
# docs/diagnostics.md explains each one; a test keeps that page and this table in step.
CODES: dict[str, str] = {
    # Reading and parsing the file.
    "RELC001": "file cannot be read",
    "RELC002": "file is larger than the size limit",
    "RELC003": "file is not valid UTF-8",
    "RELC004": "file is empty",
    "RELC005": "YAML syntax error",
    "RELC006": "duplicate key",
    "RELC007": "explicit YAML tag",
    "RELC008": "YAML directive",
    "RELC009": "aliases expand past the budget",
    "RELC010": "nesting deeper than the limit",
    "RELC011": "more than one YAML document",
    "RELC012": "mapping key is not a string",
    "RELC013": "integer longer than the digit limit",
    # The schema: shapes and types.
    "RELC101": "required field missing",
    "RELC102": "unknown field",
    "RELC103": "wrong type",
    "RELC104": "value not allowed",
    "RELC105": "value out of range",
    "RELC106": "malformed value",
    "RELC107": "step must be exactly one of shadow or canary",
    "RELC108": "field not allowed for this provider",
    # Meaning across fields and files.
    "RELC201": "name does not match the file name",
    "RELC202": "duplicate bundle version",
    "RELC203": "rollout names an unknown bundle",
    "RELC204": "rollout roles name the same bundle",
    "RELC205": "canary percentages decrease",
    "RELC206": "current step out of range",
    "RELC207": "rollout steps inconsistent with candidate",
    "RELC208": "trigger threshold not sane for its metric",
    "RELC209": "route.model used by another release",
    "RELC210": "duplicate name in a list",
    "RELC211": "trigger threshold missing or doubled",
    "RELC212": "relative comparison options without relative_to_stable",
    "RELC213": "no metric source answers the trigger's metric",
    # Prompt templates.
    "RELC301": "prompt template path escapes the repository",
    "RELC302": "prompt template cannot be read",
    "RELC303": "prompt template sha256 mismatch",
    "RELC304": "prompt template syntax error",
    "RELC305": "prompt template uses an undeclared variable",
    "RELC306": "prompt template uses a construct the sandbox forbids",
    "RELC307": "prompt template can render unbounded output",
    # Gateways.
    "RELC501": "gateway cannot express a rollout step",
    "RELC502": "gateway cannot serve a bundle",
    # Secrets.
    "RELC401": "literal secret in a release",
    # Generated files.
    "RELC601": "generated file is stale (rendered/ or the schema)",
    # History.
    "RELC701": "published bundle changed in place",
    "RELC702": "rollout skips a step",
    "RELC703": "rollout advanced before its hold ended",
    "RELC704": "bundle made stable without passing the rollout",
    "RELC705": "a passed rollout step was edited",
    # The model registry.
    "RELC801": "registry reference names an alias or stage, not a version",
    "RELC802": "registry version does not exist",
    "RELC803": "registry version is archived or deleted",
    "RELC804": "registry drift: the version changed since it was pinned",
    "RELC805": "registry_digest without a registry reference",
    "RELC806": "registry version is not ready",
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at one place: path, 1-based line and column, stable code, message."""

    path: str
    line: int
    column: int
    code: str
    message: str
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code}")
        # Any message may echo input; a literal key in it must never reach a log.
        from compiler.secrets import redact

        object.__setattr__(self, "message", redact(self.message))

    def as_text(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity.value} {self.code}: {self.message}"


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def describe_value(value: Any) -> str:
    """`the string 'v41'`, `the number 30`: a value as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
