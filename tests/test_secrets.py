"""Literal credentials are found by position and never echoed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostic
from compiler.reporter import format_github, format_json, format_text
from compiler.secrets import find_secrets, redact
from tests.conftest import CASES

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

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


def _jwt() -> str:
    import base64
    import json

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'relc-tests', 'iat': 1790000000})}.c2lnbmF0dXJlRVhBTVBMRTA"


FAKE_JWT = _jwt()
FAKE_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
FAKE_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEAEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE0\n"
    "Zm9vYmFyYmF6cXV4EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE1\n"
    "-----END RSA PRIVATE KEY-----"
)


def test_a_json_web_token_is_found_only_when_its_header_names_an_algorithm() -> None:
    assert [(f.label, f.column) for f in find_secrets(f"token: {FAKE_JWT}\n")] == [("JSON Web Token", 8)]
    # `ey...` that is not base64 JSON with `alg`: a word, or a header without an algorithm.
    import base64

    no_alg = base64.urlsafe_b64encode(b'{"typ": "JWT", "kid": "k"}').decode().rstrip("=")
    assert find_secrets(f"a: eyJustSomeWordsHere.notreally.atoken\nb: {no_alg}.eyJzdWIiOiJ4In0.sig\n") == []


def test_an_aws_secret_access_key_is_found_next_to_its_id_or_its_name() -> None:
    beside_id = f"id: {FAKE_AWS}\nkey: {FAKE_AWS_SECRET}\n"
    assert [(f.line, f.label) for f in find_secrets(beside_id)] == [(1, "AWS access key id"), (2, "AWS secret access key")]
    named = f"aws_secret_access_key = {FAKE_AWS_SECRET}\n"
    assert [(f.line, f.column, f.label) for f in find_secrets(named)] == [(1, 25, "AWS secret access key")]
    # Forty characters alone, or a git sha beside an id, are not secrets.
    assert find_secrets(f"digest: {FAKE_AWS_SECRET}\n") == []
    assert [f.label for f in find_secrets(f"id: {FAKE_AWS}\nrevision: {'0123456789abcdef' * 2}01234567\n")] == ["AWS access key id"]


def test_a_private_key_is_redacted_whole_even_when_cut_short_or_quoted() -> None:
    body_lines = FAKE_PEM.splitlines()[1:3]
    for text in (
        f"got {FAKE_PEM} here",
        f"got the string {FAKE_PEM[:70]!r}...",  # a value shown cut short, newlines escaped
        "x: " + "\n".join(FAKE_PEM.splitlines()[:2]),  # no END line at all
    ):
        redacted = redact(text)
        assert "[REDACTED]" in redacted and "PRIVATE KEY" not in redacted
        assert not any(line[:20] in redacted for line in body_lines), redacted


def test_findings_preview_shows_only_the_kinds_fixed_prefix() -> None:
    text = f"a: {FAKE_ANTHROPIC}\nb: {FAKE_JWT}\nc: {FAKE_AWS}\nsecret: {FAKE_AWS_SECRET}\n{FAKE_PEM}\n"
    previews = {f.label: f.preview for f in find_secrets(text)}
    assert previews == {
        "Anthropic API key": f"`sk-ant-…` ({len(FAKE_ANTHROPIC)} characters)",
        "JSON Web Token": f"`eyJ…` ({len(FAKE_JWT)} characters)",
        "AWS access key id": "`AKIA…` (20 characters)",
        "AWS secret access key": "`…` (40 characters)",
        "private key": "`-----BEGIN…` (31 characters)",
    }


def _release_with(tmp_path: "Path", description: str, template: str | None = None) -> "Path":
    """A repository with one release whose description is `description` (YAML text) and,
    when given, whose template text is `template` (pinned, so only the secret is wrong)."""
    import hashlib

    from tests.support import Repository, release_text

    repository = Repository(tmp_path / "repo")
    text = release_text("chat", ["v1"], stable="v1").replace("owners:", f"description: {description}\nowners:", 1)
    if template is not None:
        (repository.root / "prompts" / "basic.j2").write_text(template)
        old = hashlib.sha256((CASES / "prompts" / "basic.j2").read_bytes()).hexdigest()
        text = text.replace(old, hashlib.sha256(template.encode()).hexdigest())
    repository.write("chat", text)
    return repository.root


def _validate(root: "Path", *arguments: str) -> "subprocess.CompletedProcess[str]":
    from tests.conftest import run_relc

    return run_relc("validate", *arguments, "releases", cwd=root)


ESCAPED_OPENAI = "".join(f"\\x{ord(c):02x}" if c in "sk" else c for c in FAKE_OPENAI)


def test_a_key_hidden_by_yaml_escapes_or_line_folding_is_found_at_its_value(tmp_path: "Path") -> None:
    folded = f'"{FAKE_OPENAI[:10]}\\\n  {FAKE_OPENAI[10:]}"'  # a double-quoted line break escaped away
    for description in (f'"{ESCAPED_OPENAI}"', folded, f'"\\u0073k-ant-api03-{"EXAMPLE0" * 4}"'):
        root = _release_with(tmp_path / str(abs(hash(description))), description)
        completed = _validate(root)
        assert completed.returncode == 1, completed.stdout
        assert "releases/chat.yaml:4:14: error RELC401: this looks like a literal" in completed.stdout, completed.stdout
        assert "EXAMPLE0" not in completed.stdout + completed.stderr and "Traceback" not in completed.stderr


def test_a_key_in_a_prompt_template_is_found_in_the_template_and_nothing_is_built(tmp_path: "Path") -> None:
    from tests.conftest import run_relc

    template = f"Answer briefly.\n\nauth: Bearer {FAKE_JWT}\n{FAKE_PEM}\nQuestion: {{{{ question }}}}\n"
    root = _release_with(tmp_path, '"a chat"', template)
    completed = _validate(root)
    assert completed.returncode == 1
    assert completed.stdout.splitlines() == [
        f"prompts/basic.j2:3:14: error RELC401: this looks like a literal JSON Web Token (`eyJ…` ({len(FAKE_JWT)} "
        "characters)); remove it from the file (and rotate it: Git keeps history) and name the environment variable "
        "that holds it in model.api_key_env",
        "prompts/basic.j2:4:1: error RELC401: this looks like a literal private key (`-----BEGIN…` (31 characters)); "
        "remove it from the file (and rotate it: Git keeps history) and name the environment variable that holds it "
        "in model.api_key_env",
    ]
    built = run_relc("build", cwd=root)
    assert built.returncode == 1 and not (root / "rendered").exists()


def test_no_format_prints_any_secret_character(tmp_path: "Path") -> None:
    description = f'"{ESCAPED_OPENAI} {FAKE_AWS} {FAKE_JWT}"'
    template = f"aws_secret_access_key: {FAKE_AWS_SECRET}\n{FAKE_PEM}\n{{{{ question }}}}\n"
    root = _release_with(tmp_path, description, template)
    secrets = [FAKE_OPENAI[3:], FAKE_AWS[4:], FAKE_JWT[3:20], FAKE_AWS_SECRET[:10], "MIIEpAIB", "Zm9vYmFy"]
    for output_format in ("text", "json", "github"):
        completed = _validate(root, "--format", output_format)
        shown = completed.stdout + completed.stderr
        assert completed.returncode == 1 and shown.count("RELC401") >= 5, shown
        assert not [secret for secret in secrets if secret in shown], shown
