"""Open, or update, the pull request that asks a person to let Git catch up with a
rollback the watcher could not push (a protected branch).

GitHub's REST API, with a token read from an environment variable; the token is never
printed, and errors name only the HTTP status.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from compiler.errors import RelcError

DEFAULT_API = "https://api.github.com"
_GITHUB_REMOTE = re.compile(r"github\.com[:/](?P<repository>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")


class PullRequestError(RelcError):
    """GitHub could not be reached or refused the request."""


@dataclass(frozen=True)
class PullRequestTarget:
    repository: str  # owner/name
    token: str
    api: str = DEFAULT_API


def repository_from_remote(url: str) -> str | None:
    """`owner/name` of a GitHub remote URL (https or ssh), or None for any other remote."""
    match = _GITHUB_REMOTE.search(url.strip())
    return match.group("repository") if match else None


def open_or_update(target: PullRequestTarget, branch: str, base: str, title: str, body: str) -> str:
    """The pull request's URL: a new one, or the open one for `branch`, with its text updated."""
    owner = target.repository.split("/")[0]
    existing = _call(target, "GET", f"/repos/{target.repository}/pulls?"
                     + urllib.parse.urlencode({"head": f"{owner}:{branch}", "base": base, "state": "open"}))  # fmt: skip
    if isinstance(existing, list) and existing:
        number = existing[0]["number"]
        updated = _call(target, "PATCH", f"/repos/{target.repository}/pulls/{number}", {"title": title, "body": body})
        return str(updated.get("html_url", f"#{number}"))
    created = _call(target, "POST", f"/repos/{target.repository}/pulls", {"title": title, "body": body, "head": branch, "base": base})
    return str(created.get("html_url", ""))


def _call(target: PullRequestTarget, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        target.api.rstrip("/") + path,
        data=None if payload is None else json.dumps(payload).encode("utf-8"),
        method=method,
        headers={"Authorization": f"Bearer {target.token}", "Accept": "application/vnd.github+json",
                 "Content-Type": "application/json", "X-GitHub-Api-Version": "2022-11-28"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise PullRequestError(f"GitHub answered HTTP {error.code} to {method} {path.split('?')[0]}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise PullRequestError(f"cannot reach the GitHub API ({type(error).__name__})") from None
