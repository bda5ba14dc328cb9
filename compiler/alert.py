"""Alerts for a person: a Slack-style JSON message posted to a webhook.

The URL is a secret (it lets anyone post), so it comes from an environment variable
and never appears in output or errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from compiler.triggers import Decision
from compiler.errors import RelcError


class AlertError(RelcError):
    """The webhook could not be reached or refused the message."""


def alert_message(decision: Decision) -> dict:
    lines = [f"*relc: {decision.release}* needs a decision: alert triggers breached on `{decision.subject}`"]
    lines += [f"• {reason}" for reason in decision.reasons]
    lines.append(f"Roll back with `relc rollback {decision.release}`, or promote with `relc promote {decision.release}`.")
    return {"text": "\n".join(lines)}


def post_alert(url: str, decision: Decision, timeout: float = 10.0) -> None:
    post_message(url, alert_message(decision), timeout)


def post_message(url: str, message: dict, timeout: float = 10.0) -> None:
    """POST one Slack-style JSON message; errors never name the URL (it is a secret)."""
    body = json.dumps(message).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise AlertError(f"the alert webhook answered HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None)
        raise AlertError(f"cannot reach the alert webhook ({type(reason or error).__name__})") from None
