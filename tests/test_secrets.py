"""Literal credentials are found by position and never echoed."""

from __future__ import annotations

from compiler.diagnostics import Diagnostic
from compiler.reporter import format_github, format_json, format_text
from compiler.secrets import find_secrets, redact

FAKE_OPENAI = "sk-proj-" + "EXAMPLE0" * 5
FAKE_ANTHROPIC = "sk-ant-api03-" + "EXAMPLE0" * 4
FAKE_AWS = "AKIA" + "EXAMPLE0EXAMPLE0"


def test_secrets_are_found_with_line_column_and_kind() -> None:
    text = f"a: 1\nkey: {FAKE_ANTHROPIC}\n# old {FAKE_OPENAI} and {FAKE_AWS}\n"
    findings = find_secrets(text)
    assert [(f.line, f.column, f.label) for f in findings] == [
        (2, 6, "Anthropic API key"),
        (3, 7, "OpenAI API key"),
        (3, 7 + len(FAKE_OPENAI) + 5, "AWS access key id"),
    ]


def test_names_of_variables_and_short_prefixes_are_not_secrets() -> None:
    assert find_secrets("api_key_env: OPENAI_API_KEY\nname: sk-short\ntask-sk-ant\nAKIA\n") == []


def test_every_diagnostic_message_is_redacted_in_every_format() -> None:
    diagnostic = Diagnostic("r.yaml", 1, 1, "RELC106", f"got the string '{FAKE_OPENAI}'")
    assert FAKE_OPENAI not in diagnostic.message and "[REDACTED]" in diagnostic.message
    for formatter in (format_text, format_json, format_github):
        assert "EXAMPLE0" not in formatter([diagnostic])
    assert redact(f"x {FAKE_AWS} y") == "x [REDACTED] y"


def test_findings_are_capped_per_file() -> None:
    from compiler.secrets import MAX_FINDINGS

    line = " ".join([FAKE_OPENAI] * 50)
    findings = find_secrets(f"# {line}\n{FAKE_AWS}\n")
    assert len(findings) == MAX_FINDINGS and all(f.line == 1 for f in findings)
