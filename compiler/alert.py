"""Alerts for a person: a Slack-style JSON message posted to a webhook.

The URL is a secret (it lets anyone post), so it comes from an environment variable
and never appears in output or errors.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

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


def incident(decision: Decision) -> str:
    """What makes two alert decisions one incident: the release, the bundle judged, and the
    alert triggers breached. Another trigger breaching, or another candidate, is news."""
    breached = sorted(check.trigger.name for check in decision.breached("alert"))
    return " ".join(["alert", decision.release, decision.subject or "-", *breached])


class AlertLedger:
    """The incidents already posted, kept between runs so a scheduled `relc evaluate --apply`
    posts an alert once per incident, not every ten minutes. Losing it only means one
    repeated post: an unreadable file is treated as empty, and it is rewritten whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.incidents = self._read()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("incidents"), dict):
            return {}
        return {key: str(when) for key, when in data["incidents"].items() if isinstance(key, str)}

    def posted_at(self, decision: Decision) -> str | None:
        return self.incidents.get(incident(decision))

    def record(self, decision: Decision, when: str) -> None:
        self.incidents[incident(decision)] = when
        self._write()

    def close_incidents(self, release: str) -> bool:
        """The release is no longer in alert: its next alert is a new incident."""
        kept = {key: when for key, when in self.incidents.items() if key.split(" ")[1] != release}
        if kept == self.incidents:
            return False
        self.incidents = kept
        self._write()
        return True

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"incidents": self.incidents}, indent=2, sort_keys=True) + "\n"
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".relc-alerts-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


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
