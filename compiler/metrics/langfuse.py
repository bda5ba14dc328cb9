"""Quality from Langfuse's scores API: scores per bundle version and window.

`--metrics langfuse+https://cloud.langfuse.com` (or a self-hosted Langfuse). Serving apps
tag each trace with `quality.trace_tags` (`relc.release:NAME`, `relc.bundle.version:V`);
judges, users and annotation queues attach scores to the traces. For a trigger this
reads `GET /api/public/v2/scores` filtered by the metric's score name, both tags and the
window (Langfuse filters on when a score was created), page by page, and reduces the
scores as `quality.ANNOTATIONS` says: CATEGORICAL scores by their label, BOOLEAN and
NUMERIC by their value. The newest score of a trace (or observation) counts. The keys are
read from $LANGFUSE_PUBLIC_KEY and $LANGFUSE_SECRET_KEY (HTTP basic auth), never printed.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from compiler.metrics import MetricError, MetricQuery, Observation
from compiler.metrics.http import get_json
from compiler.metrics.quality import ANNOTATIONS, Annotation, annotation_for, observation, sample_value, trace_tags

SCHEME = "langfuse+"
PUBLIC_KEY_ENV = "LANGFUSE_PUBLIC_KEY"
SECRET_KEY_ENV = "LANGFUSE_SECRET_KEY"
SCORES_PER_PAGE = 100  # the API's maximum
MAX_PAGES = 1000  # a bound on the loop: 100,000 scores in one window


class LangfuseSource:
    def __init__(self, url: str, timeout: float = 10.0, annotations: dict[str, Annotation] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.annotations = annotations or ANNOTATIONS
        self.description = f"Langfuse at {self.url}"

    @classmethod
    def from_location(cls, location: str, timeout: float = 10.0,
                      annotations: dict[str, Annotation] | None = None) -> "LangfuseSource":  # fmt: skip
        """`langfuse+https://HOST[/PREFIX]`, checked before any request."""
        parts = urllib.parse.urlsplit(location[len(SCHEME):])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MetricError(f"{location}: write langfuse+https://HOST (or langfuse+http://HOST:PORT)")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise MetricError(f"{location}: no options, credentials or fragments in the address; the keys go in "
                              f"${PUBLIC_KEY_ENV} and ${SECRET_KEY_ENV}")  # fmt: skip
        return cls(urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), timeout, annotations)

    def answers(self) -> set[str]:
        return set(ANNOTATIONS)

    def observe(self, query: MetricQuery) -> Observation:
        annotation = annotation_for(query.metric, "Langfuse", self.annotations)
        end = time.time()
        scores = self.scores(annotation.name, trace_tags(query.release, query.version), end - query.window_seconds, end)
        return observation(_values(annotation, scores))

    def scores(self, name: str, tags: list[str], start: float, end: float) -> list[dict[str, Any]]:
        """Every score of `name` created in [start, end) on traces with all of `tags`."""
        headers = self._headers()
        parameters = [("name", name), ("fromTimestamp", _timestamp(start)), ("toTimestamp", _timestamp(end)),
                      *[("traceTags", tag) for tag in tags], ("fields", "score,trace"), ("limit", str(SCORES_PER_PAGE))]  # fmt: skip
        scores: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            address = f"{self.url}/api/public/v2/scores?{urllib.parse.urlencode([*parameters, ('page', str(page))])}"
            document = get_json(address, self.description, headers, self.timeout, _HINTS)
            data, total_pages = _page(document, self.description)
            for score in data:
                _check_tags(score, tags, self.description)
            scores += data
            if page >= total_pages or not data:
                return scores
        raise MetricError(f"{self.description}: more than {MAX_PAGES} pages of `{name}` scores; shorten the window")

    def _headers(self) -> dict[str, str]:
        public, secret = os.environ.get(PUBLIC_KEY_ENV), os.environ.get(SECRET_KEY_ENV)
        if not public or not secret:
            raise MetricError(f"{self.description}: set ${PUBLIC_KEY_ENV} and ${SECRET_KEY_ENV} to the project's API keys")
        token = base64.b64encode(f"{public}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


_HINTS = {
    401: f"check ${PUBLIC_KEY_ENV} and ${SECRET_KEY_ENV}, and that they belong to this host",
    403: "the API keys may not read scores",
}


def _page(document: Any, service: str) -> tuple[list[dict[str, Any]], int]:
    """A page's scores and the number of pages, as `GetScoresResponse` defines them."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise MetricError(f"{service} answered scores without a `data` list")
    meta = document.get("meta")
    if not isinstance(meta, dict) or isinstance(meta.get("totalPages"), bool) or not isinstance(meta.get("totalPages"), int):
        raise MetricError(f"{service} answered scores without `meta.totalPages`")
    if not all(isinstance(score, dict) for score in document["data"]):
        raise MetricError(f"{service} answered a score that is not an object")
    return document["data"], meta["totalPages"]


def _check_tags(score: dict[str, Any], tags: list[str], service: str) -> None:
    """A score of another bundle would blend two versions: refuse it rather than trust the filter."""
    trace = score.get("trace")
    present = trace.get("tags") if isinstance(trace, dict) else None
    if not isinstance(present, list) or not set(tags) <= set(present):
        raise MetricError(f"{service} answered score {score.get('id')!r} whose trace lacks the tags {', '.join(tags)}: "
                          "the server ignored the traceTags filter (Langfuse too old?)")  # fmt: skip


def _values(annotation: Annotation, scores: list[dict[str, Any]]) -> list[float]:
    """One value per scored trace (or observation): its newest score."""
    newest: dict[tuple[Any, Any], dict[str, Any]] = {}
    for score in scores:
        key = (score.get("traceId"), score.get("observationId"))
        previous = newest.get(key)
        if previous is None or _when(score) > _when(previous):
            newest[key] = score
    values = []
    for score in newest.values():
        label, number = _label_and_number(score)
        value = sample_value(annotation, label, number)
        if value is not None:
            values.append(value)
    return values


def _when(score: dict[str, Any]) -> tuple[str, str]:
    return str(score.get("timestamp", "")), str(score.get("updatedAt", ""))


def _label_and_number(score: dict[str, Any]) -> tuple[str | None, float | None]:
    """CATEGORICAL: its label (`stringValue`); NUMERIC and BOOLEAN: `value` (1 True, 0 False)."""
    kind, value, text = score.get("dataType"), score.get("value"), score.get("stringValue")
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if value is not None and number is None:
        raise MetricError(f"Langfuse answered score {score.get('id')!r} whose value is not a number")
    if kind == "CATEGORICAL":
        return (text if isinstance(text, str) else None), number
    if kind in ("NUMERIC", "BOOLEAN"):
        return None, number
    return None, None  # TEXT and CORRECTION scores carry nothing a trigger reads


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
