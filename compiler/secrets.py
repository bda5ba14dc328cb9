"""Find literal credentials in release files and keep them out of every message.

Keys belong in environment variables named by `model.api_key_env`; a key pasted into a
release file is in Git history for good. The scan reads raw text, comments included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretKind:
    label: str
    pattern: re.Pattern[str]


# Ordered so the most specific label wins where patterns overlap (sk-ant- before sk-).
SECRET_KINDS: tuple[SecretKind, ...] = tuple(
    SecretKind(label, re.compile(pattern))
    for label, pattern in (
        ("Anthropic API key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
        ("OpenAI API key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
        ("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
        ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
        ("GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{30,}"),
        ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
        ("Groq API key", r"\bgsk_[A-Za-z0-9]{40,}"),
        ("private key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    )
)

# One pattern, one named group per kind, in priority order: at each position the first
# kind that matches wins (sk-ant- before sk-), and one scan finds them all.
_ANY_SECRET = re.compile("|".join(f"(?P<kind{index}>{kind.pattern.pattern})" for index, kind in enumerate(SECRET_KINDS)))
MAX_FINDINGS = 20  # a file full of keys needs no thousand lines to say so
# Literal text every pattern above contains: a plain substring test rules out most files
# far faster than the combined expression can.
_MARKERS = ("sk-", "AKIA", "ASIA", "ABIA", "ACCA", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "hf_", "xox", "gsk_", "PRIVATE KEY")


def _may_hold_secret(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


@dataclass(frozen=True)
class SecretFinding:
    line: int
    column: int
    label: str


def find_secrets(text: str) -> list[SecretFinding]:
    """Literal credentials in `text` with their 1-based positions (never their values);
    at most MAX_FINDINGS, in order."""
    if not _may_hold_secret(text):
        return []
    findings = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        for match in _ANY_SECRET.finditer(line):
            kind = SECRET_KINDS[int(match.lastgroup.removeprefix("kind"))]  # type: ignore[union-attr]
            findings.append(SecretFinding(line_number, match.start() + 1, kind.label))
            if len(findings) == MAX_FINDINGS:
                return findings
    return findings


def redact(text: str) -> str:
    """Replace every credential-looking substring so messages can be printed safely."""
    return _ANY_SECRET.sub("[REDACTED]", text) if _may_hold_secret(text) else text
