"""Model registries: where a bundle's model version is recorded, and how relc reads and marks it.

A registry implements `Registry` (five calls: resolve a version, read, set and remove
aliases, set a version tag). MLflow's REST API is the one implementation
(`mlflow.py`); W&B, SageMaker, Vertex AI or Azure ML would each be one more module.
relc never imports a registry's client library: the core install stays small.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from compiler.errors import RelcError, UsageError

if TYPE_CHECKING:
    from compiler.spec import Bundle, Release

REGISTRY_ENV = "RELC_MLFLOW_URI"
DIGEST_SCHEME = "relc-registry/v1"
# The aliases the registry carries for the rollout roles, so its stage matches what runs.
ROLE_ALIASES: dict[str, str] = {"stable": "champion", "candidate": "challenger", "previous": "previous"}
# Version tags that name where the model's data and code came from (DVC, lakeFS, Git).
LINEAGE_TAG_PREFIXES = ("dvc.", "lakefs.", "git.", "mlflow.source.git.", "data.", "code.")
LINEAGE_TAGS = frozenset({"git_commit", "git_sha", "dataset", "dataset_version", "data_version", "code_version"})


class RegistryError(RelcError):
    """The registry refused or failed a request: what, where (never a credential), and why."""


class RegistryUnreachable(RegistryError):
    """No answer at all: connection refused, a timeout, a name that does not resolve."""


@dataclass(frozen=True, order=True)
class RegistryReference:
    """One model version in one registry, as a bundle names it."""

    kind: str  # "mlflow"
    model: str
    version: str

    def __str__(self) -> str:
        return f"{self.kind} model `{self.model}` version {self.version}"


@dataclass(frozen=True)
class VersionFacts:
    """What the registry says about a referenced version."""

    reference: RegistryReference
    exists: bool
    deleted: bool = False  # gone, while later versions of the model exist
    stage: str = ""  # MLflow's deprecated stages: None, Staging, Production, Archived
    status: str = ""  # READY, PENDING_REGISTRATION, FAILED_REGISTRATION
    source: str = ""
    run_id: str = ""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def archived(self) -> bool:
        return self.stage.lower() == "archived"

    @property
    def ready(self) -> bool:
        return self.status in ("", "READY")

    @property
    def digest(self) -> str:
        return registry_digest(self.source, self.run_id)

    def lineage(self) -> dict[str, object]:
        """Run, source and the tags that name data or code versions, for the bundle manifest."""
        tags = {key: value for key, value in self.tags if key in LINEAGE_TAGS or key.startswith(LINEAGE_TAG_PREFIXES)}
        return {"run_id": self.run_id, "source": self.source, "tags": dict(sorted(tags.items()))}


class Registry(Protocol):
    """What relc needs of a model registry. `location` is printable: it holds no credential."""

    kind: str
    location: str

    def resolve(self, reference: RegistryReference) -> VersionFacts:
        """The version's facts; `exists=False` when the model or version is not there."""

    def aliases(self, model: str) -> dict[str, str]:
        """Each alias of the registered model and the version it points to."""

    def set_alias(self, model: str, alias: str, version: str) -> None: ...

    def remove_alias(self, model: str, alias: str) -> None: ...

    def set_tag(self, model: str, version: str, key: str, value: str) -> None: ...


def registry_digest(source: str, run_id: str) -> str:
    """A digest of what the version is (its artifacts' source and the run that made them),
    so a version changed in place no longer matches the pin."""
    canonical = json.dumps({"scheme": DIGEST_SCHEME, "source": source, "run_id": run_id}, sort_keys=True,
                           separators=(",", ":"))  # fmt: skip
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def reference_of(bundle: "Bundle") -> RegistryReference | None:
    registry = bundle.model.registry
    if registry is None:
        return None
    return RegistryReference("mlflow", registry.mlflow.name, registry.mlflow.version_text)


def references(release: "Release") -> list[tuple[int, "Bundle", RegistryReference]]:
    """(index in bundles, bundle, reference) for each bundle that names a registry version."""
    found = []
    for index, bundle in enumerate(release.bundles):
        reference = reference_of(bundle)
        if reference is not None:
            found.append((index, bundle, reference))
    return found


def registry_location(explicit: str | None) -> str | None:
    """--registry URI, else $RELC_MLFLOW_URI, else None (stay offline)."""
    return explicit or os.environ.get(REGISTRY_ENV) or None


def open_registry(uri: str, timeout: float = 10.0) -> Registry:
    """The registry at `uri`: an MLflow tracking server's http(s) URL (`mlflow+` may prefix it)."""
    from urllib.parse import urlsplit

    address = uri.removeprefix("mlflow+")
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 (a port that is not a number raises here, not on first use)
    except ValueError:
        raise UsageError("the registry URI is not a valid URL; give an MLflow server's address, e.g. http://127.0.0.1:5000") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            "the registry must be an MLflow tracking server's http:// or https:// URL (e.g. http://127.0.0.1:5000); "
            "other registries (W&B, SageMaker, Vertex AI, Azure ML) are not supported yet"
        )
    from compiler.registry.mlflow import MlflowRegistry

    return MlflowRegistry(address, timeout)
