"""The MLflow model registry, over its REST API (`/api/2.0/mlflow/...`), with urllib.

Calls used (MLflow 2.x and 3.x): `model-versions/get`, `model-versions/search` (to tell a
deleted version from one never registered), `registered-models/get` (aliases),
`registered-models/alias` (POST sets, DELETE removes) and `model-versions/set-tag`.
Credentials come from MLflow's own variables (`MLFLOW_TRACKING_TOKEN`, or
`MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`) or the URI's user part; no
message ever contains them.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from compiler.registry import RegistryError, RegistryReference, RegistryUnreachable, VersionFacts

API = "/api/2.0/mlflow/"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class MlflowRegistry:
    """An MLflow tracking server's model registry."""

    kind = "mlflow"

    def __init__(self, uri: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.location = self.base  # printable: the user part and any query are dropped
        self.timeout = timeout
        self._authorization = _authorization(parts)
        secrets = [os.environ.get(name) for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD")]
        secrets += [urllib.parse.unquote(parts.password) if parts.password else None, self._authorization]
        self._secrets = sorted({secret for secret in secrets if secret and len(secret) >= 4}, key=len, reverse=True)

    # The interface.

    def resolve(self, reference: RegistryReference) -> VersionFacts:
        answer = self._call("GET", "model-versions/get", {"name": reference.model, "version": reference.version},
                            missing_ok=True)  # fmt: skip
        if answer is None:
            return VersionFacts(reference, exists=False, deleted=self._deleted(reference))
        version = answer.get("model_version") or {}
        tags = tuple(sorted((str(t.get("key", "")), str(t.get("value", ""))) for t in version.get("tags") or []))
        return VersionFacts(
            reference, exists=True, stage=str(version.get("current_stage") or ""),
            status=str(version.get("status") or ""), source=str(version.get("source") or ""),
            run_id=str(version.get("run_id") or ""), tags=tags,
        )  # fmt: skip

    def aliases(self, model: str) -> dict[str, str]:
        answer = self._call("GET", "registered-models/get", {"name": model}, missing_ok=True)
        if answer is None:
            raise RegistryError(f"the MLflow registry at {self.location} has no registered model `{model}`")
        found = (answer.get("registered_model") or {}).get("aliases") or []
        return {str(item.get("alias")): str(item.get("version")) for item in found}

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call("POST", "registered-models/alias", {"name": model, "alias": alias, "version": version})

    def remove_alias(self, model: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": model, "alias": alias}, missing_ok=True)

    def set_tag(self, model: str, version: str, key: str, value: str) -> None:
        self._call("POST", "model-versions/set-tag", {"name": model, "version": version, "key": key, "value": value})

    # Helpers.

    def _scrub(self, text: str) -> str:
        """A server may echo what it was sent: the credentials never reach a message."""
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def _deleted(self, reference: RegistryReference) -> bool:
        """MLflow numbers versions 1, 2, 3... and never reuses a number while the model exists:
        a missing version below one that exists was deleted."""
        quoted = reference.model.replace("'", "\\'")
        answer = self._call("GET", "model-versions/search", {"filter": f"name='{quoted}'", "max_results": "1000"},
                            missing_ok=True)  # fmt: skip
        versions = [int(v["version"]) for v in (answer or {}).get("model_versions") or [] if str(v.get("version", "")).isdigit()]
        return any(number > int(reference.version) for number in versions)

    def _call(self, method: str, endpoint: str, fields: dict[str, str], missing_ok: bool = False) -> dict[str, Any] | None:
        """One request; None when `missing_ok` and MLflow says the resource does not exist."""
        url = self.base + API + endpoint
        data = None
        headers = {"Accept": "application/json"}
        if method == "GET":
            url += "?" + urllib.parse.urlencode(fields)
        else:
            data = json.dumps(fields).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._authorization:
            headers["Authorization"] = self._authorization
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        what = f"{method} {API}{endpoint} on the MLflow registry at {self.location}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only)
                body = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            code, message = _error_of(error)
            if missing_ok and code == "RESOURCE_DOES_NOT_EXIST":
                return None
            hint = " (check MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)" if error.code in (401, 403) else ""
            text = f"{what} failed: HTTP {error.code} {code or ''} {self._scrub(message)}".rstrip()
            raise RegistryError(text + hint) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as error:
            reason = self._scrub(_plain(getattr(error, "reason", error)))
            raise RegistryUnreachable(f"{what} did not answer: {reason}; is the server up, and is the "
                                      "URI (--registry or RELC_MLFLOW_URI) right?") from None  # fmt: skip
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            raise RegistryError(f"{what} answered with something that is not JSON; is this an MLflow server?") from None
        if not isinstance(answer, dict):
            raise RegistryError(f"{what} answered with JSON that is not an object; is this an MLflow server?")
        return answer


def _authorization(parts: urllib.parse.SplitResult) -> str | None:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return f"Bearer {token}"
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or (urllib.parse.unquote(parts.username) if parts.username else None)
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or (urllib.parse.unquote(parts.password) if parts.password else "")
    if user:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return None


def _error_of(error: urllib.error.HTTPError) -> tuple[str, str]:
    """MLflow's `error_code` and `message`, shortened; a body that is not MLflow's gives none."""
    try:
        answer = json.loads(error.read(64 * 1024) or b"{}")
    except (ValueError, OSError):
        return "", ""
    if not isinstance(answer, dict):
        return "", ""
    return str(answer.get("error_code") or ""), _plain(answer.get("message") or "")[:300]


def _plain(reason: object) -> str:
    """A reason as one line, with anything that looks like a credential redacted."""
    from compiler.secrets import redact

    return redact(" ".join(str(reason).split()))
