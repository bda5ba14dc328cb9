"""What a quality trigger reads from a quality monitor (Phoenix, Langfuse): names and arithmetic.

Serving apps tag each request's span (Phoenix) or trace (Langfuse) with the release and the
bundle version; judges and users attach annotations (Phoenix) or scores (Langfuse) to it.
A trigger's metric then names one annotation, read either as a rate of bad labels or as a
mean score, over the spans of one bundle version in the trigger's window. Both monitors
share this table, so a metric means the same thing whichever monitor answers it. The
names live here, apart from the monitors' HTTP code, because the bundle manifest (built on
every render) tells serving apps what to tag and must not import a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.metrics import Observation

# The span attributes (Phoenix) a serving app sets on each request's span.
RELEASE_ATTRIBUTE = "relc.release"
VERSION_ATTRIBUTE = "relc.bundle.version"


def span_attributes(release: str, version: str) -> dict[str, str]:
    """The attributes a serving app sets on the spans a bundle serves, exactly."""
    return {RELEASE_ATTRIBUTE: release, VERSION_ATTRIBUTE: version}


def trace_tags(release: str, version: str) -> list[str]:
    """The same facts as trace tags, for monitors that filter scores by tag (Langfuse)."""
    return [f"{RELEASE_ATTRIBUTE}:{release}", f"{VERSION_ATTRIBUTE}:{version}"]


@dataclass(frozen=True)
class Annotation:
    """How one metric is read: the annotation's name, and whether its label or score counts."""

    name: str
    kind: Literal["label", "score"]
    # For a label: the labels that count as bad (compared without case). A label-less
    # annotation counts by its score: 1 bad, 0 good (Langfuse's BOOLEAN scores, 0/1 judges).
    bad_labels: frozenset[str] = frozenset()


ANNOTATIONS: dict[str, Annotation] = {
    "hallucination_rate": Annotation("hallucination", "label", frozenset({"hallucinated"})),
    "thumbs_down_rate": Annotation("user_feedback", "label", frozenset({"thumbs_down"})),
    "escalation_rate": Annotation("escalation", "label", frozenset({"escalated"})),
    "eval_score": Annotation("eval_score", "score"),
    "groundedness": Annotation("groundedness", "score"),
}


def annotation_for(metric: str, monitor: str, table: dict[str, Annotation] | None = None) -> Annotation:
    """How `metric` is read: from `table` (a source's own names, relc.yaml `annotations`) or the defaults."""
    from compiler.metrics import MetricError

    annotation = (table or ANNOTATIONS).get(metric)
    if annotation is None:
        raise MetricError(f"{monitor} answers the quality metrics ({', '.join(ANNOTATIONS)}), not `{metric}`")
    return annotation


def sample_value(annotation: Annotation, label: str | None, score: float | None) -> float | None:
    """One judged request's value: 1.0/0.0 for a rate (bad or not), the score for a mean;
    None when the annotation carries nothing this metric can read (it is not a sample)."""
    if annotation.kind == "score":
        return float(score) if score is not None else None
    if label is not None and label.strip():
        return 1.0 if label.strip().lower() in annotation.bad_labels else 0.0
    if score in (0, 1):
        return float(score)  # type: ignore[arg-type]
    return None


def observation(values: list[float]) -> Observation:
    """The rate or mean over the judged requests, with each one kept for statistical tests."""
    if not values:
        return Observation(None, 0)
    return Observation(sum(values) / len(values), len(values), tuple(values))
