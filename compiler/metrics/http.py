"""One JSON GET for the monitors' REST APIs, with every failure a MetricError that says why.

A source that cannot answer makes its triggers hold (never promote), so each message names
the service, what failed and, where the server said, its reason. Headers (API keys) are
never part of a message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from compiler.metrics import MetricError

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def get_json(address: str, service: str, headers: dict[str, str], timeout: float, hints: dict[int, str] | None = None) -> Any:
    """The JSON document at `address`; MetricError when unreachable, refused or not JSON.
    `hints` adds the fix for an HTTP status (401: which variables hold the key)."""
    request = urllib.request.Request(address, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        hint = (hints or {}).get(error.code)
        raise MetricError(f"{service} refused the request (HTTP {error.code}){_reason(error)}" + (f"; {hint}" if hint else "")) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MetricError(f"cannot reach {service}: {reason}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise MetricError(f"{service} answered with more than {MAX_RESPONSE_BYTES // 2**20} MiB")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MetricError(f"{service} did not answer with JSON: {_excerpt(body)}") from None


def _reason(error: urllib.error.HTTPError) -> str:
    """The server's own explanation (FastAPI's `detail`, a `message`, or its text), short."""
    try:
        body = error.read(4096)
    except OSError:
        return ""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = _excerpt(body)
        return f": {text}" if text else ""
    if isinstance(document, dict):
        for key in ("detail", "message", "error"):
            if isinstance(document.get(key), str):
                return f": {document[key][:300]}"
    return f": {json.dumps(document)[:300]}"


def _excerpt(body: bytes) -> str:
    return " ".join(body[:200].decode("utf-8", "replace").split())
