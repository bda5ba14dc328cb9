"""The release spec, `relc/v1`: the types a release file must fit, and nothing more.

Field names are the contract with users. Models are strict (a string "5" is not a
number, `no` is not false), reject unknown fields, and are frozen once validated.
Descriptions and examples here become the published JSON Schema that editors use.
Rules that relate fields to each other or to other files live in `validate.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from compiler.diagnostics import define

API_VERSION = "relc/v1"

# The words a RELC106 message uses for each field pattern ("must be <hint>"), filled by
# `pattern`: a pattern is only ever written with its hint, and a test finds every pattern
# in the published schemas here.
PATTERN_HINTS: dict[str, str] = {}


def pattern(regex: str, hint: str) -> str:
    """`regex`, for a field's `pattern=`, registered with the words that explain it."""
    if PATTERN_HINTS.setdefault(regex, hint) != hint:
        raise ValueError(f"pattern {regex} already has the hint {PATTERN_HINTS[regex]!r}")
    return regex


# At most 9 digits a part (31 years in seconds): found by the fuzz target, a 5,000-digit
# duration matched and then crashed int().
DURATION_PATTERN = pattern(
    r"^(?:[0-9]{1,9}(?:ms|s|m|h|d))+$", "a duration such as `90s`, `30m`, `2h` or `1d` (at most 9 digits a part)"
)


def empty_list() -> list:
    """A field's empty default. A Python function, not `list`: pydantic reads a builtin
    factory's signature through `tokenize`, whose regex takes milliseconds to compile at start-up."""
    return []


def empty_dict() -> dict:
    """A field's empty default (see `empty_list`)."""
    return {}


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as `90s`, `1h30m` or `500ms` (already pattern-checked)."""
    return sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        description="A duration: whole numbers with units ms, s, m, h or d, for example `90s`, `30m`, `1h30m`, `1d`.",
        examples=["90s", "30m", "2h", "1d"],
    ),
]
Percent = Annotated[float, Field(ge=0, le=100)]
IDENTIFIER_PATTERN = pattern(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", "lower-case letters, digits and inner dashes, at most 63 characters"
)
VERSION_PATTERN = pattern(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", "letters, digits, `.`, `_` and `-`, starting with a letter or digit"
)
SHA256_PATTERN = pattern(r"^[0-9a-f]{64}$", "64 lower-case hex digits")
DIGEST_PATTERN = pattern(r"^sha256:[0-9a-f]{64}$", "`sha256:` followed by 64 lower-case hex digits")
ENV_VAR_PATTERN = pattern(r"^[A-Z_][A-Z0-9_]*$", "an environment variable name such as `OPENAI_API_KEY`")
URL_PATTERN = pattern(r"^https?://[^\s/]+(?:/\S*)?$", "an http:// or https:// URL")
VARIABLE_PATTERN = pattern(r"^[A-Za-z_][A-Za-z0-9_]*$", "a Jinja2 variable name")
PUBLIC_MODEL_PATTERN = pattern(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$", "letters, digits and `._/:-`, at most 128 characters")
REGISTERED_NAME_PATTERN = pattern(r"^\S(?:[^\n\r\t]*\S)?$", "a name without leading or trailing spaces, tabs or line breaks")
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
Version = Annotated[str, Field(pattern=VERSION_PATTERN)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]

Provider = Literal[
    "openai", "azure", "anthropic", "bedrock", "vertex_ai", "gemini", "mistral", "vllm", "tgi", "openai_compatible"
]
# Served from weights the team runs itself: those need an api_base and a pinned weights digest.
SELF_HOSTED_PROVIDERS: frozenset[str] = frozenset({"vllm", "tgi", "openai_compatible"})
Gateway = Literal["litellm", "envoy", "kong", "portkey"]


def url_problem(url: str) -> None:
    """Raise a spec error when `url` has no host or a port that is not 1-65535."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PydanticCustomError("url_malformed", "is not a valid URL ({reason})", {"reason": str(error)}) from None
    if not parts.hostname:
        raise PydanticCustomError("url_malformed", "has no host name", {})
    if port == 0:
        raise PydanticCustomError("url_malformed", "has port 0; use a port from 1 to 65535", {})


# A registry version is a number: MLflow numbers a registered model's versions 1, 2, 3...
# An alias (`champion`, `@latest`) or a stage (`Production`) moves, so a bundle that named
# one would change behaviour without a commit.
REGISTRY_VERSION_PATTERN = pattern(r"^[1-9][0-9]{0,17}$", "a version number such as 7")


RELC801 = define(
    "RELC801",
    title="registry reference names an alias or stage, not a version",
    meaning="`version` names an alias (`champion`, `@latest`) or a stage (`Production`), which move in the "
            "registry without a commit",
    fix="name the version number the alias points to now (`version: 7`)",
)


class MlflowVersion(_Strict):
    """One version of a model in an MLflow registry, by number."""

    name: str = Field(
        min_length=1,
        max_length=256,
        pattern=REGISTERED_NAME_PATTERN,
        description="The registered model's name in MLflow.",
        examples=["support-chat-llm"],
    )
    version: Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=REGISTRY_VERSION_PATTERN)] = Field(
        description="The version number (`7` or `\"7\"`). Never an alias or a stage: those move without a commit.",
        examples=[7],
    )

    @field_validator("version", mode="before")
    @classmethod
    def _a_number_not_an_alias(cls, value: object) -> object:
        """An alias is the one mistake worth its own message: say what to write instead."""
        not_a_number = PydanticCustomError(
            "registry_version", "must be a version number from 1 (such as 7), got {shown}", {"shown": repr(value)}
        )
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 1):
            raise not_a_number
        if isinstance(value, int):
            value = str(value)  # one form, so `7` and `"7"` are the same bundle (and digest)
        if not re.fullmatch(REGISTRY_VERSION_PATTERN, value):
            if value.isdigit():
                raise not_a_number
            raise PydanticCustomError(
                "registry_alias",
                "names {shown}, which is not a version number; aliases and stages move without a commit, so "
                "name the number it points to now (`version: 7`)",
                {"shown": repr(value)},
            )
        return value

    @property
    def version_text(self) -> str:
        return str(self.version)


class RegistryLineage(_Strict):
    """Where the registry says the version came from, as `relc pin --registry` recorded it."""

    run_id: str = Field(max_length=256, description="The run that produced the version (empty when none).", examples=["8f2c1e"])
    source: str = Field(max_length=2048, description="Where the version's artifacts are.", examples=["s3://models/chat/7"])
    tags: dict[Annotated[str, Field(min_length=1, max_length=250)], Annotated[str, Field(max_length=5000)]] = Field(
        default_factory=empty_dict,
        description="The version's tags that name data or code versions: `dvc.*`, `lakefs.*`, `git.*`, "
        "`mlflow.source.git.*`, `data.*`, `code.*`, `git_commit`, `dataset_version` and the like.",
        examples=[{"dvc.data.rev": "a1b2c3", "mlflow.source.git.commit": "9e8d7c"}],
    )


class RegistryRef(_Strict):
    """Where the bundle's model version is recorded. MLflow is the one registry supported now."""

    mlflow: MlflowVersion = Field(description="A model version in the MLflow registry `relc validate --registry` reads.")


class ModelRef(_Strict):
    """Which model serves the bundle, and where."""

    provider: Provider = Field(
        description="Who serves the model. `vllm`, `tgi` and `openai_compatible` are self-hosted servers "
        "and need `api_base` and `weights_digest`.",
        examples=["openai", "vllm"],
    )
    name: str = Field(
        min_length=1,
        max_length=200,
        description="The provider's model name.",
        examples=["gpt-4o-2024-08-06", "meta-llama/Llama-3.1-8B-Instruct"],
    )
    api_base: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description="Base URL of the serving endpoint; required for self-hosted providers.",
        examples=["http://vllm-llama.serving.svc:8000/v1"],
    )

    @field_validator("api_base")
    @classmethod
    def _api_base_parses(cls, value: str | None) -> str | None:
        """Parse the URL once, here, so no later stage meets a port or host it cannot read."""
        if value is not None:
            url_problem(value)
        return value

    api_key_env: str | None = Field(
        default=None,
        pattern=ENV_VAR_PATTERN,
        description="Name of the environment variable that holds the API key. Never the key itself.",
        examples=["OPENAI_API_KEY"],
    )
    api_version: str | None = Field(
        default=None,
        min_length=1,
        description="API version for providers that need one (Azure OpenAI).",
        examples=["2024-06-01"],
    )
    weights_digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="Content digest of self-hosted weights, so a bundle pins exact weights.",
        examples=["sha256:" + "4f" * 32],
    )
    registry: RegistryRef | None = Field(
        default=None,
        description="The model registry's record of this model version; `relc validate --registry URI` checks it "
        "exists and is not archived, and `relc pin` records its digest.",
        examples=[{"mlflow": {"name": "support-chat-llm", "version": 7}}],
    )
    registry_digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="Digest of the registry version's source and run, written by `relc pin`: a version changed in "
        "place in the registry no longer matches it (registry drift).",
        examples=["sha256:" + "a1" * 32],
    )
    registry_lineage: RegistryLineage | None = Field(
        default=None,
        description="The registry's lineage of the version (run, source, data and code tags), written by `relc pin "
        "--registry` and carried into the bundle manifest; `relc validate --registry` reports it if it changed.",
    )


class PromptRef(_Strict):
    """The prompt template, pinned by content."""

    template: str = Field(
        min_length=1,
        description="Path of the Jinja2 template, relative to the repository root.",
        examples=["prompts/support-chat/v3.j2"],
    )
    sha256: Sha256 = Field(
        description="sha256 of the template file's bytes; `relc validate` prints the right value when it differs.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    variables: list[Annotated[str, Field(pattern=VARIABLE_PATTERN)]] = Field(
        default_factory=empty_list,
        description="Every variable the template may use; using any other is an error.",
        examples=[["question", "documents"]],
    )


class Retrieval(_Strict):
    """The retrieval index the bundle answers from."""

    index: str = Field(min_length=1, description="Name of the retrieval index.", examples=["kb-support"])
    version: str = Field(
        min_length=1, description="Immutable version or snapshot of the index.", examples=["2026-11-01"]
    )
    top_k: int | None = Field(
        default=None, ge=1, le=1000, description="How many passages to retrieve per request.", examples=[8]
    )


class Tokenizer(_Strict):
    """The tokenizer, pinned to a revision."""

    name: str = Field(min_length=1, description="Tokenizer name or repository.", examples=["o200k_base"])
    revision: str = Field(
        min_length=1, description="Immutable revision (tag or commit) of the tokenizer.", examples=["v1.0.0"]
    )


class Serving(_Strict):
    """Request parameters sent with every call to this bundle."""

    temperature: float = Field(ge=0, le=2, description="Sampling temperature.", examples=[0.2])
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.", examples=[0.9])
    max_tokens: int = Field(ge=1, le=1_000_000, description="Most tokens one response may have.", examples=[1024])
    timeout: Duration = Field(description="How long one request may take before it fails.", examples=["30s"])
    retries: int = Field(default=0, ge=0, le=10, description="Retries on a failed request.", examples=[2])


class Bundle(_Strict):
    """An immutable serving bundle: everything that decides the model's behaviour."""

    version: Version = Field(
        description="Unique, immutable version of this bundle. Once on the main branch its content never changes.",
        examples=["v42", "2026-11-20.1"],
    )
    description: str | None = Field(default=None, description="What changed in this version.", examples=["New prompt."])
    model: ModelRef = Field(description="The model that serves this bundle.")
    prompt: PromptRef = Field(description="The prompt template this bundle renders.")
    retrieval: Retrieval | None = Field(default=None, description="The retrieval index, if the bundle uses one.")
    tokenizer: Tokenizer = Field(description="The tokenizer and its revision.")
    serving: Serving = Field(description="Serving parameters.")


class Step(_Strict):
    """One rollout step: shadow (mirror only) or canary (serve a share), then hold."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["shadow"]}, {"required": ["canary"]}]},
    )

    shadow: Percent | None = Field(
        default=None,
        description="Percent of requests mirrored to the candidate; the candidate serves none of them.",
        examples=[10],
    )
    canary: Percent | None = Field(
        default=None, description="Percent of requests the candidate serves.", examples=[5, 25, 50]
    )
    hold: Duration = Field(description="How long the step must run before it may be promoted.", examples=["30m"])

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "Step":
        if (self.shadow is None) == (self.canary is None):
            raise PydanticCustomError(
                "step_kind",
                "a step is either `shadow: N` or `canary: N`, with a `hold`; this one has {found}",
                {"found": "both" if self.shadow is not None else "neither"},
            )
        return self

    @property
    def kind(self) -> str:
        return "shadow" if self.shadow is not None else "canary"

    @property
    def percent(self) -> float:
        return self.shadow if self.shadow is not None else self.canary  # type: ignore[return-value]


class Rollout(_Strict):
    """Which bundle serves, which is being rolled out, and how far it has come."""

    stable: Version = Field(description="The bundle serving now.", examples=["v41"])
    candidate: Version | None = Field(
        default=None, description="The bundle being rolled out, if any.", examples=["v42"]
    )
    previous: Version | None = Field(
        default=None, description="The last stable bundle, kept warm as a fallback.", examples=["v40"]
    )
    step: int | None = Field(
        default=None,
        ge=1,
        description="The current step, counted from 1. Defaults to 1 while a candidate is set.",
        examples=[1],
    )
    steps: list[Step] = Field(
        default_factory=empty_list,
        description="The rollout plan, in order. Kept between rollouts.",
        examples=[[{"shadow": 10, "hold": "30m"}, {"canary": 5, "hold": "1h"}, {"canary": 50, "hold": "2h"}]],
    )

    @property
    def current_step(self) -> int | None:
        if self.candidate is None:
            return None
        return self.step if self.step is not None else 1


Metric = Literal[
    "error_rate",
    "timeout_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "oom_count",
    "safety_filter_rate",
    "eval_score",
    "groundedness",
    "hallucination_rate",
    "thumbs_down_rate",
    "escalation_rate",
]


@dataclass(frozen=True)
class MetricKind:
    """What a metric's values mean, so thresholds can be checked for sense."""

    unit: Literal["rate", "score", "seconds", "count"]
    family: Literal["operational", "quality"]


METRICS: dict[str, MetricKind] = {
    "error_rate": MetricKind("rate", "operational"),
    "timeout_rate": MetricKind("rate", "operational"),
    "latency_p50": MetricKind("seconds", "operational"),
    "latency_p95": MetricKind("seconds", "operational"),
    "latency_p99": MetricKind("seconds", "operational"),
    "oom_count": MetricKind("count", "operational"),
    "safety_filter_rate": MetricKind("rate", "operational"),
    "eval_score": MetricKind("score", "quality"),
    "groundedness": MetricKind("score", "quality"),
    "hallucination_rate": MetricKind("rate", "quality"),
    "thumbs_down_rate": MetricKind("rate", "quality"),
    "escalation_rate": MetricKind("rate", "quality"),
}


class Trigger(_Strict):
    """A threshold on a metric, checked over a window, and what to do when it is crossed."""

    name: Identifier = Field(description="Unique name of the trigger in this release.", examples=["error-rate"])
    metric: Metric = Field(
        description="The metric. Rates and scores are fractions in 0-1; latencies are in seconds.",
        examples=["error_rate", "latency_p95", "eval_score"],
    )
    max: float | None = Field(
        default=None, description="Breached when the value is above this.", examples=[0.02]
    )
    min: float | None = Field(
        default=None, description="Breached when the value is below this.", examples=[0.85]
    )
    relative_to_stable: bool = Field(
        default=False,
        description="Compare the candidate against the stable bundle instead of an absolute value.",
        examples=[True],
    )
    relative_mode: Literal["difference", "ratio"] | None = Field(
        default=None,
        description="With relative_to_stable: `difference` (candidate minus stable, the default) "
        "or `ratio` (candidate divided by stable).",
        examples=["ratio"],
    )
    statistical_test: Literal["none", "mann_whitney"] = Field(
        default="none",
        description="With relative_to_stable (difference) and per-request samples: `mann_whitney` breaches only "
        "when the candidate is worse than stable beyond the threshold with the given confidence, so noise "
        "neither rolls back a good model nor hides a real regression.",
        examples=["mann_whitney"],
    )
    confidence: float = Field(
        default=0.95,
        ge=0.5,
        le=0.9999,
        description="Confidence the statistical test needs before it calls a difference real.",
        examples=[0.95],
    )
    window: Duration = Field(description="How far back the metric is read.", examples=["10m"])
    min_samples: int = Field(
        ge=1, description="Fewest samples in the window for a decision; fewer means hold.", examples=[200]
    )
    action: Literal["rollback", "alert"] = Field(
        description="`rollback` reverts automatically; `alert` asks a person.", examples=["rollback"]
    )


class Route(_Strict):
    """What clients call, and which gateways carry it."""

    model: str = Field(
        pattern=PUBLIC_MODEL_PATTERN,
        description="The public model name clients request; unique across all releases.",
        examples=["support-chat"],
    )
    gateways: list[Gateway] = Field(
        min_length=1, description="The gateways to render configuration for.", examples=[["litellm", "envoy"]]
    )


class Release(_Strict):
    """A release of one LLM-backed endpoint: its bundles, rollout and triggers."""

    model_config = ConfigDict(title="relc Release", populate_by_name=False)

    api_version: Literal["relc/v1"] = Field(
        alias="apiVersion", description="Version of the release spec.", examples=[API_VERSION]
    )
    kind: Literal["Release"] = Field(description="Always `Release`.", examples=["Release"])
    name: Identifier = Field(
        description="Name of the release; must match the file name `releases/<name>.yaml` (or `.yml`).",
        examples=["support-chat"],
    )
    description: str | None = Field(default=None, description="What this endpoint is for.", examples=["Support bot."])
    owners: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Who answers for this release: teams or people.", examples=[["@acme/ml-platform"]]
    )
    route: Route = Field(description="The public model name and the gateways that route it.")
    bundles: list[Bundle] = Field(min_length=1, description="Every bundle version still deployable.")
    rollout: Rollout = Field(description="The rollout state.")
    triggers: list[Trigger] = Field(default_factory=empty_list, description="Health thresholds for the rollout.")

    def bundle(self, version: str) -> Bundle | None:
        return next((bundle for bundle in self.bundles if bundle.version == version), None)
