"""Load one release file safely into plain data with the position of every value.

Parsing uses libyaml's event stream (ruamel.yaml.clib's C parser) and composes the
values here, so that nothing from the file can construct objects, expand without
bound or nest without limit, and so every value keeps its line and column for
diagnostics. Scalars resolve by the YAML 1.2 core schema: `no` is a string.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from compiler.diagnostics import Diagnostic, define, describe_value

if TYPE_CHECKING:
    from compiler.files import FileReadError

FieldPath = tuple[str | int, ...]


class Position(NamedTuple):
    line: int
    column: int


@dataclass(frozen=True)
class LoadLimits:
    """Budgets that keep a hostile file from costing more than a normal one."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_nodes: int = 50_000


@dataclass
class LoadedDocument:
    """A release file's data, its text, and where each value and key stands in it."""

    path: str
    text: str
    data: Any
    positions: dict[FieldPath, Position] = field(default_factory=dict)
    key_positions: dict[FieldPath, Position] = field(default_factory=dict)

    def position_of(self, path: FieldPath) -> Position:
        """The value at `path`, or the nearest enclosing value that has a position."""
        for end in range(len(path), -1, -1):
            position = self.positions.get(path[:end])
            if position is not None:
                return position
        return Position(1, 1)

    def key_position_of(self, path: FieldPath) -> Position:
        """The key of the entry at `path` (where editors put the cursor for it)."""
        for end in range(len(path), -1, -1):
            position = self.key_positions.get(path[:end])
            if position is not None:
                return position
        return self.position_of(path)


# Reading a file: the loader stops at the first of these.
RELC001 = define(
    "RELC001",
    title="file cannot be read",
    fix="check the path and permissions",
)
RELC002 = define(
    "RELC002",
    title="file is larger than the size limit",
    meaning=f"file is larger than the size limit ({LoadLimits.max_bytes // 2**20} MiB)",
    fix="a release is a short file; split it or remove generated content",
)
RELC003 = define(
    "RELC003",
    title="file is not valid UTF-8",
    fix="save it as UTF-8; the position is that of the first bad byte",
)
RELC004 = define(
    "RELC004",
    title="file is empty",
    fix="a release starts with `apiVersion: relc/v1`",
)
RELC005 = define(
    "RELC005",
    title="YAML syntax error",
    meaning="YAML syntax error (also an alias naming no anchor)",
    fix="fix the YAML at the position shown",
)
RELC006 = define(
    "RELC006",
    title="duplicate key",
    fix="each key appears once in a mapping; every duplicate is reported",
)
RELC007 = define(
    "RELC007",
    title="explicit YAML tag",
    meaning="explicit YAML tag (`!!python/...`, `!include`, `!!str`)",
    fix="release files hold plain data; quote a value to make it a string",
)
RELC008 = define(
    "RELC008",
    title="YAML directive",
    meaning="YAML directive (`%YAML 1.1`, `%TAG`)",
    fix="remove it: files are read as YAML 1.2, where `yes`/`no` are strings",
)
RELC009 = define(
    "RELC009",
    title="aliases expand past the budget",
    meaning=f"aliases expand past the budget ({LoadLimits.max_nodes:,} values)",
    fix="write values out instead of multiplying them with aliases",
)
RELC010 = define(
    "RELC010",
    title="nesting deeper than the limit",
    meaning=f"nesting deeper than the limit ({LoadLimits.max_depth} levels)",
    fix="flatten the file",
)
RELC011 = define(
    "RELC011",
    title="more than one YAML document",
    fix="one release per file, no second `---`",
)
RELC012 = define(
    "RELC012",
    title="mapping key is not a string",
    fix="quote keys such as `1:` or `true:`; no collections as keys",
)
RELC013 = define(
    "RELC013",
    title="integer longer than the digit limit",
    meaning="integer longer than the digit limit (100 digits)",
    fix="no field takes such a number: write the value the field means",
)


class _LoadError(Exception):
    def __init__(self, line: int, column: int, code: str, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.code, self.message = line, column, code, message


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_DECIMAL = re.compile(r"^[-+]?[0-9]+$")
_OCTAL = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INFINITY = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


_MAY_NOT_BE_STRING = frozenset("0123456789+-.~nNtTfF")


# No field needs more; Python refuses int() past 4,300 digits, and big ints cost quadratic time.
MAX_INTEGER_DIGITS = 100


class IntegerTooLong(ValueError):
    """An integer literal longer than MAX_INTEGER_DIGITS."""


def resolve_plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if text and text[0] not in _MAY_NOT_BE_STRING:
        return text  # the common case, decided without a regular expression
    if len(text) > MAX_INTEGER_DIGITS and (_DECIMAL.match(text) or _OCTAL.match(text) or _HEX.match(text)):
        digits = text.lstrip("+-").removeprefix("0x").removeprefix("0o")
        if len(digits) > MAX_INTEGER_DIGITS:
            raise IntegerTooLong(f"an integer of {len(digits)} digits is over the {MAX_INTEGER_DIGITS}-digit limit")
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _DECIMAL.match(text):
        return int(text)
    if _OCTAL.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INFINITY.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


class _Composer:
    """Builds plain values from parser events, enforcing the load limits."""

    def __init__(self, parser: Any, document: LoadedDocument, limits: LoadLimits) -> None:
        from ruamel.yaml import events

        self.events = events
        # Compared with every event's type: one attribute lookup, not two.
        self.scalar_event, self.alias_event = events.ScalarEvent, events.AliasEvent
        self.sequence_start, self.sequence_end = events.SequenceStartEvent, events.SequenceEndEvent
        self.mapping_end = events.MappingEndEvent
        self.parser = parser
        self.next_event = parser.get_event
        self.document = document
        self.limits = limits
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.node_count = 0
        self.duplicate_keys: list[_LoadError] = []

    def compose_stream(self) -> Any:
        self.next_event()  # StreamStartEvent
        event = self.next_event()
        if type(event) is self.events.StreamEndEvent:
            raise _LoadError(1, 1, "RELC004", "file has no YAML content; a release starts with `apiVersion: relc/v1`")
        self.check_directives(event)
        value, _ = self.compose_node(self.next_event(), (), depth=0)
        self.next_event()  # DocumentEndEvent
        event = self.next_event()
        if type(event) is not self.events.StreamEndEvent:
            line, column = _mark(event)
            raise _LoadError(
                line, column, "RELC011", "a release file holds one YAML document; remove the second `---` document"
            )
        return value

    def check_directives(self, document_start: Any) -> None:
        line, column = _mark(document_start)
        version = getattr(document_start, "version", None)
        if version is not None and tuple(version) != (1, 2):
            raise _LoadError(
                line,
                column,
                "RELC008",
                f"`%YAML {'.'.join(map(str, version))}` directive: release files are read as YAML 1.2 "
                "(where `yes`/`no` are strings, not booleans); remove the directive",
            )
        if getattr(document_start, "tags", None):
            raise _LoadError(line, column, "RELC008", "`%TAG` directives are not allowed in release files; remove it")

    def count_nodes(self, amount: int, event: Any) -> None:
        self.node_count += amount
        if self.node_count <= self.limits.max_nodes:
            return
        line, column = _mark(event)
        raise _LoadError(
            line,
            column,
            "RELC009",
            f"the document expands to more than {self.limits.max_nodes} values "
            "(anchors and aliases multiply it); write the values out or reduce the aliases",
        )

    def reject_tag(self, event: Any) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = tag.replace("tag:yaml.org,2002:", "!!", 1)
            line, column = _mark(event)
            raise _LoadError(
                line,
                column,
                "RELC007",
                f"explicit tag `{tag}` is not allowed: release files hold plain data; remove the tag "
                "(quote the value if it must be a string)",
            )

    def compose_node(self, event: Any, path: FieldPath, depth: int) -> tuple[Any, int]:
        kind = type(event)
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        self.document.positions[path] = Position(line, column)
        if kind is self.alias_event:
            if event.anchor not in self.anchors:
                raise _LoadError(line, column, "RELC005", f"alias `*{event.anchor}` names no anchor defined before it")
            value, size = self.anchors[event.anchor]
            self.count_nodes(size, event)
            return value, size
        if event.tag is not None:
            self.reject_tag(event)
        if kind is self.scalar_event:
            self.count_nodes(1, event)
            text = event.value
            try:
                value = text if event.style or (text and text[0] not in _MAY_NOT_BE_STRING) else resolve_plain_scalar(text)
            except IntegerTooLong as error:
                raise _LoadError(line, column, "RELC013", f"{error}; no field takes a number that large") from None
            result = (value, 1)
        else:
            if depth >= self.limits.max_depth:
                raise _LoadError(
                    line, column, "RELC010", f"values nest deeper than {self.limits.max_depth} levels; flatten the file"
                )
            self.count_nodes(1, event)
            if kind is self.sequence_start:
                result = self.compose_sequence(path, depth + 1)
            else:
                result = self.compose_mapping(path, depth + 1)
        if event.anchor is not None:
            self.anchors[event.anchor] = result
        return result

    def compose_sequence(self, path: FieldPath, depth: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        size = 1
        next_event, sequence_end, compose_node = self.next_event, self.sequence_end, self.compose_node
        while True:
            event = next_event()
            if type(event) is sequence_end:
                return items, size
            value, item_size = compose_node(event, path + (len(items),), depth)
            items.append(value)
            size += item_size

    def compose_mapping(self, path: FieldPath, depth: int) -> tuple[dict[str, Any], int]:
        mapping: dict[str, Any] = {}
        size = 1
        next_event, mapping_end, compose_node = self.next_event, self.mapping_end, self.compose_node
        key_positions = self.document.key_positions
        while True:
            event = next_event()
            if type(event) is mapping_end:
                return mapping, size
            key = self.compose_key(event)
            mark = event.start_mark
            key_line, key_column = mark.line + 1, mark.column + 1
            child_path = path + (key,)
            if key in mapping:
                first = key_positions[child_path]
                self.duplicate_keys.append(
                    _LoadError(
                        key_line,
                        key_column,
                        "RELC006",
                        f"duplicate key `{key}` (first defined on line {first.line}); a mapping holds each key once",
                    )
                )
                compose_node(next_event(), path + (f"{key} (duplicate)",), depth)
                continue
            key_positions[child_path] = Position(key_line, key_column)
            value, value_size = compose_node(next_event(), child_path, depth)
            mapping[key] = value
            size += value_size

    def compose_key(self, event: Any) -> str:
        if type(event) is self.scalar_event and event.tag is None:
            text = event.value
            if event.style or (text and text[0] not in _MAY_NOT_BE_STRING):  # the common case: a string as it stands
                self.count_nodes(1, event)
                return text
        line, column = _mark(event)
        if type(event) is not self.scalar_event:
            raise _LoadError(line, column, "RELC012", "mapping keys must be plain strings, not collections or aliases")
        self.reject_tag(event)
        self.count_nodes(1, event)
        try:
            key = resolve_plain_scalar(event.value) if not event.style else event.value
        except IntegerTooLong as error:  # found by the fuzz target: a huge number as a key
            raise _LoadError(line, column, "RELC013", f"{error}; no field takes a number that large") from None
        if not isinstance(key, str):
            raise _LoadError(
                line,
                column,
                "RELC012",
                f"mapping key `{event.value}` is read as {describe_value(key)}; keys must be strings (quote it)",
            )
        return key


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _decode(raw: bytes) -> str | _LoadError:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        return _LoadError(line, column, "RELC003", f"byte 0x{raw[error.start]:02x} is not valid UTF-8; save the file as UTF-8")
    return text.removeprefix("\ufeff")


def _offset_position(text: str, offset: int | None) -> tuple[int, int]:
    """1-based line and column of a character offset (a reader error gives only that)."""
    if offset is None or offset < 0:
        return 1, 1
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _parse(text: str, document: LoadedDocument, limits: LoadLimits) -> list[_LoadError]:
    from ruamel.yaml.cyaml import CParser
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    composer = _Composer(CParser(text), document, limits)
    try:
        document.data = composer.compose_stream()
    except _LoadError as error:
        return composer.duplicate_keys + [error]
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = " ".join(part for part in (error.context, error.problem) if part)
        return composer.duplicate_keys + [_LoadError(line, column, "RELC005", f"YAML syntax error: {problem}")]
    except YAMLError as error:
        line, column = _offset_position(text, getattr(error, "position", None))
        reason = getattr(error, "reason", None) or str(error).splitlines()[0]
        return composer.duplicate_keys + [_LoadError(line, column, "RELC005", f"YAML syntax error: {reason}")]
    return composer.duplicate_keys


def load_bytes(raw: bytes, display_path: str, limits: LoadLimits = LoadLimits()) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Parse a release file's bytes; a document only when no diagnostic was found."""

    def failed(errors: list[_LoadError]) -> tuple[None, list[Diagnostic]]:
        return None, [Diagnostic(display_path, e.line, e.column, e.code, e.message) for e in errors]

    if len(raw) > limits.max_bytes:
        return None, [_too_large(display_path, len(raw), limits)]
    decoded = _decode(raw)
    if isinstance(decoded, _LoadError):
        return failed([decoded])
    if not decoded.strip():
        return failed([_LoadError(1, 1, "RELC004", "file is empty; a release starts with `apiVersion: relc/v1`")])
    document = LoadedDocument(path=display_path, text=decoded, data=None)
    errors = _parse(decoded, document, limits)
    if errors:
        return failed(errors)
    return document, []


def load_file(
    path: Path, display_path: str, inside: Path | None, limits: LoadLimits = LoadLimits()
) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Read one YAML input file through the safe reader and parse it. `inside`, the
    repository it belongs to, is where links may lead (None: a file the person named)."""
    from compiler.files import FileReadError, read_input_file

    try:
        raw = read_input_file(path, limits.max_bytes, follow_links=True, inside=inside)
    except FileReadError as error:
        return None, [refusal_diagnostic(display_path, error)]
    return load_bytes(raw, display_path, limits)


def refusal_diagnostic(display_path: str, error: "FileReadError", limit_of: str = "") -> Diagnostic:
    """The safe reader's refusal as RELC002 (over the size limit `limit_of` names) or RELC001."""
    if error.too_large:
        return Diagnostic(display_path, 1, 1, "RELC002", f"file {error}{limit_of}")
    return Diagnostic(display_path, 1, 1, "RELC001", f"the file {error}")


def _too_large(display_path: str, size: int, limits: LoadLimits) -> Diagnostic:
    return Diagnostic(
        display_path, 1, 1, "RELC002", f"file is {size} bytes, over the {limits.max_bytes}-byte limit for a release"
    )
