"""Registry references, checked: offline (the fields agree) and against a live registry.

Each problem is a diagnostic at the line of the reference (or of its `registry_digest`),
so a pull request shows it where the bundle names the version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol

from compiler.diagnostics import Diagnostic, define
from compiler.registry import Registry, VersionFacts, references

if TYPE_CHECKING:
    from compiler.load import FieldPath
    from compiler.spec import Release
    from compiler.validate import CheckedRelease


RELC802 = define(
    "RELC802",
    title="registry version does not exist",
    meaning="the registered model, or that version of it, does not exist in the registry (never registered, or "
            "deleted with no later version to tell)",
    fix="register the version, or name one that exists",
)
RELC803 = define(
    "RELC803",
    title="registry version is archived or deleted",
    meaning="the version is archived (MLflow's deprecated `Archived` stage) or was deleted (later versions "
            "exist, this one is gone)",
    fix="publish a bundle that names a live version",
)
RELC804 = define(
    "RELC804",
    title="registry drift: the version changed since it was pinned",
    meaning="registry drift: the version's source or run no longer match `registry_digest`, or its lineage (run, "
            "source, data and code tags) no longer matches `registry_lineage`, so the registry's version was "
            "changed in place (for example the registered model deleted and registered again)",
    fix="find out who changed it; register the intended model as a new version and publish a bundle that names "
        "it (`relc pin` records its digest)",
)
RELC805 = define(
    "RELC805",
    title="registry_digest without a registry reference",
    meaning="`registry_digest` or `registry_lineage` is set but the model has no `registry` reference",
    fix="remove them, or add the `registry` reference they belong to",
)
RELC806 = define(
    "RELC806",
    title="registry version is not ready",
    meaning="the version's registration is pending or failed (`PENDING_REGISTRATION`, `FAILED_REGISTRATION`)",
    fix="wait for the registration to finish, or register it again",
)


class _Reporter(Protocol):
    def at(self, path: "FieldPath", code: str, message: str) -> Diagnostic: ...


def registry_fields(release: "Release", report: _Reporter) -> Iterator[Diagnostic]:
    """A validate rule: registry_digest and registry_lineage describe a reference, so they need one."""
    for index, bundle in enumerate(release.bundles):
        if bundle.model.registry is not None:
            continue
        for name in ("registry_digest", "registry_lineage"):
            if getattr(bundle.model, name) is not None:
                yield report.at(
                    ("bundles", index, "model", name), "RELC805",
                    f"bundle `{bundle.version}` has a {name} but no model.registry reference it belongs to; "
                    "remove it, or add the reference",
                )  # fmt: skip


def count_references(releases: list["CheckedRelease"]) -> int:
    """From the facts a check keeps, so a release answered from the cache is not parsed again."""
    return sum(checked.facts.registry_references for checked in releases)


def registry_diagnostics(releases: list["CheckedRelease"], registry: Registry) -> list[Diagnostic]:
    """Resolve every reference; a diagnostic for each that is missing, archived, not ready or
    changed since `relc pin`. Raises RegistryError when the registry cannot answer."""
    diagnostics: list[Diagnostic] = []
    for checked in releases:
        for index, bundle, reference in references(checked.release):
            facts = registry.resolve(reference)
            problem = version_problem(facts)
            path: FieldPath = ("bundles", index, "model", "registry", "mlflow", "version")
            if problem is not None:
                code, message = problem
                diagnostics.append(_at(checked, path, code, f"bundle `{bundle.version}`: {message}"))
                continue
            pinned = bundle.model.registry_digest
            if pinned is not None and pinned != facts.digest:
                diagnostics.append(_at(
                    checked, ("bundles", index, "model", "registry_digest"), "RELC804",
                    f"registry drift: bundle `{bundle.version}` pinned {reference} at {pinned[:19]}…, but its source "
                    f"or run changed in the registry (now {facts.digest[:19]}…: source {facts.source!r}, run "
                    f"{facts.run_id or 'none'}); the version was changed in place: register the intended model as "
                    "a new version and publish a bundle that names it",
                ))  # fmt: skip
                continue
            lineage = bundle.model.registry_lineage
            if lineage is not None and lineage.model_dump() != facts.lineage():
                diagnostics.append(_at(
                    checked, ("bundles", index, "model", "registry_lineage"), "RELC804",
                    f"registry drift: the lineage of {reference} (run, source or data and code tags) changed in the "
                    f"registry since `relc pin` recorded it for bundle `{bundle.version}`; now {facts.lineage()}",
                ))  # fmt: skip
    return diagnostics


def version_problem(facts: VersionFacts) -> tuple[str, str] | None:
    """(code, message) when the version cannot be served as a bundle's model, else None."""
    reference = facts.reference
    if not facts.exists and facts.deleted:
        return "RELC803", f"{reference} was deleted from the registry (later versions exist); name a live version"
    if not facts.exists:
        return "RELC802", (f"{reference} does not exist in the registry (never registered, or deleted); register it "
                           "or name a version that exists")  # fmt: skip
    if facts.archived:
        return "RELC803", f"{reference} is archived in the registry (stage `{facts.stage}`); name a live version"
    if not facts.ready:
        return "RELC806", f"{reference} is not ready in the registry (status `{facts.status}`)"
    return None


def _at(checked: "CheckedRelease", path: "FieldPath", code: str, message: str) -> Diagnostic:
    position = checked.document.position_of(path)
    return Diagnostic(checked.path, position.line, position.column, code, message)
