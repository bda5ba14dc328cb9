"""The registry follows Git: aliases that say which version serves, set after each commit.

For each registered model a release names, alias `champion` points to the stable
bundle's version, `challenger` to the candidate's and `previous` to the previous
bundle's; an alias whose role is empty (no candidate) or names another model is
removed. Each version an alias moved to gets tags naming the relc commit, so the
registry's audit trail says which commit made it serve. Syncing is idempotent: a sync
that failed (the registry was down) is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.registry import ROLE_ALIASES, Registry, RegistryError, reference_of

if TYPE_CHECKING:
    from compiler.spec import Release


@dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    version: str | None  # None: removed

    def __str__(self) -> str:
        target = f"-> version {self.version}" if self.version else "removed"
        return f"{self.model}@{self.alias} {target}"


def wanted_aliases(release: "Release") -> dict[str, dict[str, str | None]]:
    """For each registered model the release names: alias -> version (None: no alias)."""
    roles = {"stable": release.rollout.stable, "candidate": release.rollout.candidate,
             "previous": release.rollout.previous}  # fmt: skip
    models = sorted({reference.model for bundle in release.bundles if (reference := reference_of(bundle))})
    wanted: dict[str, dict[str, str | None]] = {model: dict.fromkeys(ROLE_ALIASES.values()) for model in models}
    for role, version in roles.items():
        bundle = release.bundle(version) if version else None
        reference = reference_of(bundle) if bundle else None
        if reference is not None:
            wanted[reference.model][ROLE_ALIASES[role]] = reference.version
    return wanted


def sync_release(registry: Registry, release: "Release", commit: str) -> list[AliasMove]:
    """Move the aliases of every registered model the release names to what its rollout says;
    the moves made (none when the registry already agreed). Raises RegistryError."""
    moves: list[AliasMove] = []
    for model, aliases in wanted_aliases(release).items():
        current = registry.aliases(model)
        for alias, version in aliases.items():
            if version is not None and current.get(alias) != version:
                registry.set_alias(model, alias, version)
                registry.set_tag(model, version, "relc.commit", commit)
                registry.set_tag(model, version, "relc.release", release.name)
                registry.set_tag(model, version, "relc.alias", alias)
                moves.append(AliasMove(model, alias, version))
            elif version is None and alias in current:
                registry.remove_alias(model, alias)
                moves.append(AliasMove(model, alias, None))
    return moves


def sync_committed(root: Path, name: str, registry: Registry) -> list[AliasMove]:
    """Sync a release as the checked-out commit has it (after a promote or rollback)."""
    from compiler import git
    from compiler.history import release_file
    from compiler.validate import validate_release_file

    path = release_file(root, name)
    checked, diagnostics = validate_release_file(root / path, root)
    if checked is None:
        raise RegistryError(f"cannot sync the registry: {path} is not valid", diagnostics)
    return sync_release(registry, checked.release, git.head(root))


def registry_for_sync(explicit: str | None, timeout: float = 10.0) -> Registry:
    """The registry --sync-registry writes to: --registry URI or $RELC_MLFLOW_URI, checked
    before anything is committed, so a missing URI refuses the command instead of half of it."""
    from compiler.errors import UsageError
    from compiler.registry import REGISTRY_ENV, open_registry, registry_location

    uri = registry_location(explicit)
    if uri is None:
        raise UsageError(f"--sync-registry needs the registry: --registry URI or ${REGISTRY_ENV}")
    return open_registry(uri, timeout)
