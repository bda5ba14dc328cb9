"""Find literal credentials in release files and templates, and keep them out of every message.

Keys belong in environment variables named by `model.api_key_env`; a key pasted into a
release file or a prompt template is in Git history for good, and a template is copied
verbatim into `rendered/`. The scan reads raw text, comments included, and the loaded
values too: a YAML escape (`"\\x73k-..."`) or a line continuation hides a key from the
raw text but not from the value relc would write. Kinds follow gitleaks' rules.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from compiler.diagnostics import define


def _is_jwt(token: str) -> bool:
    """A JWT's header is base64url JSON naming its algorithm; random `ey...` text is not."""
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


@dataclass(frozen=True)
class SecretKind:
    label: str
    pattern: re.Pattern[str]
    shown: int  # leading characters fixed by the kind's format, safe to show in a preview
    confirm: Callable[[str], bool] | None = None


# Ordered so the most specific label wins where patterns overlap (sk-ant- before sk-).
SECRET_KINDS: tuple[SecretKind, ...] = tuple(
    SecretKind(label, re.compile(pattern), shown, confirm)
    for label, pattern, shown, confirm in (
        ("Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", 7, None),
        ("OpenAI API key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", 3, None),
        ("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", 4, None),
        ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}", 4, None),
        ("GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{30,}", 4, None),
        ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}", 3, None),
        ("Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 5, None),
        ("Groq API key", r"\bgsk_[A-Za-z0-9]{40,}", 4, None),
        ("JSON Web Token", r"\bey[JI][A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*", 3, _is_jwt),
        ("private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", 10, None),
    )
)
AWS_SECRET_LABEL = "AWS secret access key"

# One pattern, one named group per kind, in priority order: at each position the first
# kind that matches wins (sk-ant- before sk-), and one scan finds them all.
_ANY_SECRET = re.compile("|".join(f"(?P<kind{index}>{kind.pattern.pattern})" for index, kind in enumerate(SECRET_KINDS)))
# A whole PEM block, BEGIN to END; with no END (a value cut short), every base64 line after it.
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,.'\"-]*)",
    re.DOTALL,
)
# 40 base64 characters standing alone: the shape of an AWS secret access key. Only a
# secret when an access key id or a `secret` name stands near it (a git sha is lowercase
# hex, so it is never one).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SECRET_NAME = re.compile(r"secret", re.IGNORECASE)
AWS_NEARBY_LINES = 3
MAX_FINDINGS = 20  # a file full of keys needs no thousand lines to say so
# Literal text every pattern above contains: a plain substring test rules out most files
# far faster than the combined expression can.
_MARKERS = (
    "sk-", "AKIA", "ASIA", "ABIA", "ACCA", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "hf_",
    "xox", "gsk_", "PRIVATE KEY", "eyJ", "eyI",
)  # fmt: skip


def _may_hold_secret(text: str) -> bool:
    return any(marker in text for marker in _MARKERS) or _SECRET_NAME.search(text) is not None


@dataclass(frozen=True)
class SecretFinding:
    """Where a credential is and what kind it is, with a preview that cannot leak it."""

    line: int
    column: int
    label: str
    preview: str = ""


@dataclass(frozen=True)
class _Match:
    line: int
    column: int
    kind: str
    text: str  # the credential itself: never leaves this module


def preview(text: str, shown: int) -> str:
    """`sk-ant-…` (the kind's fixed prefix, never a secret character) and the length."""
    return f"`{text[:shown]}…` ({len(text)} characters)"


def _aws_secret_matches(lines: list[str], ids_at: set[int]) -> Iterator[_Match]:
    for number, line in enumerate(lines, start=1):
        for match in _AWS_SECRET.finditer(line):
            token = match.group()
            if not _looks_random(token):
                continue
            near_id = any(abs(number - at) <= AWS_NEARBY_LINES for at in ids_at)
            if near_id or _SECRET_NAME.search(line[: match.start()]):
                yield _Match(number, match.start() + 1, AWS_SECRET_LABEL, token)


def _matches(text: str) -> list[_Match]:
    """Every credential in `text`, in order, at most MAX_FINDINGS."""
    if not _may_hold_secret(text):
        return []
    found: list[_Match] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        for match in _ANY_SECRET.finditer(line):
            kind = SECRET_KINDS[int(match.lastgroup.removeprefix("kind"))]  # type: ignore[union-attr]
            if kind.confirm is None or kind.confirm(match.group()):
                found.append(_Match(number, match.start() + 1, kind.label, match.group()))
    ids_at = {m.line for m in found if m.kind == "AWS access key id"}
    found.extend(_aws_secret_matches(lines, ids_at))
    found.sort(key=lambda m: (m.line, m.column))
    return found[:MAX_FINDINGS]


def _finding(match: _Match) -> SecretFinding:
    shown = next((kind.shown for kind in SECRET_KINDS if kind.label == match.kind), 0)
    return SecretFinding(match.line, match.column, match.kind, preview(match.text, shown))


RELC401 = define(
    "RELC401",
    title="literal secret in a release",
    meaning="a literal credential (OpenAI `sk-`, Anthropic `sk-ant-`, AWS access key ids `AKIA...` and the "
            "secret access key beside one, Google `AIza...`, GitHub, Hugging Face, Slack, Groq tokens, JSON Web "
            "Tokens, private keys) in a release file, comments included, in a value once YAML escapes are undone "
            "(`\"\\x73k-...\"`), or in a prompt template; the message shows the kind, the place and a preview "
            "with no secret character (`sk-ant-…` (45 characters))",
    fix="remove it, rotate it (Git keeps history), and name its environment variable in `model.api_key_env`",
)


def find_secrets(text: str) -> list[SecretFinding]:
    """Literal credentials in `text` with their 1-based positions and a redacted preview
    (never their values); at most MAX_FINDINGS, in order."""
    return [_finding(match) for match in _matches(text)]


Place = Callable[[tuple[str | int, ...], bool], tuple[int, int]]


def find_secrets_in_values(data: Any, raw_text: str, place: Place) -> list[SecretFinding]:
    """Credentials that only show in the loaded values (after YAML unescaping and line
    folding), placed at the value (or key) by `place(path, is_key)`; one the raw text
    already shows is left to the raw scan, which knows its exact column."""
    if not _may_hold_secret("\n".join(_all_strings(data))):
        return []  # the common case, decided in one pass: no value holds a marker
    in_raw = {match.text for match in _matches(raw_text)}
    findings: list[SecretFinding] = []
    for path, value, is_key in _strings(data, ()):
        for match in _matches(value):
            if match.text in in_raw:
                continue
            line, column = place(path, is_key)
            findings.append(_finding(_Match(line, column, match.kind, match.text)))
            if len(findings) == MAX_FINDINGS:
                return findings
    return findings


def _all_strings(data: Any) -> list[str]:
    """Every string in loaded data, keys included, without the paths `_strings` tracks."""
    found: list[str] = []
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(key for key in value if isinstance(key, str))
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """Every string in loaded data, mapping keys included (flagged), with its path."""
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield path + (key,), key, True
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


def redact(text: str) -> str:
    """Replace every credential-looking substring (a PEM key block whole) so messages can be printed safely."""
    if not _may_hold_secret(text):
        return text
    near_aws_secret = _SECRET_NAME.search(text) is not None or "AKIA" in text or "ASIA" in text
    text = _ANY_SECRET.sub("[REDACTED]", _PEM_BLOCK.sub("[REDACTED]", text))
    if near_aws_secret:
        text = _AWS_SECRET.sub(lambda m: "[REDACTED]" if _looks_random(m.group()) else m.group(), text)
    return text


def _looks_random(token: str) -> bool:
    """Upper and lower case letters and digits: a git sha or a word is not a key."""
    return bool(re.search(r"[A-Z]", token) and re.search(r"[a-z]", token) and re.search(r"[0-9]", token))
