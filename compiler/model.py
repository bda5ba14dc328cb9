"""Turn a loaded document into a `Release`, translating schema errors into diagnostics.

Pydantic reports where (a path through the data) and what (an error type); the loaded
document knows where each path stands in the file. Messages say what was expected,
what was found, and how to fix it, in the words of the release file, not of Python.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from compiler.diagnostics import Diagnostic, define, describe_value
from compiler.load import FieldPath, LoadedDocument
from compiler.spec import DURATION_PATTERN, PATTERN_HINTS, Release

# The spec: each pydantic error becomes one of these (`_message`).
RELC101 = define(
    "RELC101",
    title="required field missing",
    meaning="required field missing (also `api_base` and `weights_digest` for self-hosted providers, `api_base` "
            "for `azure`)",
    fix="add the field",
)
RELC102 = define(
    "RELC102",
    title="unknown field",
    fix="the message suggests the closest known name",
)
RELC103 = define(
    "RELC103",
    title="wrong type",
    fix="the message says what was expected and how to write it",
)
RELC104 = define(
    "RELC104",
    title="value not allowed",
    fix="use one of the listed values",
)
RELC105 = define(
    "RELC105",
    title="value out of range",
    meaning="value out of range (also empty lists, NaN, percentages with more than two decimals, and durations: "
            "timeouts 1ms-1d, holds up to 90d, windows 1s-90d)",
    fix="use a value inside the range shown",
)
RELC106 = define(
    "RELC106",
    title="malformed value",
    meaning="malformed value (duration, digest, version, variable name, URL)",
    fix="the message shows the expected form",
)
RELC107 = define(
    "RELC107",
    title="step must be exactly one of shadow or canary",
    meaning="step must be exactly one of `shadow` or `canary`",
    fix="write `{shadow: N, hold: D}` or `{canary: N, hold: D}`",
)


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
}

_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}


def dotted(path: FieldPath) -> str:
    """`rollout.steps[1].canary`: a path as a reader of the YAML file would write it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the document"


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` to `X`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            non_none = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(non_none) != 1:
                return annotation
            annotation = non_none[0]
        else:
            return annotation


def _model_at(path: FieldPath, root: type[BaseModel] = Release) -> type[BaseModel] | None:
    """The model class of the value at `path` under `root`, if that value is a mapping."""
    annotation: Any = root
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
            continue
        field = _field_of(annotation, part)
        if field is None:
            return None
        annotation = field.annotation
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _field_of(model: Any, name: str) -> FieldInfo | None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return model.model_fields.get(name) or next((f for f in model.model_fields.values() if f.alias == name), None)


def _bounds(path: FieldPath, root: type[BaseModel] = Release) -> tuple[Any, Any]:
    """Lower and upper bounds declared for the field at `path`, for range messages."""
    if not path or isinstance(path[-1], int):
        return None, None
    field = _field_of(_model_at(path[:-1], root), path[-1])
    if field is None:
        return None, None
    constraints = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for item in typing.get_args(arg)[1:]:
                constraints.extend(getattr(item, "metadata", [item]))
    low = next((getattr(c, a) for c in constraints for a in ("ge", "gt") if getattr(c, a, None) is not None), None)
    high = next((getattr(c, a) for c in constraints for a in ("le", "lt") if getattr(c, a, None) is not None), None)
    return low, high


def _message(
    error: dict[str, Any], path: FieldPath, known_fields: list[str], root: type[BaseModel] = Release
) -> tuple[str, str]:
    """Code and message for one pydantic error."""
    kind = error["type"]
    where = dotted(path)
    value = error.get("input")
    context = error.get("ctx") or {}
    if kind == "missing":
        parent = path[:-1]
        item = f" (item {parent[-1] + 1} of the list)" if parent and isinstance(parent[-1], int) else ""
        return "RELC101", f"`{path[-1]}` is required in {dotted(parent)}{item}"
    if kind == "extra_forbidden":
        suggestion = difflib.get_close_matches(str(path[-1]), known_fields, n=1)
        hint = f"; did you mean `{suggestion[0]}`?" if suggestion else f"; allowed: {', '.join(known_fields)}"
        return "RELC102", f"unknown field `{path[-1]}` in {dotted(path[:-1])}{hint}"
    if kind in _TYPE_NAMES:
        expected = _TYPE_NAMES[kind]
        hint = ""
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = "; quote it to make it a string"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and _is_duration_field(path, root):
                hint = f"; a duration needs its unit: write `{value:g}s` (or m, h, d)"
        if kind in ("int_type", "float_type") and isinstance(value, str) and _looks_numeric(value):
            hint = "; remove the quotes to make it a number"
        if kind == "bool_type" and isinstance(value, str):
            hint = " (YAML 1.2 reads yes/no/on/off as strings: write true or false)"
        return "RELC103", f"{where} must be {expected}, got {describe_value(value)}{hint}"
    if kind in ("literal_error", "enum"):
        return "RELC104", f"{where} must be {context.get('expected', 'an allowed value')}, got {describe_value(value)}"
    if kind in _RANGE_ERRORS:
        low, high = _bounds(path, root)
        if low is not None and high is not None:
            return "RELC105", f"{where} must be between {low:g} and {high:g}, got {value}"
        bound = next(iter(context.values()), "?")
        relation = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most", "less_than": "less than"}[kind]
        return "RELC105", f"{where} must be {relation} {bound}, got {value}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        if kind == "too_short" and context.get("min_length") == 1:
            return "RELC105", f"{where} must not be empty"
        if kind == "string_too_short":
            return "RELC105", f"{where} must not be empty"
        limit = context.get("max_length")
        return "RELC105", f"{where} is too long (at most {limit})"
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(context.get("pattern", ""), f"matching `{context.get('pattern')}`")
        return "RELC106", f"{where} must be {hint}, got {describe_value(value)}"
    if kind == "finite_number":
        return "RELC105", f"{where} must be a finite number, got {value}"
    if kind == "value_error":
        return "RELC106", f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    if kind == "url_malformed":
        return "RELC106", f"{where} {error['msg']}, got {describe_value(value)}"
    if kind == "registry_version":
        return "RELC105", f"{where} {error['msg']}"
    if kind == "registry_alias":
        return "RELC801", f"{where} {error['msg']}"
    if kind == "step_kind":
        return "RELC107", f"{where}: {error['msg']}"
    return "RELC103", f"{where}: {error['msg']}"


def _is_duration_field(path: FieldPath, root: type[BaseModel] = Release) -> bool:
    owner = _model_at(path[:-1], root) if path else None
    field = _field_of(owner, str(path[-1])) if owner is not None else None
    return field is not None and any(getattr(m, "pattern", None) == DURATION_PATTERN for m in field.metadata)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _known_fields(path: FieldPath, root: type[BaseModel] = Release) -> list[str]:
    owner = _model_at(path, root)
    return [field.alias or name for name, field in owner.model_fields.items()] if owner else []


def build_release(document: LoadedDocument) -> tuple[Release | None, list[Diagnostic]]:
    """Validate the document's data against the spec; the release only when it fits."""
    return model_diagnostics(Release, document)


ModelT = typing.TypeVar("ModelT", bound=BaseModel)


def model_diagnostics(model: type[ModelT], document: LoadedDocument) -> tuple[ModelT | None, list[Diagnostic]]:
    """Validate a document against a model; the value only when it fits, else diagnostics
    at each problem's line and column (the release spec, `relc.yaml`)."""
    try:
        return model.model_validate(document.data), []
    except ValidationError as failure:
        diagnostics = []
        for error in failure.errors(include_url=False):
            path = tuple(error["loc"])
            code, message = _message(error, path, _known_fields(path[:-1], model), model)
            if error["type"] in ("missing",):
                parent = path[:-1]
                if parent and isinstance(parent[-1], int):
                    position = document.position_of(parent)  # the list item itself, not the list's key
                else:
                    position = document.key_position_of(parent) if parent else document.position_of(())
            elif error["type"] == "extra_forbidden":
                position = document.key_position_of(path)
            else:
                position = document.position_of(path)
            diagnostics.append(Diagnostic(document.path, position.line, position.column, code, message))
        return None, sorted(set(diagnostics))
