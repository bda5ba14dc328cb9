"""Quality from Arize Phoenix's REST API: span annotations per bundle version and window.

`--metrics phoenix+http://HOST:PORT[?project=NAME]` (project `default` unless named). For a
trigger it lists the project's spans that started inside the window and carry the
release's and the bundle version's attributes (`GET /v1/projects/{project}/spans` with
`attribute=` filters), then their annotations of the metric's name
(`GET /v1/projects/{project}/span_annotations`), and reduces them as `quality.ANNOTATIONS`
says: a rate of bad labels or a mean score over the annotated spans. A span with no such
annotation is not a sample (it was not judged). With several annotations of that name on
one span the newest counts. `PHOENIX_API_KEY`, when set, is sent as a bearer token.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Iterator

from compiler.metrics import MetricError, MetricQuery, Observation
from compiler.metrics.http import get_json
from compiler.metrics.quality import (
    ANNOTATIONS,
    RELEASE_ATTRIBUTE,
    VERSION_ATTRIBUTE,
    Annotation,
    annotation_for,
    observation,
    sample_value,
)

SCHEME = "phoenix+"
API_KEY_ENV = "PHOENIX_API_KEY"
SPANS_PER_PAGE = 1000  # the API's maximum
SPAN_IDS_PER_REQUEST = 100  # keeps each URL near 3 KB
ANNOTATIONS_PER_PAGE = 1000
# Bounds on the loops, so a runaway window fails clearly instead of reading forever.
MAX_SPANS = 100_000
MAX_PAGES_PER_REQUEST = 100


class PhoenixSource:
    def __init__(self, url: str, project: str = "default", timeout: float = 10.0,
                 annotations: dict[str, Annotation] | None = None) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.project = project
        self.timeout = timeout
        self.annotations = annotations or ANNOTATIONS
        self.description = f"Phoenix at {self.url} (project {project})"

    @classmethod
    def from_location(cls, location: str, timeout: float = 10.0,
                      annotations: dict[str, Annotation] | None = None) -> "PhoenixSource":  # fmt: skip
        """`phoenix+http://HOST:PORT[/PREFIX][?project=NAME]`, checked before any request."""
        parts = urllib.parse.urlsplit(location[len(SCHEME):])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MetricError(f"{location}: write phoenix+http://HOST:PORT (or phoenix+https://...)")
        options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(options) - {"project"})
        if unknown:
            raise MetricError(f"{location}: unknown option {unknown[0]!r}; the only option is ?project=NAME")
        project = options.get("project", ["default"])[-1]
        if not project or any(character in project for character in "/?#"):
            raise MetricError(f"{location}: a Phoenix project name cannot be empty or contain /, ? or #")
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return cls(base, project, timeout, annotations)

    def answers(self) -> set[str]:
        return set(ANNOTATIONS)

    def observe(self, query: MetricQuery) -> Observation:
        annotation = annotation_for(query.metric, "Phoenix", self.annotations)
        end = time.time()
        span_ids = self.span_ids(query.release, query.version, end - query.window_seconds, end)
        return observation(self.values(span_ids, annotation))

    def span_ids(self, release: str, version: str, start: float, end: float) -> list[str]:
        """The ids of the spans a bundle served in [start, end), by their relc attributes."""
        parameters: list[tuple[str, str]] = [
            ("limit", str(SPANS_PER_PAGE)),
            ("start_time", _timestamp(start)),
            ("end_time", _timestamp(end)),
            # JSON-quoted, so a version such as `2` or `1.10` matches as the string it is.
            ("attribute", f"{RELEASE_ATTRIBUTE}:{_json_string(release)}"),
            ("attribute", f"{VERSION_ATTRIBUTE}:{_json_string(version)}"),
        ]
        span_ids: list[str] = []
        for page in self._pages(f"/v1/projects/{self._project_path()}/spans", parameters, "spans"):
            for span in page:
                span_id = span.get("context", {}).get("span_id") if isinstance(span, dict) else None
                if not isinstance(span_id, str):
                    raise MetricError(f"{self.description} answered a span without context.span_id")
                self._check_attributes(span, release, version)
                span_ids.append(span_id)
            if len(span_ids) > MAX_SPANS:
                raise MetricError(f"{self.description}: more than {MAX_SPANS} spans of {release} {version} in the "
                                  "window; shorten the trigger's window or sample the spans you tag")  # fmt: skip
        return span_ids

    def _check_attributes(self, span: dict[str, Any], release: str, version: str) -> None:
        """A span of another bundle would blend two versions: refuse it rather than trust the filter."""
        attributes = span.get("attributes")
        wanted = {RELEASE_ATTRIBUTE: release, VERSION_ATTRIBUTE: version}
        if not isinstance(attributes, dict) or any(attributes.get(key) != value for key, value in wanted.items()):
            raise MetricError(f"{self.description} answered span {span['context']['span_id']} without the attributes "
                              f"{RELEASE_ATTRIBUTE}={release!r} and {VERSION_ATTRIBUTE}={version!r}: the server ignored "
                              "the attribute filter (a Phoenix older than 20.26?)")  # fmt: skip

    def values(self, span_ids: list[str], annotation: Annotation) -> list[float]:
        """One value per judged span: its newest annotation of the metric's name."""
        newest: dict[str, dict[str, Any]] = {}
        for start in range(0, len(span_ids), SPAN_IDS_PER_REQUEST):
            parameters = [("span_ids", span_id) for span_id in span_ids[start:start + SPAN_IDS_PER_REQUEST]]
            parameters += [("include_annotation_names", annotation.name), ("limit", str(ANNOTATIONS_PER_PAGE))]
            path = f"/v1/projects/{self._project_path()}/span_annotations"
            for page in self._pages(path, parameters, "span annotations"):
                for item in page:
                    if not isinstance(item, dict) or not isinstance(item.get("span_id"), str):
                        raise MetricError(f"{self.description} answered an annotation without a span_id")
                    previous = newest.get(item["span_id"])
                    if previous is None or str(item.get("updated_at", "")) > str(previous.get("updated_at", "")):
                        newest[item["span_id"]] = item
        values = []
        for span_id in span_ids:
            item = newest.get(span_id)
            if item is None:
                continue
            result = item.get("result") or {}
            label, score = result.get("label"), result.get("score")
            if not (label is None or isinstance(label, str)) or not (score is None or isinstance(score, (int, float))):
                raise MetricError(f"{self.description} answered an annotation whose result is not a label and a score")
            value = sample_value(annotation, label, score)
            if value is not None:
                values.append(value)
        return values

    def _pages(self, path: str, parameters: list[tuple[str, str]], what: str) -> Iterator[list[Any]]:
        """Each page's `data`, following `next_cursor`, at most MAX_PAGES_PER_REQUEST pages."""
        cursor = None
        for _ in range(MAX_PAGES_PER_REQUEST):
            query = parameters + ([("cursor", cursor)] if cursor else [])
            document = get_json(f"{self.url}{path}?{urllib.parse.urlencode(query)}", self.description,
                                self._headers(), self.timeout, _HINTS)  # fmt: skip
            if not isinstance(document, dict) or not isinstance(document.get("data"), list):
                raise MetricError(f"{self.description} answered {what} without a `data` list")
            yield document["data"]
            cursor = document.get("next_cursor")
            if not cursor:
                return
        raise MetricError(f"{self.description}: more than {MAX_PAGES_PER_REQUEST} pages of {what}; shorten the window")

    def _project_path(self) -> str:
        return urllib.parse.quote(self.project, safe="")

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(API_KEY_ENV)
        return {"Authorization": f"Bearer {key}"} if key else {}


_HINTS = {
    401: f"set ${API_KEY_ENV} to a Phoenix API key",
    403: f"the key in ${API_KEY_ENV} may not read this project",
    404: "check ?project=NAME, and that the serving app sends its spans to this project",
}


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _json_string(text: str) -> str:
    import json

    return json.dumps(text)
