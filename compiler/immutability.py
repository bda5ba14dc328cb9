"""Published bundles never change: compare every bundle with its first publication.

A bundle version that ever reached the base branch is published. If a release brings
it back with other content (edited in place, or removed and re-added), that is an
error at the bundle's version, naming the commit that published it and what differs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from compiler import git
from compiler.diagnostics import Diagnostic, define
from compiler.history import Publication, publication_content, published_bundles
from compiler.validate import CheckedRelease

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache


RELC701 = define(
    "RELC701",
    title="published bundle changed in place",
    meaning="a bundle version published on the base branch (ever, even if removed since) comes back with other "
            "content; the message names the commit that published it and the fields that differ",
    fix="restore the bundle's content and publish the change as a new version",
)


def _differences(published: Any, current: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(published, dict) and isinstance(current, dict):
        for key in sorted(set(published) | set(current)):
            yield from _differences(published.get(key), current.get(key), f"{prefix}.{key}" if prefix else key)
    elif published != current:
        yield prefix or "content"


def immutability_diagnostics(
    root: Path, base: str, releases: list[CheckedRelease], cache: "ReleaseCache | None" = None
) -> list[Diagnostic]:
    """One diagnostic per bundle whose content differs from its first publication."""
    published = published_bundles(root, base, cache)
    # A release moved with `git mv` since the base is still the release that published its bundles.
    moved = {Path(new).stem: Path(old).stem for new, old in git.renamed_since(root, base, "releases").items()}
    diagnostics = []
    for checked in releases:
        name = checked.name
        for index, (version, digest, position) in enumerate(checked.facts.bundles):
            publication: Publication | None = published.get((name, version)) or published.get((moved.get(name, name), version))
            if publication is None or publication.digest == digest:
                continue  # the common case, decided from the facts without parsing the release
            from compiler.digest import bundle_content

            bundle = checked.release.bundles[index]
            changed = ", ".join(_differences(publication_content(root, publication), bundle_content(bundle)))
            when = time.strftime("%Y-%m-%d", time.gmtime(publication.timestamp))
            diagnostics.append(
                Diagnostic(
                    checked.path, position.line, position.column, "RELC701",
                    f"bundle `{version}` was published in {git.short(publication.commit)} ({when}) and published "
                    f"bundles never change, but its {changed} differ now: restore its content and publish the "
                    "change as a new version",
                )  # fmt: skip
            )
    return diagnostics
