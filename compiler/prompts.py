"""Check prompt templates: inside the repo, pinned by sha256, and safe to render.

Templates run in Jinja2's `ImmutableSandboxedEnvironment` with `StrictUndefined` and no
globals. The checks are static, so they hold for every value a serving app will pass,
not only for sample values: statements, filters and methods come from an allowlist,
attribute names starting with `_` are refused, and output the template itself can
multiply (nested literal loops, self-concatenation) is bounded.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from compiler import files

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_STATIC_OUTPUT = 1024 * 1024

ALLOWED_FILTERS = frozenset(
    "abs capitalize count d default dictsort e escape first float int items join last length list lower map "
    "max min reject rejectattr reverse round safe select selectattr sort string striptags sum title tojson "
    "trim truncate unique upper urlencode wordcount".split()
)
# Methods that return at most a linear amount of text; anything else (format, center, ljust...) is refused.
ALLOWED_METHODS = frozenset(
    "upper lower strip lstrip rstrip title capitalize split splitlines startswith endswith items keys values get".split()
)
JINJA_GLOBALS = frozenset({"range", "lipsum", "dict", "cycler", "joiner", "namespace"})


@dataclass(frozen=True)
class TemplateProblem:
    """A problem found in a template; `line` is the template's line, when there is one."""

    code: str
    message: str
    line: int | None = None


_NAMED = re.compile(r"`([^`]+)`")


def problem_column(raw: bytes, problem: TemplateProblem) -> int:
    """The 1-based column of what a problem names (`name`, `attr`, `{% macro %}`) on its
    line; 1 when the line or the name is not there. Jinja reports lines only."""
    if problem.line is None:
        return 1
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if not 1 <= problem.line <= len(lines):
        return 1
    text = lines[problem.line - 1]
    for named in _NAMED.findall(problem.message):
        needle = named.removeprefix("{% ").removesuffix(" %}").removesuffix("()")
        position = text.find(needle)
        if needle and position >= 0:
            return position + 1
    return 1


@dataclass(frozen=True)
class TemplateAnalysis:
    """What static analysis learned from one template's text; cached by content."""

    problems: tuple[TemplateProblem, ...]
    used_variables: dict[str, int]


def prompt_environment() -> "ImmutableSandboxedEnvironment":
    """The environment templates are checked in and serving apps should render in."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    environment.globals.clear()
    environment.filters = {name: f for name, f in environment.filters.items() if name in ALLOWED_FILTERS}
    return environment


@lru_cache(maxsize=1)
def _environment() -> "ImmutableSandboxedEnvironment":
    environment = prompt_environment()
    # The optimizer folds constants at compile time: `{{ "x" * 10**9 }}` would be built here.
    environment.optimized = False
    return environment


def resolve_template_path(root: Path, template: str) -> Path | TemplateProblem:
    """The template's file, refusing any path that could leave the repository."""
    # String tests, not PurePosixPath: this runs for every template of every release.
    if template.startswith(("/", "\\")) or (len(template) > 1 and template[1] == ":"):
        return TemplateProblem("RELC301", f"template path `{template}` is absolute; write it relative to the repository root")
    if ".." in template.split("/") or "\\" in template:
        return TemplateProblem("RELC301", f"template path `{template}` leaves its folder (`..`); name a file inside the repository")
    path = root / template
    real_root = files.real_path(root)
    real_path = files.real_path(os.path.join(root, template))
    if real_path != real_root and not real_path.startswith(real_root.rstrip("/") + "/"):
        return TemplateProblem(
            "RELC301", f"template path `{template}` resolves outside the repository through a symbolic link"
        )
    return path


def read_template(path: Path, template: str) -> bytes | TemplateProblem:
    """The template's bytes; links inside the repository are followed (the path was resolved)."""
    from compiler.files import FileReadError, read_input_file

    try:
        return read_input_file(path, MAX_TEMPLATE_BYTES, follow_links=True)
    except FileReadError as error:
        return TemplateProblem("RELC302", f"template `{template}` {error}")


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@lru_cache(maxsize=4096)
def analyze_template(raw: bytes) -> TemplateAnalysis:
    """Parse and statically check a template; the same bytes always give the same result."""
    from jinja2 import TemplateSyntaxError

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return TemplateAnalysis((TemplateProblem("RELC302", "template is not valid UTF-8"),), {})
    try:
        tree = _environment().parse(text)
        problems = list(_forbidden_constructs(tree))
        used: dict[str, int] = {}
        if not problems:
            used = dict(sorted(context_reads(tree).items()))
            if _OutputBound().of_nodes(tree.body, {}) > MAX_STATIC_OUTPUT:
                problems.append(
                    TemplateProblem(
                        "RELC307",
                        f"template can render over {MAX_STATIC_OUTPUT} bytes before any variable is filled in "
                        "(nested loops over literals, or repeated concatenation); keep prompt text linear",
                    )
                )
    except TemplateSyntaxError as error:
        return TemplateAnalysis((TemplateProblem("RELC304", f"template syntax error: {error.message}", error.lineno),), {})
    except (RecursionError, MemoryError):
        message = "template nests too deeply to check (brackets, parentheses or operators); flatten it"
        return TemplateAnalysis((TemplateProblem("RELC304", message),), {})
    return TemplateAnalysis(tuple(problems), used)


def context_reads(tree: "nodes.Template") -> dict[str, int]:
    """Names the template reads from its render context, with the first line reading each.

    The same set as `jinja2.meta.find_undeclared_variables` for the statements prompt
    templates may use, found by walking scopes instead of running the code generator
    (which costs more than parsing, and folds constants). A test keeps the two equal.
    """
    reads: dict[str, int] = {}
    _ScopeWalker(reads).statements(tree.body, set())
    return reads


class _ScopeWalker:
    def __init__(self, reads: dict[str, int]) -> None:
        self.reads = reads

    def statements(self, body: list["nodes.Node"], bound: set[str]) -> None:
        for node in body:
            self.statement(node, bound)

    def statement(self, node: "nodes.Node", bound: set[str]) -> None:
        from jinja2 import nodes

        if isinstance(node, nodes.Output):
            for child in node.nodes:
                self.expression(child, bound)
        elif isinstance(node, nodes.Assign):
            self.expression(node.node, bound)
            bound |= _targets(node.target)
        elif isinstance(node, nodes.AssignBlock):
            self.statements(node.body, set(bound))
            if node.filter is not None:
                self.expression(node.filter, bound)
            bound |= _targets(node.target)
        elif isinstance(node, nodes.For):
            self.expression(node.iter, bound)
            inner = bound | _targets(node.target) | {"loop"}
            if node.test is not None:
                self.expression(node.test, inner)
            self.statements(node.body, inner)
            self.statements(node.else_, set(bound))
        elif isinstance(node, nodes.If):
            self.expression(node.test, bound)
            # Like Jinja, a name set inside an `if` is still read from the context after it.
            self.statements(node.body, set(bound))
            for elif_ in node.elif_:
                self.expression(elif_.test, bound)
                self.statements(elif_.body, set(bound))
            self.statements(node.else_, set(bound))
        elif isinstance(node, nodes.With):
            for value in node.values:
                self.expression(value, bound)
            inner = set(bound)
            for target in node.targets:
                inner |= _targets(target)
            self.statements(node.body, inner)
        elif isinstance(node, nodes.FilterBlock):
            self.expression(node.filter, bound)
            self.statements(node.body, set(bound))
        elif isinstance(node, (nodes.Scope, nodes.ScopedEvalContextModifier)):
            self.statements(node.body, set(bound))

    def expression(self, node: "nodes.Node", bound: set[str]) -> None:
        from jinja2 import nodes

        for name in node.find_all(nodes.Name):
            if name.ctx == "load" and name.name not in bound and name.name not in self.reads:
                self.reads[name.name] = name.lineno
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in bound:
            self.reads.setdefault(node.name, node.lineno)


def _targets(target: "nodes.Node") -> set[str]:
    from jinja2 import nodes

    if isinstance(target, nodes.Name):
        return {target.name}
    return {name.name for name in target.find_all(nodes.Name)}


_ALLOWED_STATEMENTS = (
    "Output", "For", "If", "Assign", "AssignBlock", "With", "FilterBlock", "Scope", "ScopedEvalContextModifier",
    "EvalContextModifier",
)  # fmt: skip
_REFUSED_EXPRESSIONS = {
    "Mul": "repetition with `*` can render unbounded output",
    "Pow": "`**` can compute unbounded values",
    "Mod": "`%` formatting can pad output without bound",
}


def _forbidden_constructs(tree: "nodes.Template") -> Iterator[TemplateProblem]:
    from jinja2 import nodes

    for node in tree.find_all(nodes.Node):
        kind = type(node).__name__
        line = getattr(node, "lineno", None)
        if isinstance(node, nodes.Stmt) and kind not in _ALLOWED_STATEMENTS:
            tag = {"Macro": "macro", "CallBlock": "call", "Block": "block", "Extends": "extends",
                   "Include": "include", "Import": "import", "FromImport": "from"}.get(kind, kind.lower())  # fmt: skip
            yield TemplateProblem(
                "RELC306", f"`{{% {tag} %}}` is not allowed in prompt templates; keep each template self-contained", line
            )
        elif kind in _REFUSED_EXPRESSIONS:
            yield TemplateProblem("RELC307", f"{_REFUSED_EXPRESSIONS[kind]}; prompt templates may not use it", line)
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield TemplateProblem("RELC306", f"attribute `{node.attr}` starts with `_`: the sandbox forbids it", line)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and str(node.arg.value).startswith("_"):
            yield TemplateProblem("RELC306", f"item `{node.arg.value}` starts with `_`: the sandbox forbids it", line)
        elif isinstance(node, (nodes.Filter, nodes.FilterBlock)):
            name = node.name if isinstance(node, nodes.Filter) else node.filter.name
            if name not in ALLOWED_FILTERS:
                yield TemplateProblem(
                    "RELC306", f"filter `{name}` is not allowed in prompt templates (allowed: {', '.join(sorted(ALLOWED_FILTERS))})", line
                )
            for argument in (*getattr(node, "args", []), *(k.value for k in getattr(node, "kwargs", []))):
                if isinstance(argument, nodes.Const) and isinstance(argument.value, str) and argument.value.startswith("_"):
                    yield TemplateProblem("RELC306", f"filter argument `{argument.value}` names a private attribute", line)
        elif isinstance(node, nodes.AssignBlock) and node.filter is not None:
            yield TemplateProblem(
                "RELC306", "a filter on a `{% set %}` block is not allowed; apply it where the value is used", line
            )
        elif isinstance(node, nodes.AssignBlock) and _targets(node.target) & {
            name.name for child in node.body for name in child.find_all(nodes.Name)
        }:
            yield TemplateProblem(
                "RELC304", "a `{% set %}` block reads the name it sets, which Jinja leaves undefined there", line
            )
        elif isinstance(node, nodes.Test) and node.name not in _environment().tests:
            yield TemplateProblem("RELC304", f"no test named `{node.name}`", line)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            if node.node.attr not in ALLOWED_METHODS and not _is_loop_helper(node.node):
                yield TemplateProblem(
                    "RELC306", f"method `{node.node.attr}()` is not allowed in prompt templates", line
                )
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in ("caller", "super", "self"):
            yield TemplateProblem("RELC306", f"`{node.node.name}()` is not allowed in prompt templates", line)
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name == "self":
            yield TemplateProblem("RELC306", "`self` is not allowed in prompt templates", line)


def _is_loop_helper(attribute: "nodes.Getattr") -> bool:
    from jinja2 import nodes

    return isinstance(attribute.node, nodes.Name) and attribute.node.name == "loop" and attribute.attr in ("cycle", "changed")


@dataclass(frozen=True)
class _Bound:
    """How much text a value can render (`size`) and how many items a loop over it can
    take (`length`), counting only what the template itself supplies. Values from the
    render context are data: their size is the serving app's, and a loop over them
    counts once, so what is bounded is the amplification the template adds."""

    size: int
    length: int | None  # None: data, or not a sequence

    @property
    def iterations(self) -> int:
        return 1 if self.length is None else self.length

    def widest(self, other: "_Bound") -> "_Bound":
        lengths = [value for value in (self.length, other.length) if value is not None]
        return _Bound(max(self.size, other.size), max(lengths) if lengths else None)


_DATA = _Bound(0, None)
_SMALL = _Bound(24, None)  # a number, a boolean, a length
# Filters whose output is at most a fixed multiple of their input (escaping expands).
_EXPANDING_FILTERS = {"escape": 6, "e": 6, "forceescape": 6, "tojson": 6, "urlencode": 3}
_SHAPE_FILTERS = {"list", "sort", "reverse", "unique", "select", "reject", "selectattr", "rejectattr", "map",
                  "dictsort", "items", "first", "last", "default", "d", "safe", "string", "trim", "striptags",
                  "upper", "lower", "title", "capitalize", "truncate", "max", "min"}  # fmt: skip


class _OutputBound:
    """Upper bound of the text a template writes itself (see `_Bound`).

    Loops multiply their body by the number of items the template gives them; `set`,
    `with` and loop targets carry the bounds of their values, so a name holding a
    literal list, or a string doubled by concatenation, is counted wherever it is used.
    """

    def of_nodes(self, body: list["nodes.Node"], names: dict[str, _Bound]) -> int:
        total = 0
        for node in body:
            total += self.of_statement(node, names)
            if total > MAX_STATIC_OUTPUT:
                return total
        return total

    def of_statement(self, node: "nodes.Node", names: dict[str, _Bound]) -> int:
        from jinja2 import nodes

        if isinstance(node, nodes.Output):
            return sum(self.of_expression(child, names).size for child in node.nodes)
        if isinstance(node, nodes.Assign):
            value = self.of_expression(node.node, names)
            names.update({target: value for target in _targets(node.target)})
            return 0
        if isinstance(node, nodes.AssignBlock):
            size = self.of_nodes(node.body, dict(names))
            names.update({target: _Bound(size, size) for target in _targets(node.target)})
            return 0
        if isinstance(node, nodes.If):
            # A name set in a branch is visible after the `if`: keep the widest bound of each.
            branches = [node.body, *(elif_.body for elif_ in node.elif_), node.else_]
            widest = 0
            for branch in branches:
                inner = dict(names)
                widest = max(widest, self.of_nodes(branch, inner))
                for name, value in inner.items():
                    names[name] = names[name].widest(value) if name in names else value
            return widest
        if isinstance(node, nodes.For):
            return self.of_loop(node, names)
        if isinstance(node, nodes.With):
            inner = dict(names)
            for target, value in zip(node.targets, node.values):
                bound = self.of_expression(value, names)
                inner.update({name: bound for name in _targets(target)})
            return self.of_nodes(node.body, inner)
        if isinstance(node, nodes.FilterBlock):
            size = self.of_nodes(node.body, dict(names))
            return size * _EXPANDING_FILTERS.get(node.filter.name, 1)
        children = getattr(node, "body", None)
        return self.of_nodes(children, dict(names)) if isinstance(children, list) else 0

    def of_loop(self, node: "nodes.For", names: dict[str, _Bound]) -> int:
        iterable = self.of_expression(node.iter, names)
        # Each pass starts from the names before the loop: Jinja does not carry a `set`
        # from one iteration to the next. An item is at most as large as its sequence.
        item = _DATA if iterable.length is None else _Bound(iterable.size, iterable.size)
        inner = dict(names)
        inner.update({name: item for name in _targets(node.target)})
        inner["loop"] = _DATA
        once = self.of_nodes(node.body, inner)
        return iterable.iterations * once + self.of_nodes(node.else_, dict(names))

    def of_expression(self, node: "nodes.Node", names: dict[str, _Bound]) -> _Bound:
        from jinja2 import nodes

        if isinstance(node, nodes.TemplateData):
            return _Bound(len(node.data), len(node.data))
        if isinstance(node, nodes.Const):
            text = str(node.value)
            return _Bound(len(text), len(text) if isinstance(node.value, str) else None)
        if isinstance(node, nodes.Name):
            return names.get(node.name, _DATA)
        if isinstance(node, (nodes.List, nodes.Tuple)):
            items = [self.of_expression(item, names) for item in node.items]
            return _Bound(sum(item.size + 2 for item in items), len(items))
        if isinstance(node, nodes.Dict):
            pairs = [(self.of_expression(p.key, names), self.of_expression(p.value, names)) for p in node.items]
            return _Bound(sum(key.size + value.size + 4 for key, value in pairs), len(pairs))
        if isinstance(node, (nodes.Concat, nodes.Add)):
            parts = [self.of_expression(child, names) for child in (node.nodes if isinstance(node, nodes.Concat) else (node.left, node.right))]
            size = sum(part.size for part in parts)
            return _Bound(size, sum(part.iterations for part in parts))
        if isinstance(node, (nodes.CondExpr, nodes.Or)):
            left, right = (node.expr1, node.expr2) if isinstance(node, nodes.CondExpr) else (node.left, node.right)
            bound = self.of_expression(left, names)
            return bound.widest(self.of_expression(right, names)) if right is not None else bound
        if isinstance(node, nodes.Filter):
            return self.of_filter(node, names)
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Slice)):
            base = self.of_expression(node.node, names) if hasattr(node, "node") else _DATA
            return _DATA if base.length is None and base.size == 0 else _Bound(base.size, base.size)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            base = self.of_expression(node.node.node, names)
            arguments = [self.of_expression(argument, names) for argument in node.args]
            size = max([base.size, *(argument.size for argument in arguments)])
            return _Bound(size, size if base.length is not None or base.size else None)
        return _SMALL

    def of_filter(self, node: "nodes.Filter", names: dict[str, _Bound]) -> _Bound:
        source = self.of_expression(node.node, names) if node.node is not None else _DATA
        arguments = [self.of_expression(argument, names) for argument in node.args]
        if node.name == "join":
            separator = arguments[0].size if arguments else 0
            size = source.size + source.iterations * separator
            return _Bound(size, size)
        if node.name in _EXPANDING_FILTERS:
            size = source.size * _EXPANDING_FILTERS[node.name]
            return _Bound(size, size)
        if node.name in _SHAPE_FILTERS:
            widest = source
            for argument in arguments:
                widest = widest.widest(argument)
            return widest
        return _SMALL


def check_variables(analysis: TemplateAnalysis, declared: list[str]) -> list[TemplateProblem]:
    """Every variable the template reads must be declared by the bundle."""
    problems = []
    for name, line in analysis.used_variables.items():
        if name in declared:
            continue
        if name in JINJA_GLOBALS:
            message = f"`{name}` is not available in prompt templates (they run with no globals)"
        else:
            listed = ", ".join(declared) if declared else "none"
            message = f"variable `{name}` is not declared in prompt.variables (declared: {listed}); declare it or remove it"
        problems.append(TemplateProblem("RELC305", message, line))
    return problems
