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
from typing import TYPE_CHECKING, Any, Iterator

from compiler.diagnostics import define
from compiler.files import FileReadError, name_problem, read_input_file_and_status

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from compiler.cache import ReleaseCache

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


# Template problems (the pin, RELC303, is compared where the release names the template: compiler.rules).
RELC301 = define(
    "RELC301",
    title="prompt template path escapes the repository",
    meaning="template path escapes the repository (absolute, `..`, or a symbolic link pointing outside)",
    fix="keep templates inside the repository",
)
RELC302 = define(
    "RELC302",
    title="prompt template cannot be read",
    meaning=f"template cannot be read (missing, over {MAX_TEMPLATE_BYTES // 1024} KiB, not UTF-8)",
    fix="check the path",
)
RELC303 = define(
    "RELC303",
    title="prompt template sha256 mismatch",
    meaning="template's sha256 differs from `prompt.sha256`",
    fix="for a new bundle, set the pin to the digest shown; a published bundle never changes: restore the file "
        "and publish a new version",
)
RELC304 = define(
    "RELC304",
    title="prompt template syntax error",
    meaning="template syntax error, or an unknown test",
    fix="fix the template at the line shown",
)
RELC305 = define(
    "RELC305",
    title="prompt template uses an undeclared variable",
    meaning="template uses a variable not in `prompt.variables`, or a Jinja global (`range`, `lipsum`...)",
    fix="declare the variable, or remove its use",
)
RELC306 = define(
    "RELC306",
    title="prompt template uses a construct the sandbox forbids",
    meaning="a construct the sandbox forbids: `_private` attributes, `attr`/`format` and other filters outside "
            "the allowlist, `.format()` and other methods outside the allowlist, "
            "`include`/`import`/`extends`/`macro`/`call`/`block`, `recursive` loops, `map` with a filter name "
            "that is not a literal",
    fix="keep templates to text, `{{ }}`, `if`, `for`, `set`, `with` and the allowed filters",
)
RELC307 = define(
    "RELC307",
    title="prompt template can render unbounded output",
    meaning="template can render unbounded output: `*`, `**`, `%`, nested literal loops or self-concatenation "
            "past 1 MiB; its variables rendered more than 1,000 times over (chained "
            "`tojson`/`escape`/`list`/`string`, doubling with `~`, `+` or `join`, literal loops around them); "
            "loops or joins over variables that print other variables nested past the square of the input size; "
            "`tojson(indent=)` other than a literal 0 to 8, `round(precision)` other than a literal 0 to 15",
    fix="keep prompt text linear in its inputs",
)


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


_NODES: Any = None


def _jinja_nodes() -> Any:
    """`jinja2.nodes`, imported on first use. Jinja is loaded only when a template is
    parsed, and an import statement in the walkers' recursive functions would call into
    importlib for every node (155,000 times in a cold build of 1,000 releases)."""
    global _NODES
    if _NODES is None:
        from jinja2 import nodes

        _NODES = nodes
    return _NODES


@lru_cache(maxsize=1)
def _environment() -> "ImmutableSandboxedEnvironment":
    environment = prompt_environment()
    # The optimizer folds constants at compile time: `{{ "x" * 10**9 }}` would be built here.
    environment.optimized = False
    return environment


def template_bytes(root: Path, template: str) -> bytes | TemplateProblem:
    """The bytes of the template a release names, or why it cannot be used: a name that
    leaves the repository, a link out of it, or an unreadable file."""
    return template_bytes_and_status(root, template)[0]


def template_bytes_and_status(root: Path, template: str) -> tuple[bytes | TemplateProblem, os.stat_result | None]:
    """`template_bytes`, with the fstat of the file read (None when it was not read)."""
    problem = name_problem(template)
    if problem is not None:
        return TemplateProblem("RELC301", f"template {problem}"), None
    return _read_template(root / template, template, root)


def _read_template(path: Path, template: str, root: Path) -> tuple[bytes | TemplateProblem, os.stat_result | None]:
    """The template's bytes; links are followed only while they stay inside `root`."""
    try:
        return read_input_file_and_status(path, MAX_TEMPLATE_BYTES, follow_links=True, inside=root)
    except FileReadError as error:
        if error.outside:
            problem = TemplateProblem("RELC301", f"template path `{template}` resolves outside the repository through a symbolic link")
            return problem, None
        return TemplateProblem("RELC302", f"template `{template}` {error}"), None


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class RememberedAnalyses:
    """`analyze_template`, kept in the release cache by the template's digest: a changed
    release whose templates did not change is checked without loading Jinja at all.
    Analyses made here wait in `made` for the caller to store (batched, in a pack when
    many), so a worker process can hand them to the parent."""

    def __init__(self, cache: "ReleaseCache") -> None:
        self.cache = cache
        self.made: dict[str, dict[str, Any]] = {}

    def analysis(self, raw: bytes) -> TemplateAnalysis:
        key = analysis_key(self.cache, sha256_hex(raw))
        entry = self.made.get(key) or self.cache.load(key)
        restored = _analysis_from_entry(entry) if entry is not None else None
        if restored is not None:
            return restored
        analysis = analyze_template(raw)
        problems = [[problem.code, problem.message, problem.line] for problem in analysis.problems]
        self.made[key] = {"problems": problems, "used_variables": analysis.used_variables}
        return analysis


def analysis_key(cache: "ReleaseCache", template_sha256: str) -> str:
    """Where the analysis of the template with this digest is kept."""
    return cache.key("template analysis", template_sha256)


def _analysis_from_entry(entry: dict[str, Any]) -> TemplateAnalysis | None:
    """The analysis an entry holds, or None when it is not as `RememberedAnalyses` writes it."""
    problems, used = entry.get("problems"), entry.get("used_variables")
    if not isinstance(problems, list) or not isinstance(used, dict):
        return None
    restored = []
    for problem in problems:
        if not (isinstance(problem, list) and len(problem) == 3 and isinstance(problem[0], str) and isinstance(problem[1], str)
                and (problem[2] is None or type(problem[2]) is int)):  # fmt: skip
            return None
        restored.append(TemplateProblem(problem[0], problem[1], problem[2]))
    if not all(isinstance(name, str) and type(count) is int for name, count in used.items()):
        return None
    return TemplateAnalysis(tuple(restored), dict(used))


@lru_cache(maxsize=512)  # templates shared by many releases; each entry holds its bytes
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
            bound = _OutputBound()
            total = bound.of_nodes(tree.body, {})
            if bound.problem is not None:
                problems.append(bound.problem)
            elif total.size > MAX_STATIC_OUTPUT:
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
    except ValueError:
        # Python refuses to convert an integer literal of thousands of digits.
        digits = re.search(r"[0-9_]{4300,}", text)
        line = text.count("\n", 0, digits.start()) + 1 if digits else None
        return TemplateAnalysis((TemplateProblem("RELC304", "template has a number too long to read; shorten it", line),), {})
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
        nodes = _jinja_nodes()

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
        nodes = _jinja_nodes()

        for name in _descendants(node, nodes.Name):
            if name.ctx == "load" and name.name not in bound and name.name not in self.reads:
                self.reads[name.name] = name.lineno
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in bound:
            self.reads.setdefault(node.name, node.lineno)


def _descendants(node: "nodes.Node", kind: type) -> Iterator[Any]:
    """The nodes of `kind` under `node`, in the order `Node.find_all` gives them (depth
    first, in field order), from one loop: `find_all` stacks a generator a level, and
    the walkers call this on every expression."""
    node_type = _jinja_nodes().Node
    stack = _children_last_first(node, node_type)
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            yield current
        stack.extend(_children_last_first(current, node_type))


def _children_last_first(node: "nodes.Node", node_type: type) -> list[Any]:
    """`node.iter_child_nodes()`, reversed, for a stack."""
    children: list[Any] = []
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, node_type):
            children.append(value)
        elif isinstance(value, list):
            children.extend(item for item in value if isinstance(item, node_type))
    children.reverse()
    return children


def _targets(target: "nodes.Node") -> set[str]:
    nodes = _jinja_nodes()

    if isinstance(target, nodes.Name):
        return {target.name}
    return {name.name for name in _descendants(target, nodes.Name)}


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
    nodes = _jinja_nodes()

    for node in _descendants(tree, nodes.Node):
        kind = type(node).__name__
        line = getattr(node, "lineno", None)
        if isinstance(node, nodes.Stmt) and kind not in _ALLOWED_STATEMENTS:
            tag = {"Macro": "macro", "CallBlock": "call", "Block": "block", "Extends": "extends",
                   "Include": "include", "Import": "import", "FromImport": "from"}.get(kind, kind.lower())  # fmt: skip
            yield TemplateProblem(
                "RELC306", f"`{{% {tag} %}}` is not allowed in prompt templates; keep each template self-contained", line
            )
        elif isinstance(node, nodes.For) and node.recursive:
            yield TemplateProblem(
                "RELC306", "`recursive` loops are not allowed in prompt templates: their depth has no bound", line
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
            if isinstance(node, nodes.Filter):
                yield from _filter_arguments(node)
            for argument in (*getattr(node, "args", []), *(k.value for k in getattr(node, "kwargs", []))):
                if isinstance(argument, nodes.Const) and isinstance(argument.value, str) and argument.value.startswith("_"):
                    yield TemplateProblem("RELC306", f"filter argument `{argument.value}` names a private attribute", line)
        elif isinstance(node, nodes.AssignBlock) and node.filter is not None:
            yield TemplateProblem(
                "RELC306", "a filter on a `{% set %}` block is not allowed; apply it where the value is used", line
            )
        elif isinstance(node, nodes.AssignBlock) and _targets(node.target) & {
            name.name for child in node.body for name in _descendants(child, nodes.Name)
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


def _filter_arguments(node: "nodes.Filter") -> Iterator[TemplateProblem]:
    """Arguments that size the output or the work must be small literals: `tojson(indent=)`
    pads every line, `round(precision, 'ceil')` computes 10**precision."""
    nodes = _jinja_nodes()

    name, positional = node.name, list(node.args)
    if name == "map" and positional:
        if not (isinstance(positional[0], nodes.Const) and isinstance(positional[0].value, str)):
            if not any(keyword.key == "attribute" for keyword in node.kwargs):
                yield TemplateProblem("RELC306", "`map` must name its filter as a literal string", node.lineno)
            return
        name, positional = positional[0].value, positional[1:]
    limits = {"tojson": ("indent", 0, MAX_JSON_INDENT), "round": ("precision", 0, MAX_ROUND_PRECISION)}
    if name not in limits:
        return
    keyword, low, high = limits[name]
    values = positional[:1] + [k.value for k in node.kwargs if k.key == keyword]
    for value in values:
        literal = isinstance(value, nodes.Const) and type(value.value) is int and low <= value.value <= high
        if not literal and not (isinstance(value, nodes.Const) and value.value is None and name == "tojson"):
            yield TemplateProblem(
                "RELC307", f"`{name}` takes `{keyword}` as a literal whole number from {low} to {high}", node.lineno
            )


def _is_loop_helper(attribute: "nodes.Getattr") -> bool:
    nodes = _jinja_nodes()

    return isinstance(attribute.node, nodes.Name) and attribute.node.name == "loop" and attribute.attr in ("cycle", "changed")


_CAP = 2**62  # bounds saturate here: past any limit, and cheap to compute with


@dataclass(frozen=True)
class _Bound:
    """How much text a value can render, as `size + scale * D**degree` where D is the
    size of the values the serving app passes (as printed), and how many items a loop
    over it can take (`length`, counting only what the template itself supplies).

    `size` is the template's own text, `scale` how many times over the template can
    repeat or expand its variables (a `tojson` of `tojson`, a `~` doubling, a loop over
    a literal list), `degree` how many loops over variables nest around them. An item
    of a variable counts once (the items add up to the variable), so a loop that prints
    its own item stays linear; one that prints another variable per item is quadratic.
    """

    size: int
    length: int | None  # None: data, or not a sequence
    scale: int = 0
    degree: int = 0

    @property
    def iterations(self) -> int:
        """Passes of a loop over this value: the template's own items, and the items of
        any variable in it counted once."""
        if self.length is None:
            return 1
        return self.length + (1 if self.effective_degree else 0)

    @property
    def effective_degree(self) -> int:
        return max(self.degree, 1 if self.scale else 0)

    def widest(self, other: "_Bound") -> "_Bound":
        lengths = [value for value in (self.length, other.length) if value is not None]
        return _Bound(
            max(self.size, other.size), max(lengths) if lengths else None, max(self.scale, other.scale),
            max(self.degree, other.degree),
        )  # fmt: skip

    def plus(self, other: "_Bound") -> "_Bound":
        return _Bound(
            min(self.size + other.size, _CAP), None, min(self.scale + other.scale, _CAP), max(self.degree, other.degree)
        )

    def times(self, factor: int) -> "_Bound":
        return _Bound(min(self.size * factor, _CAP), self.length, min(self.scale * factor, _CAP), self.degree)


_DATA = _Bound(0, None, 1, 1)
_SMALL = _Bound(24, None)  # a number, a boolean, a length
_NOTHING = _Bound(0, None)
# Filters whose output is at most a fixed multiple of their input: escaping expands, and
# `list` and `string` can turn text into a printed list that quotes every character.
_EXPANDING_FILTERS = {"escape": 6, "e": 6, "forceescape": 6, "tojson": 6, "urlencode": 3, "list": 10, "string": 10,
                      "upper": 3, "lower": 3, "title": 3, "capitalize": 3, "items": 3, "dictsort": 3}  # fmt: skip
_SHAPE_FILTERS = {"sort", "reverse", "unique", "select", "reject", "selectattr", "rejectattr", "map",
                  "first", "last", "default", "d", "safe", "trim", "striptags", "truncate", "max", "min"}  # fmt: skip
_EXPANDING_METHODS = {"split": 10, "splitlines": 10, "items": 3, "keys": 3, "values": 3, "upper": 3, "lower": 3,
                      "title": 3, "capitalize": 3}  # fmt: skip
MAX_AMPLIFICATION = 1000  # times over a template may render its variables
MAX_DEGREE = 2  # loops over variables that print other variables per item: quadratic at most
MAX_JSON_INDENT = 8
MAX_ROUND_PRECISION = 15  # digits a float has; `round(10**9, 'ceil')` computes 10**(10**9)


class _OutputBound:
    """Upper bound of the text a template writes (see `_Bound`), and the first place
    where any value it computes, printed or not, passes a limit.

    Loops multiply their body by the number of items the template gives them; `set`,
    `with` and loop targets carry the bounds of their values, so a name holding a
    literal list, or a string doubled by concatenation, is counted wherever it is used.
    """

    def __init__(self) -> None:
        self.problem: TemplateProblem | None = None

    def check(self, node: "nodes.Node", bound: _Bound) -> _Bound:
        """Record the first construct whose value passes a limit, with its line. Called
        for every expression: the message is only made for the one that passes."""
        if self.problem is not None or (bound.scale <= MAX_AMPLIFICATION and bound.effective_degree <= MAX_DEGREE):
            return bound
        what, line = _construct_name(node), getattr(node, "lineno", None)
        if bound.scale > MAX_AMPLIFICATION:
            self.problem = TemplateProblem(
                "RELC307",
                f"`{what}` can render the template's variables more than {MAX_AMPLIFICATION} times over (chained "
                "`tojson`/`escape`/`list`/`string`, doubling with `~` or `join`, loops over literal lists); "
                "keep prompt text linear in its inputs",
                line,
            )
        else:
            self.problem = TemplateProblem(
                "RELC307",
                f"`{what}` nests loops (or joins) over variables that print other variables: its output grows as "
                f"the power {bound.effective_degree} of the input size (at most {MAX_DEGREE} is allowed); print each "
                "item itself instead",
                line,
            )
        return bound

    def of_nodes(self, body: list["nodes.Node"], names: dict[str, _Bound]) -> _Bound:
        total = _NOTHING
        for node in body:
            total = total.plus(self.of_statement(node, names))
            if total.size > MAX_STATIC_OUTPUT or self.problem is not None:
                return total
        return total

    def of_statement(self, node: "nodes.Node", names: dict[str, _Bound]) -> _Bound:
        nodes = _jinja_nodes()

        if isinstance(node, nodes.Output):
            total = _NOTHING
            for child in node.nodes:
                total = total.plus(self.of_expression(child, names))
            return total
        if isinstance(node, nodes.Assign):
            value = self.of_expression(node.node, names)
            names.update({target: value for target in _targets(node.target)})
            return _NOTHING
        if isinstance(node, nodes.AssignBlock):
            body = self.of_nodes(node.body, dict(names))
            names.update({target: _Bound(body.size, body.size, body.scale, body.degree) for target in _targets(node.target)})
            return _NOTHING
        if isinstance(node, nodes.If):
            # A name set in a branch is visible after the `if`: keep the widest bound of each.
            branches = [node.body, *(elif_.body for elif_ in node.elif_), node.else_]
            widest = _NOTHING
            for branch in branches:
                inner = dict(names)
                widest = widest.widest(self.of_nodes(branch, inner))
                for name, value in inner.items():
                    names[name] = names[name].widest(value) if name in names else value
            return widest
        if isinstance(node, nodes.For):
            return self.check(node, self.of_loop(node, names))
        if isinstance(node, nodes.With):
            inner = dict(names)
            for target, value in zip(node.targets, node.values):
                bound = self.of_expression(value, names)
                inner.update({name: bound for name in _targets(target)})
            return self.of_nodes(node.body, inner)
        if isinstance(node, nodes.FilterBlock):
            body = self.of_nodes(node.body, dict(names))
            return self.check(node, body.times(_EXPANDING_FILTERS.get(node.filter.name, 1)))
        children = getattr(node, "body", None)
        return self.of_nodes(children, dict(names)) if isinstance(children, list) else _NOTHING

    def of_loop(self, node: "nodes.For", names: dict[str, _Bound]) -> _Bound:
        iterable = self.of_expression(node.iter, names)
        # Each pass starts from the names before the loop: Jinja does not carry a `set`
        # from one iteration to the next. An item is at most as large as its sequence;
        # an item of a variable counts once (the items add up to the variable).
        has_data = iterable.effective_degree > 0
        item_length = None if iterable.length is None else iterable.size
        item = _Bound(iterable.size, item_length, iterable.scale, 0 if has_data else iterable.degree)
        inner = dict(names)
        inner.update({name: item for name in _targets(node.target)})
        inner["loop"] = _SMALL
        once = self.of_nodes(node.body, inner)
        otherwise = self.of_nodes(node.else_, dict(names))
        passes = once.times(iterable.iterations)
        if has_data and once.degree:
            # Another variable printed for every item of this one: the powers add up.
            passes = _Bound(passes.size, None, passes.scale, iterable.effective_degree + once.degree)
        elif has_data:
            passes = _Bound(passes.size, None, passes.scale, max(passes.degree, iterable.effective_degree if once.scale else 0))
        return passes.plus(otherwise)

    def of_expression(self, node: "nodes.Node", names: dict[str, _Bound]) -> _Bound:
        return self.check(node, self._of_expression(node, names))

    def _of_expression(self, node: "nodes.Node", names: dict[str, _Bound]) -> _Bound:
        nodes = _jinja_nodes()

        if isinstance(node, nodes.TemplateData):
            return _Bound(len(node.data), len(node.data))
        if isinstance(node, nodes.Const):
            text = str(node.value)
            return _Bound(len(text), len(text) if isinstance(node.value, str) else None)
        if isinstance(node, nodes.Name):
            return names.get(node.name, _DATA)
        if isinstance(node, (nodes.List, nodes.Tuple)):
            total = _NOTHING
            for item in node.items:
                total = total.plus(self.of_expression(item, names)).plus(_Bound(2, None))
            return _Bound(total.size, len(node.items), total.scale, total.degree)
        if isinstance(node, nodes.Dict):
            total = _NOTHING
            for pair in node.items:
                total = total.plus(self.of_expression(pair.key, names)).plus(self.of_expression(pair.value, names))
                total = total.plus(_Bound(4, None))
            return _Bound(total.size, len(node.items), total.scale, total.degree)
        if isinstance(node, (nodes.Concat, nodes.Add)):
            parts = [self.of_expression(child, names) for child in (node.nodes if isinstance(node, nodes.Concat) else (node.left, node.right))]
            total = _NOTHING
            for part in parts:
                total = total.plus(part)
            return _Bound(total.size, min(sum(part.iterations for part in parts), _CAP), total.scale, total.degree)
        if isinstance(node, (nodes.CondExpr, nodes.Or, nodes.And)):
            left, right = (node.expr1, node.expr2) if isinstance(node, nodes.CondExpr) else (node.left, node.right)
            bound = self.of_expression(left, names)
            return bound.widest(self.of_expression(right, names)) if right is not None else bound
        if isinstance(node, nodes.Filter):
            return self.of_filter(node, names)
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Slice)):
            base = self.of_expression(node.node, names) if hasattr(node, "node") else _NOTHING
            return _Bound(base.size, base.size if base.length is not None or base.size else None, base.scale, base.degree)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            base = self.of_expression(node.node.node, names)
            arguments = [self.of_expression(argument, names) for argument in node.args]
            if isinstance(node.node.node, nodes.Name) and node.node.node.name == "loop":
                base = _SMALL  # loop.cycle(...) gives one of its arguments, loop.changed() a boolean
            widest = base
            for argument in arguments:
                widest = widest.widest(argument)
            widest = widest.times(_EXPANDING_METHODS.get(node.node.attr, 1))
            return _Bound(widest.size, widest.size if base.length is not None or base.size else None, widest.scale, widest.degree)
        return _SMALL

    def of_filter(self, node: "nodes.Filter", names: dict[str, _Bound]) -> _Bound:
        source = self.of_expression(node.node, names) if node.node is not None else _DATA
        arguments = [self.of_expression(argument, names) for argument in node.args]
        arguments += [self.of_expression(keyword.value, names) for keyword in node.kwargs]
        name = node.name
        if name == "map" and node.args and isinstance(node.args[0], _const_type()) and isinstance(node.args[0].value, str):
            name = node.args[0].value  # map('tojson') applies tojson to every item
            arguments = arguments[1:]
        if name == "join":
            separator = arguments[0] if arguments else _NOTHING
            size = min(source.size + source.iterations * separator.size, _CAP)
            if source.effective_degree and separator.effective_degree:
                degree = source.effective_degree + separator.effective_degree  # a variable between every item of one
            else:
                degree = max(source.degree, separator.degree)
            scale = min(source.scale + source.iterations * separator.scale, _CAP)
            return _Bound(size, size, scale, degree)
        if name in _EXPANDING_FILTERS:
            grown = source.times(_EXPANDING_FILTERS[name])
            return _Bound(grown.size, grown.size, grown.scale, grown.degree)
        if name in _SHAPE_FILTERS:
            widest = source
            for argument in arguments:
                widest = widest.widest(argument)
            return widest
        return _SMALL


def _const_type() -> type:
    nodes = _jinja_nodes()

    return nodes.Const


def _construct_name(node: "nodes.Node") -> str:
    """What a diagnostic names so its column can be found on the line: a filter, a
    statement keyword, a variable, or the operator."""
    nodes = _jinja_nodes()

    if isinstance(node, nodes.Filter):
        return node.name
    if isinstance(node, nodes.FilterBlock):
        return "filter"
    if isinstance(node, nodes.For):
        return "for"
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Concat):
        return "~"
    if isinstance(node, nodes.Add):
        return "+"
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        return node.node.attr
    if isinstance(node, (nodes.Getattr,)):
        return node.attr
    return "{{"


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
