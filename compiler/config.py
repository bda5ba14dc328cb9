"""The repository's own configuration, `relc.yaml` at its root: where metrics come from.

A trigger is only as good as the source that feeds it. `relc.yaml` names the metric
sources and which metrics each answers, so `relc validate` can report a trigger that
nothing feeds (it would hold forever), and `relc evaluate` and `relc watch` read every
source in one run, each metric from the source that answers it.

```yaml
apiVersion: relc/v1
kind: Config
metrics:
  - name: prometheus
    url: http://prometheus.monitoring:9090
    queries: {envoy: envoy, litellm: litellm}   # a set or file, per gateway where they differ
  - name: phoenix                  # a quality monitor: annotations on tagged spans
    url: phoenix+http://phoenix.monitoring:6006?project=support
  - name: quality
    file: metrics/quality.json
    metrics: [eval_score, groundedness, thumbs_down_rate]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from compiler.diagnostics import define
from compiler.spec import Gateway, Identifier, Metric, empty_list, pattern

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.metrics.quality import Annotation
    from compiler.validate import CheckedRelease

CONFIG_FILE = "relc.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class AnnotationConfig(_Strict):
    """Which annotation (Phoenix) or score (Langfuse) a quality metric reads, where a team names it its own way."""

    name: str = Field(min_length=1, description="The annotation or score name.", examples=["hallucination_eval"])
    bad_labels: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        min_length=1,
        description="For a rate metric: the labels that count as bad (compared without case). Default: the "
        "metric's own (`hallucinated`, `thumbs_down`, `escalated`).",
        examples=[["hallucinated", "yes"]],
    )


SOURCE_URL_PATTERN = pattern(
    r"^((phoenix|langfuse)\+)?https?://\S+$", "an http:// or https:// URL, or one that starts `phoenix+` or `langfuse+`"
)


class MetricSourceConfig(_Strict):
    """One metric source: a Prometheus server, a quality monitor, or a snapshot file (JSON or CSV)."""

    name: Identifier = Field(description="A name for messages.", examples=["prometheus"])
    url: Annotated[str, Field(pattern=SOURCE_URL_PATTERN)] | None = Field(
        default=None,
        description="A Prometheus server (`http://...`), or a quality monitor: Arize Phoenix "
        "(`phoenix+http://HOST:PORT?project=NAME`) or Langfuse (`langfuse+https://HOST`, keys in "
        "$LANGFUSE_PUBLIC_KEY and $LANGFUSE_SECRET_KEY).",
        examples=["http://prometheus.monitoring:9090", "phoenix+http://phoenix.monitoring:6006?project=support"],
    )
    file: str | None = Field(
        default=None, min_length=1, description="A snapshot file, relative to the repository root.",
        examples=["metrics/quality.json"],
    )  # fmt: skip
    queries: str | dict[Gateway, str] | None = Field(
        default=None,
        description="For Prometheus: a ready-made set (`envoy`, `litellm`) or a query file; or one per gateway, "
        "chosen by the first of a release's gateways that has one. Default: `envoy`.",
        examples=["envoy", {"envoy": "envoy", "litellm": "litellm"}],
    )
    metrics: list[Metric] | None = Field(
        default=None,
        description="The metrics this source answers. Default: for Prometheus, those its queries define; for a "
        "quality monitor, the quality metrics; a snapshot file must list them.",
        examples=[["eval_score", "groundedness"]],
    )

    annotations: dict[Metric, AnnotationConfig] | None = Field(
        default=None,
        description="For a quality monitor: the annotation or score each quality metric reads, where it is not "
        "the default (hallucination_rate: `hallucination`, thumbs_down_rate: `user_feedback`, escalation_rate: "
        "`escalation`, eval_score: `eval_score`, groundedness: `groundedness`).",
        examples=[{"hallucination_rate": {"name": "hallucination_eval", "bad_labels": ["hallucinated"]}}],
    )

    @model_validator(mode="after")
    def _one_location(self) -> "MetricSourceConfig":
        if (self.url is None) == (self.file is None):
            raise ValueError("give exactly one of `url` (Prometheus) or `file` (a snapshot)")
        if self.file is not None and self.metrics is None:
            raise ValueError("a snapshot file must list the `metrics` it answers")
        if self.file is not None and self.queries is not None:
            raise ValueError("`queries` apply to a Prometheus `url`, not to a snapshot file")
        if self.is_monitor and self.queries is not None:
            raise ValueError("`queries` apply to a Prometheus `url`, not to a quality monitor")
        self._check_paths()
        if self.annotations is not None:
            self._check_annotations(self.annotations)
        return self

    def _check_paths(self) -> None:
        """`relc.yaml` comes from pull requests too: the files it names stay in the repository."""
        from compiler.files import name_problem

        queries = self.queries.items() if isinstance(self.queries, dict) else [("", self.queries)]
        named = [("`file`", self.file), *((f"`queries{'.' + gateway if gateway else ''}`", value) for gateway, value in queries)]
        for field_name, value in named:
            problem = None if value is None else name_problem(value)
            if problem is not None:
                raise ValueError(f"{field_name}: {problem}")

    def _check_annotations(self, annotations: dict[str, AnnotationConfig]) -> None:
        from compiler.metrics.quality import ANNOTATIONS

        if not self.is_monitor:
            raise ValueError("`annotations` apply to a quality monitor (phoenix+ or langfuse+ `url`)")
        for metric, entry in annotations.items():
            if metric not in ANNOTATIONS:
                raise ValueError(f"`annotations.{metric}`: a monitor answers only the quality metrics "
                                 f"({', '.join(ANNOTATIONS)})")  # fmt: skip
            if entry.bad_labels is not None and ANNOTATIONS[metric].kind == "score":
                raise ValueError(f"`annotations.{metric}.bad_labels`: {metric} is a mean score, it has no bad labels")

    def annotation_table(self) -> dict[str, "Annotation"]:
        """The monitor's metric table: the defaults, with this source's `annotations` in place."""
        from compiler.metrics.quality import ANNOTATIONS, Annotation

        table = dict(ANNOTATIONS)
        for metric, entry in (self.annotations or {}).items():
            default = ANNOTATIONS[metric]
            labels = frozenset(label.lower() for label in entry.bad_labels) if entry.bad_labels else default.bad_labels
            table[metric] = Annotation(entry.name, default.kind, labels)
        return table

    @property
    def is_monitor(self) -> bool:
        """A quality monitor (Phoenix, Langfuse), which answers by annotation names, not PromQL."""
        from compiler.metrics import MONITOR_SCHEMES

        return self.url is not None and self.url.startswith(MONITOR_SCHEMES)

    def queries_for(self, gateways: tuple[str, ...] | list[str]) -> str | None:
        """The query set for a release routed by `gateways`; None when this source has none
        for them (its series would match nothing: better reported than held on forever)."""
        if isinstance(self.queries, dict):
            return next((self.queries[g] for g in gateways if g in self.queries), None)
        return self.queries or "envoy"


class RepositoryConfig(_Strict):
    """`relc.yaml`: settings of the whole repository."""

    api_version: Literal["relc/v1"] = Field(alias="apiVersion", description="Always `relc/v1`.")
    kind: Literal["Config"] = Field(description="Always `Config`.")
    metrics: list[MetricSourceConfig] = Field(
        default_factory=empty_list, description="Metric sources, in the order they are asked."
    )


def answered_metrics(source: MetricSourceConfig, gateways: tuple[str, ...] | list[str], root: Path) -> set[str]:
    """The metrics `source` can answer for a release routed by `gateways` (no network)."""
    if source.metrics is not None:
        return set(source.metrics)
    if source.is_monitor:
        from compiler.metrics.quality import ANNOTATIONS

        return set(ANNOTATIONS)
    from compiler.metrics import MetricError
    from compiler.metrics.prometheus import load_queries, query_sets

    chosen = source.queries_for(gateways)
    if chosen is None:
        return set()
    sets = query_sets()
    if chosen in sets:
        return set(sets[chosen])
    try:
        return set(load_queries(chosen, inside=root))
    except MetricError:
        return set()  # the query file's own problem is reported when the source is opened


RELC213 = define(
    "RELC213",
    title="no metric source answers the trigger's metric",
    meaning="`relc.yaml` names metric sources, and none answers this trigger's metric for the release's "
            "gateways: it would hold forever on \"no data\" (checked only where `relc.yaml` exists)",
    fix="add a source that answers it, or list the metric in a source's `metrics`",
)


def unfed_triggers(config: RepositoryConfig, releases: list["CheckedRelease"], root: Path) -> list["Diagnostic"]:
    """RELC213 at each trigger whose metric no configured source answers: it would hold forever."""
    from compiler.diagnostics import Diagnostic

    diagnostics = []
    for checked in releases:
        gateways = checked.facts.gateways
        answered = set().union(*(answered_metrics(source, gateways, root) for source in config.metrics))
        for name, metric, position in checked.facts.triggers:
            if metric in answered:
                continue
            names = ", ".join(source.name for source in config.metrics) or "none"
            diagnostics.append(Diagnostic(
                checked.path, position.line, position.column, "RELC213",
                f"no metric source in {CONFIG_FILE} answers `{metric}` for gateways "
                f"{', '.join(gateways)} (sources: {names}), so trigger `{name}` would hold forever: add a "
                "source that answers it, or list it in a source's `metrics`",
            ))  # fmt: skip
    return diagnostics


def load_config(root: Path) -> tuple[RepositoryConfig | None, list["Diagnostic"]]:
    """`relc.yaml` if present (None when absent), or its diagnostics with file:line:col."""
    from compiler.load import load_file
    from compiler.model import model_diagnostics

    path = root / CONFIG_FILE
    if not path.exists():
        return None, []
    document, diagnostics = load_file(path, CONFIG_FILE, inside=root)  # a link may not lead out of the repository
    if document is None:
        return None, diagnostics
    config, problems = model_diagnostics(RepositoryConfig, document)
    return config, problems
