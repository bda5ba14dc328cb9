"""Prompt templates: what the static checks accept, and that the sandbox agrees at render time."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from compiler.prompts import analyze_template, check_variables, prompt_environment

RICH_TEMPLATE = """\
{% set greeting = "Hello " ~ name|title %}{{ greeting }}.
{% for passage in passages %}[{{ loop.index }}] {{ passage.title|upper }}: {{ passage.text|truncate(80) }}
{% else %}No passages.
{% endfor %}{% if tier == "enterprise" %}Priority support.{% endif %}
{{ question|trim }} {{ tags|join(", ") }} {{ passages|length }} {{ question.strip().lower() }}
"""


def test_a_rich_but_safe_template_passes_and_renders_in_the_sandbox() -> None:
    analysis = analyze_template(RICH_TEMPLATE.encode())
    assert analysis.problems == ()
    declared = ["name", "passages", "tier", "question", "tags"]
    assert sorted(analysis.used_variables) == sorted(declared)
    assert check_variables(analysis, declared) == []
    text = prompt_environment().from_string(RICH_TEMPLATE).render(
        name="ada", passages=[{"title": "reset", "text": "Hold the button."}], tier="enterprise",
        question=" How? ", tags=["a", "b"],
    )  # fmt: skip
    assert "Hello Ada." in text and "[1] RESET: Hold the button." in text and "Priority support." in text


def test_undeclared_variables_are_reported_with_their_line() -> None:
    analysis = analyze_template(b"line one\n{{ question }}\n{{ customer }}\n")
    problems = check_variables(analysis, ["question"])
    assert [(p.code, p.line) for p in problems] == [("RELC305", 3)]
    assert "customer" in problems[0].message


@pytest.mark.parametrize(
    "template",
    ["{{ x.__class__ }}", "{{ x|attr('__class__') }}", "{{ '{0.__class__}'.format(x) }}"],
)
def test_what_the_static_check_refuses_the_sandbox_also_refuses(template: str) -> None:
    assert analyze_template(template.encode()).problems, template
    with pytest.raises(SecurityError):
        environment = prompt_environment()
        environment.filters["attr"] = __import__("jinja2").filters.do_attr  # as an unrestricted environment has it
        environment.from_string(template).render(x="text")


def test_the_rendering_environment_has_no_globals_and_strict_undefined() -> None:
    environment = prompt_environment()
    assert environment.globals == {}
    assert "format" not in environment.filters and "attr" not in environment.filters
    with pytest.raises(UndefinedError):
        environment.from_string("{{ missing }}").render()


def test_literal_loops_are_fine_while_their_output_stays_small() -> None:
    small = "{% for a in [1,2,3] %}{% for b in [1,2,3] %}{{ a }}{{ b }} {% endfor %}{% endfor %}"
    assert analyze_template(small.encode()).problems == ()
    large = "{% for a in " + str(list(range(1000))) + " %}{% for b in " + str(list(range(1000))) + " %}xx{% endfor %}{% endfor %}"
    assert [p.code for p in analyze_template(large.encode()).problems] == ["RELC307"]


def test_a_template_that_is_not_utf8_is_reported() -> None:
    assert [p.code for p in analyze_template(b"\xff{{ x }}").problems] == ["RELC302"]


SCOPING_TEMPLATES = [
    "{{ a }}{% set a = 1 %}{{ a }}",
    "{% set a = 1 %}{{ a }}{{ b }}",
    "{% for x in xs %}{{ x }}{{ loop.index }}{% set y = 1 %}{{ y }}{% endfor %}{{ x }}{{ y }}",
    "{% for x in xs if x.ok %}{{ x }}{% else %}{{ loop }}{% endfor %}",
    "{% for k, v in pairs %}{{ k }}={{ v }}{% endfor %}{{ k }}",
    "{% if c %}{% set z = 1 %}{% else %}{% set z = 2 %}{% endif %}{{ z }}",
    "{% if c %}{% set z = 1 %}{% endif %}{{ z }}",
    "{% if c %}{% set z = 1 %}{% elif d %}{% set z = 2 %}{% else %}{% set z = 3 %}{% endif %}{{ z }}",
    "{% with a = b, c = a %}{{ a }}{{ c }}{% endwith %}{{ a }}",
    "{% set block %}{{ inner }}{% endset %}{{ block }}",
    "{% filter upper %}{{ shout }}{% set q = 1 %}{% endfilter %}{{ q }}",
    "{{ xs|map(attribute='name')|join(', ') }}{{ d.get('k', fallback) }}",
]


@pytest.mark.parametrize("template", SCOPING_TEMPLATES)
def test_context_reads_agree_with_jinja_for_scoping(template: str) -> None:
    """One known difference, on purpose: Jinja also reports a name set inside an `if`
    branch and read only there; `context_reads` does not, as the branch binds it."""
    from jinja2 import meta

    from compiler.prompts import _environment, context_reads

    tree = _environment().parse(template)
    assert set(context_reads(tree)) == meta.find_undeclared_variables(tree)


def test_context_reads_agree_with_jinja_on_every_template_in_the_repository() -> None:
    from jinja2 import meta

    from compiler.prompts import _environment, context_reads
    from tests.conftest import REPO

    templates = [*REPO.glob("prompts/**/*.j2"), *REPO.glob("tests/cases/prompts/**/*.j2")]
    checked = 0
    for path in templates:
        if path.is_symlink():
            continue
        raw = path.read_bytes()
        if analyze_template(raw).problems:
            continue
        tree = _environment().parse(raw.decode())
        assert set(context_reads(tree)) == meta.find_undeclared_variables(tree), path
        checked += 1
    assert checked >= 6


_HUNDRED = "[" + ",".join(["1"] * 100) + "]"


@pytest.mark.parametrize(
    ("template", "code"),
    [
        # Amplification through names, `with`, `if` branches and join separators is bounded too.
        ("{% set a = " + _HUNDRED + " %}" + "{% for i in a %}" * 4 + "xxxxxxxxxx" + "{% endfor %}" * 4 + "{{ q }}", "RELC307"),
        ("{% with a = " + _HUNDRED + " %}" + "{% for i in a %}" * 4 + "xx" + "{% endfor %}" * 4 + "{% endwith %}", "RELC307"),
        ("{% if q %}{% set a = " + _HUNDRED + " %}{% endif %}" + "{% for i in a %}" * 4 + "xx" + "{% endfor %}" * 4, "RELC307"),
        ("{{ " + _HUNDRED.replace("100", "1") * 1 + "|join('" + "y" * 20000 + "') }}", "RELC307"),
        ("{% for i in " + _HUNDRED + "|list %}{% for j in " + _HUNDRED + "|sort %}{% for k in " + _HUNDRED + " %}"
         + "x" * 20 + "{% endfor %}{% endfor %}{% endfor %}", "RELC307"),
        # Nesting that would exhaust Python's stack is a diagnostic, not a crash.
        ("{{ " + "[" * 150 + "]" * 150 + " }}", "RELC304"),
        ("{{ " + "(" * 400 + "q" + ")" * 400 + " }}", "RELC304"),
        # Set blocks Jinja cannot compile or always leaves undefined.
        ("{% set a | upper %}x{% endset %}{{ a }}", "RELC306"),
        ("{% set q %}{{ q }}{% endset %}{{ q }}", "RELC304"),
    ],
)
def test_hostile_templates_are_diagnostics(template: str, code: str) -> None:
    assert [problem.code for problem in analyze_template(template.encode()).problems] == [code]


def test_a_set_inside_a_loop_does_not_carry_between_iterations() -> None:
    """Jinja starts each iteration from the names before the loop: no doubling, no alarm."""
    template = "{% set a = 'aaaaaaaaaaaaaaaaaaaa' %}{% for i in " + _HUNDRED + " %}{% set a = a ~ a %}{{ a }}{% endfor %}"
    assert analyze_template(template.encode()).problems == ()
    rendered = prompt_environment().from_string(template).render()
    assert len(rendered) == 100 * 40


def test_loops_over_data_count_once() -> None:
    template = "{% for d in docs %}{% for p in d.passages %}{{ p.text|truncate(100) }}{% endfor %}{% endfor %}"
    assert analyze_template(template.encode()).problems == ()


def _doubling(step: str, count: int) -> str:
    """`{% set a1 = STEP(x) %}...{{ aN }}`: each name built from the one before."""
    sets = "".join("{% set a" + str(i + 1) + " = " + step.replace("A", f"a{i}") + " %}" for i in range(count))
    return sets.replace("a0", "x") + "{{ a" + str(count) + " }}"


# Each grows exponentially (or as a high power) with its input, yet passed `validate`:
# found by trying the bound (issue #16). Each must be a RELC307 or RELC306 at its line.
BYPASSES = {
    "chained tojson": ("{{ x" + "|tojson" * 40 + " }}", "RELC307", "`tojson` can render"),
    "tojson in a set": ("{% set y = x" + "|tojson" * 40 + " %}{{ q }}", "RELC307", "`tojson` can render"),
    "list and string": ("{{ x" + "|list|string" * 20 + " }}", "RELC307", "`string` can render"),
    "escape and string": ("{{ x" + "|e|string" * 20 + " }}", "RELC307", "`string` can render"),
    "doubling a variable with ~": (_doubling("A ~ A", 40), "RELC307", "`~` can render"),
    "doubling with +": (_doubling("A + A", 40), "RELC307", "`+` can render"),
    "joining a variable with itself": (_doubling("A|join(A)", 10), "RELC307", "`join` nests"),
    "recursive loop": ("{% for i in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}", "RELC306", "`recursive` loops"),
    "recursive loop over data": ("{% for i in xs recursive %}{{ loop(i.children) }}{% endfor %}", "RELC306", "`recursive`"),
    "huge tojson indent": ("{{ x|tojson(indent=999999999) }}", "RELC307", "`tojson` takes `indent`"),
    "huge positional indent": ("{{ x|tojson(999999999) }}", "RELC307", "`tojson` takes `indent`"),
    "indent from a variable": ("{{ x|tojson(indent=n) }}", "RELC307", "`tojson` takes `indent`"),
    "indent through map": ("{{ xs|map('tojson', indent=999999999)|join }}", "RELC307", "`tojson` takes `indent`"),
    "filter named by a variable": ("{{ xs|map(f)|join }}", "RELC306", "`map` must name"),
    "round computing 10**precision": ("{{ x|float|round(999999999, 'ceil') }}", "RELC307", "`round` takes"),
    "string repetition": ("{{ x * 999999999 }}", "RELC307", "repetition with `*`"),
    "literal loops around a variable": ("{% for a in [1, 2] %}" * 40 + "{{ x }}" + "{% endfor %}" * 40, "RELC307", "`for` can"),
    "loops over variables nested deep": ("{% for a in x %}" * 30 + "{{ a }}" + "{% endfor %}" * 30, "RELC307", "`for` nests"),
    "chained map tojson": ("{{ xs" + "|map('tojson')|list" * 10 + " }}", "RELC307", "can render"),
    "an integer of 5,000 digits": ("{{ " + "9" * 5000 + " }}", "RELC304", "number too long"),
    "a filter block doubling": ("{% filter tojson %}" * 40 + "{{ x }}" + "{% endfilter %}" * 40, "RELC307", "can render"),
}


def test_descendants_are_the_nodes_find_all_gives_in_its_order() -> None:
    """The walkers' own traversal stands in for Jinja's `find_all`: the same nodes, the
    same order (the first read of a name gives its line), on every template here."""
    from jinja2 import TemplateSyntaxError, nodes

    from compiler.prompts import _descendants, _environment
    from tests.conftest import REPO

    texts = [*SCOPING_TEMPLATES, *(template for template, _, _ in BYPASSES.values())]
    texts += [path.read_text() for path in sorted(REPO.glob("prompts/**/*.j2")) if not path.is_symlink()]
    compared = 0
    for text in texts:
        try:
            tree = _environment().parse(text)
        except (TemplateSyntaxError, ValueError):
            continue
        for kind in (nodes.Node, nodes.Name, nodes.Filter):
            assert [id(node) for node in _descendants(tree, kind)] == [id(node) for node in tree.find_all(kind)], text
        compared += 1
    assert compared >= 25


@pytest.mark.parametrize("name", sorted(BYPASSES))
def test_output_bound_bypasses_are_refused(name: str) -> None:
    template, code, message = BYPASSES[name]
    problems = analyze_template(("Intro line.\n" + template + "\n").encode()).problems
    assert [(p.code, p.line) for p in problems] == [(code, 2 if "digits" not in name else 2)], problems
    assert message in problems[0].message


def test_the_bound_names_the_construct_and_its_column() -> None:
    from compiler.prompts import problem_column

    raw = b"Intro.\nAnswer: {{ question|tojson|tojson|tojson|tojson|tojson }}\n"
    (problem,) = analyze_template(raw).problems
    assert problem.line == 2 and problem_column(raw, problem) == raw.splitlines()[1].decode().index("tojson") + 1


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages|tojson }} {{ doc|tojson|e }} {{ x|tojson(indent=2) }} {{ x|round(2) }}",
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content|trim }}{% for p in m.parts %}{{ p.text|e }}{% endfor %}{% endfor %}",
        "{% for m in messages %}{{ system }}: {{ m }}{% endfor %}",  # another variable per item: quadratic, allowed
        "{% for lang in ['en', 'fr', 'de'] %}{{ lang }}: {{ question|tojson }}{% endfor %}",
        "{{ (a ~ b ~ c)|upper }} {{ tags|join(', ') }} {{ xs|map(attribute='name')|join(sep) }}",
    ],
)
def test_ordinary_templates_stay_within_the_bound(template: str) -> None:
    assert analyze_template(template.encode()).problems == ()


def test_range_and_lipsum_are_not_there_to_call() -> None:
    """Templates run with no globals: `range(10**9)` and `lipsum(10**9)` are undeclared names."""
    for template in ("{{ range(999999999)|join }}", "{{ lipsum(999999999) }}"):
        analysis = analyze_template(template.encode())
        assert analysis.problems == ()
        assert [p.code for p in check_variables(analysis, [])] == ["RELC305"]
