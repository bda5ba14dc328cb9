"""Problems as values: every stage returns `Diagnostic`s instead of raising them.

Formatting (text, JSON, GitHub annotations) lives apart, in `reporter.py`, so one run
can report every problem in every file in whichever format the reader needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from importlib import import_module
from typing import Any, Iterable


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# Stable codes: tools and people match on these, so a code is never reused or renumbered.
# Each is defined (`define`) in the module that owns its rule, with the words of its row in
# docs/diagnostics.md, which `python -m compiler.docs` generates from these definitions.


@dataclass(frozen=True)
class Code:
    """A stable code and its documentation: `title` names the problem in a few words;
    `meaning` (the title when not given) and `fix` are its row in docs/diagnostics.md."""

    code: str
    title: str
    meaning: str
    fix: str


@dataclass(frozen=True)
class Section:
    """The codes of one hundred (RELC2xx: `hundred` 2), a stage of the pipeline, and the
    modules that define them: a miss imports only these, so a start-up stays cheap."""

    hundred: int
    heading: str
    modules: tuple[str, ...]
    intro: str = ""
    trailing: str = ""

    @property
    def title(self) -> str:
        return f"{self.heading} (RELC{self.hundred}xx)"


SECTIONS: tuple[Section, ...] = (
    Section(
        0, "Reading the file", ("compiler.load",),
        intro="Loading stops at the first of these: the rest of the file cannot be trusted.",
    ),
    Section(
        1, "The spec", ("compiler.model", "compiler.rules"),
        intro="Shapes and types, as in `schemas/release.schema.json`. Types are strict: `\"5\"` is not a\n"
        "number and `no` is not `false`.",
    ),
    Section(2, "Meaning", ("compiler.rules", "compiler.validate", "compiler.config")),
    Section(
        3, "Prompt templates", ("compiler.prompts",),
        intro="Reported at the template file's line; the message names the release and bundle using it.",
    ),
    Section(4, "Secrets", ("compiler.secrets",)),
    Section(
        5, "Gateways", ("compiler.gateways",),
        intro="A gateway listed in `route.gateways` must be able to express every step and serve every\n"
        "bundle of the release; relc never drops a step silently. The README's gateway table says\n"
        "what each gateway supports.",
    ),
    Section(6, "Generated files", ("compiler.commands.check",)),
    Section(
        7, "History", ("compiler.immutability", "compiler.gate"),
        intro="Checked by `relc check --base REV` against every commit in the history of REV (the\n"
        "pull request's base), which needs full history (`fetch-depth: 0`).",
        trailing="RELC702-705 are the rollout gate: a change may advance one step after its hold, promote\n"
        "at the last step, or go back (rollback, abort) at any time. An explicit override turns\n"
        "them into warnings that say OVERRIDDEN with the reason: a commit trailer\n"
        "`Relc-Override: <release>: <reason>` (or `Relc-Override: <reason>` for every release)\n"
        "on a commit of the pull request, a `Relc-Forced: true` trailer (what `relc promote\n"
        "--force` writes), or `relc check --override REASON`, which a workflow can map from a\n"
        "pull request label.",
    ),
    Section(
        8, "The model registry", ("compiler.registry.check", "compiler.spec"),
        intro="A bundle may name its model's version in a registry: `model.registry: {mlflow: {name,\n"
        "version}}`. RELC801 and RELC805 are checked offline; the others only when `relc validate`\n"
        "is given a registry (`--registry URI` or `RELC_MLFLOW_URI`). Without one, validation says\n"
        "how many references it did not check, and exits 0 when nothing else is wrong.",
    ),
)  # fmt: skip

_CODE_FORM = re.compile(r"RELC([0-9])[0-9]{2}")
_DEFINED: dict[str, Code] = {}


def section_of(code: str) -> Section | None:
    """The section a code belongs to by its number, or None for no code relc could have."""
    matched = _CODE_FORM.fullmatch(code)
    return next((s for s in SECTIONS if s.hundred == int(matched.group(1))), None) if matched else None


def define(code: str, *, title: str, fix: str, meaning: str = "") -> Code:
    """Register a code beside the rule that reports it; refused when malformed, outside
    every section or defined twice with other words."""
    section = section_of(code)
    if section is None:
        raise ValueError(f"{code} is not a code of any section of docs/diagnostics.md")
    definition = Code(code, title, meaning or title, fix)
    if _DEFINED.setdefault(code, definition) != definition:
        raise ValueError(f"{code} is defined twice")
    return definition


def lookup(code: str) -> Code | None:
    """The definition of `code`: on a first miss, its section's modules are imported
    (once; a cached diagnostic can name a code whose rule did not run in this process)."""
    found = _DEFINED.get(code)
    if found is None and (section := section_of(code)) is not None:
        for module in section.modules:
            import_module(module)
        found = _DEFINED.get(code)
    return found


def registered_codes() -> dict[str, Code]:
    """Every code, in order: imports every defining module (for the docs and tests)."""
    for section in SECTIONS:
        for module in section.modules:
            import_module(module)
    return dict(sorted(_DEFINED.items()))


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
        if self.code not in _DEFINED and lookup(self.code) is None:
            raise ValueError(f"unregistered diagnostic code {self.code}")
        # Any message may echo input; a literal key in it must never reach a log.
        from compiler.secrets import redact

        object.__setattr__(self, "message", redact(self.message))

    @classmethod
    def restored(cls, path: str, line: int, column: int, code: str, message: str, severity: str) -> "Diagnostic":
        """A diagnostic relc made and stored (a cache entry, keyed by relc's own code and
        checksummed): its code was registered and its message redacted when it was made,
        so the rule modules need not be imported again to restore it."""
        if not (isinstance(path, str) and isinstance(code, str) and isinstance(message, str)):
            raise TypeError("a stored diagnostic holds strings")
        if type(line) is not int or type(column) is not int or section_of(code) is None:
            raise ValueError("a stored diagnostic holds a position and a code")
        made = object.__new__(cls)
        for name, value in (("path", path), ("line", line), ("column", column), ("code", code),
                            ("message", message), ("severity", Severity(severity))):  # fmt: skip
            object.__setattr__(made, name, value)
        return made

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
