"""The spec's field patterns: each is written with the words its diagnostic uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from compiler.config import SOURCE_URL_PATTERN
from compiler.schema import config_schema_text, schema_text
from compiler.spec import DURATION_PATTERN, PATTERN_HINTS, pattern


def _patterns(schema: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(place in the schema, pattern) for every `pattern` in a JSON Schema."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield where, value
            else:
                yield from _patterns(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _patterns(value, f"{where}/{index}")


@pytest.mark.parametrize(
    ("text", "known"), [(schema_text, DURATION_PATTERN), (config_schema_text, SOURCE_URL_PATTERN)], ids=["release", "relc.yaml"]
)
def test_every_pattern_in_the_published_schemas_has_a_hint(text: Any, known: str) -> None:
    found = list(_patterns(json.loads(text())))
    assert known in {regex for _, regex in found}  # the walk reaches nested definitions and list items
    unexplained = [f"{where}: {regex}" for where, regex in found if regex not in PATTERN_HINTS]
    assert not unexplained, "patterns without a hint (write them with compiler.spec.pattern):\n" + "\n".join(unexplained)


def test_a_pattern_keeps_one_hint() -> None:
    duration = next(regex for regex, hint in PATTERN_HINTS.items() if hint.startswith("a duration"))
    assert pattern(duration, PATTERN_HINTS[duration]) == duration  # the same words again: a module imported twice
    with pytest.raises(ValueError, match="already has the hint"):
        pattern(duration, "some other words")


def test_a_mismatch_in_relc_yaml_is_said_in_words_not_as_a_regex(tmp_path: Path) -> None:
    from compiler.config import load_config

    (tmp_path / "relc.yaml").write_text("apiVersion: relc/v1\nkind: Config\nmetrics:\n  - name: p\n    url: ftp://x\n")
    config, diagnostics = load_config(tmp_path)
    assert config is None
    assert [d.as_text() for d in diagnostics] == [
        "relc.yaml:5:10: error RELC106: metrics[0].url must be an http:// or https:// URL, or one that starts "
        "`phoenix+` or `langfuse+`, got the string 'ftp://x'"
    ]
