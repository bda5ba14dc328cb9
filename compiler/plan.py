"""The plan: per release, who serves what share before and after a change.

"Before" is read from bundle manifests in `rendered/bundles/` (on disk, or at a base
revision), since `rendered/` is what the gateways run; "after" is a fresh render. The
plan is a value; text and Markdown are two ways to print it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from compiler.emit import Files
    from compiler.validate import CheckedRelease
    from compiler.traffic import TrafficState


@dataclass(frozen=True)
class BundleShare:
    version: str
    role: str
    served_percent: float
    mirrored_percent: float
    digest: str = ""  # content: a live bundle whose content changed changes what clients get


@dataclass(frozen=True)
class ReleaseTraffic:
    """A release's traffic as its bundle manifest states it."""

    step: str
    bundles: tuple[BundleShare, ...]
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...]

    def share(self, version: str) -> BundleShare | None:
        return next((bundle for bundle in self.bundles if bundle.version == version), None)


@dataclass(frozen=True)
class ReleasePlan:
    release: str
    before: ReleaseTraffic | None
    after: ReleaseTraffic | None
    gateways: tuple[tuple[str, str], ...]
    # Per gateway, a unified diff of this release's part of the rendered config.
    diffs: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> bool:
        """Traffic or content changed: who serves what share, mirrors, fallbacks, or a live
        bundle's content. A new hold alone changes no traffic."""
        def essence(traffic: ReleaseTraffic | None) -> object:
            return None if traffic is None else (traffic.bundles, traffic.fallbacks)

        return essence(self.before) != essence(self.after)

    @property
    def content_changes(self) -> tuple[str, ...]:
        """Live bundles whose content differs before and after (same version, other digest)."""
        if self.before is None or self.after is None:
            return ()
        return tuple(
            share.version for share in self.after.bundles
            if (old := self.before.share(share.version)) is not None and old.digest and old.digest != share.digest
        )  # fmt: skip


def _step_label(step: dict[str, Any] | None) -> str:
    """The step as a bundle manifest records it, worded as every output words it."""
    from compiler.traffic import step_label

    if step is None:
        return step_label(None, 0)
    return step_label(step["number"], step["of"], step["kind"], step["percent"], step["hold"])


def traffic_from_manifest(manifest: dict[str, Any]) -> ReleaseTraffic:
    return ReleaseTraffic(
        step=_step_label(manifest.get("step")),
        bundles=tuple(
            BundleShare(b["version"], b["role"], float(b["served_percent"]), float(b["mirrored_percent"]), b.get("digest", ""))
            for b in manifest["bundles"]
        ),
        fallbacks=tuple((version, tuple(chain)) for version, chain in sorted(manifest.get("fallbacks", {}).items())),
    )


def manifests_from_files(files: "Files") -> dict[str, ReleaseTraffic]:
    """Release name -> traffic, from `bundles/<name>.json` entries of a rendered tree (a
    mapping, or a stream of (path, bytes))."""
    from compiler.emit import items_of

    traffic = {}
    for path, content in items_of(files):
        if path.startswith("bundles/") and path.endswith(".json"):
            manifest = json.loads(content)
            traffic[manifest["release"]] = traffic_from_manifest(manifest)
    return traffic


def make_plan(
    before: dict[str, ReleaseTraffic], after: dict[str, ReleaseTraffic], gateways: dict[str, tuple[tuple[str, str], ...]]
) -> list[ReleasePlan]:
    """`gateways`: each release's (gateway, description) pairs, as `render.describe_gateways` makes them."""
    return [
        ReleasePlan(release, before.get(release), after.get(release), gateways.get(release, ()))
        for release in sorted(set(before) | set(after))
    ]


def _percent(share: BundleShare | None, field: str) -> str:
    from compiler.traffic import percent_text

    if share is None:
        return "-"
    return percent_text(getattr(share, field))


def _rows(plan: ReleasePlan) -> list[tuple[str, str, str, str, str]]:
    from compiler.traffic import percent_text

    versions = list(dict.fromkeys(b.version for traffic in (plan.after, plan.before) if traffic for b in traffic.bundles))
    rows = []
    for version in versions:
        before = plan.before.share(version) if plan.before else None
        after = plan.after.share(version) if plan.after else None
        roles = [share.role for share in (before, after) if share is not None]
        role = " -> ".join(dict.fromkeys(roles))
        mirrored = after.mirrored_percent if after else 0
        rows.append((version, role, _percent(before, "served_percent"), _percent(after, "served_percent"),
                     percent_text(mirrored) if mirrored else ""))  # fmt: skip
    return rows


def _fallback_text(traffic: ReleaseTraffic | None) -> str:
    if traffic is None or not traffic.fallbacks:
        return "none"
    return "; ".join(f"{version} -> {' -> '.join(chain)}" for version, chain in traffic.fallbacks)


def _headline(plan: ReleasePlan) -> str:
    if plan.after is None:
        return "removed"
    if plan.before is None:
        return f"new, {plan.after.step}"
    if not plan.changed:
        return f"unchanged, {plan.after.step}"
    if plan.content_changes and plan.before.step == plan.after.step:
        return f"{plan.after.step}; content changed"
    return f"{plan.before.step} -> {plan.after.step}" if plan.before.step != plan.after.step else plan.after.step


def format_text(plans: list[ReleasePlan]) -> str:
    """Changed releases in full; unchanged ones in one line, as `terraform plan` does."""
    lines = []
    for plan in plans:
        if not plan.changed:
            continue
        lines.append(f"{plan.release}: {_headline(plan)}")
        lines.extend(f"  content of {version} changed (its digest differs)" for version in plan.content_changes)
        for version, role, before, after, mirrored in _rows(plan):
            extra = f", mirrored {mirrored}" if mirrored else ""
            lines.append(f"  {version:<16} {role:<22} served {before:>6} -> {after:>6}{extra}")
        lines.append(f"  fallbacks: {_fallback_text(plan.after)}")
        lines.extend(f"  {name}: {description}" for name, description in plan.gateways)
        for name, diff in plan.diffs:
            lines.append(f"  {name} config:")
            lines.extend(f"    {line}" for line in diff.splitlines())
    unchanged = [f"{plan.release} ({plan.after.step if plan.after else 'removed'})" for plan in plans if not plan.changed]
    if unchanged:
        lines.append(f"unchanged: {', '.join(unchanged)}")
    changed = sum(plan.changed for plan in plans)
    lines.append(f"{changed} of {len(plans)} release(s) change traffic")
    return "\n".join(lines) + "\n"


def format_markdown(plans: list[ReleasePlan]) -> str:
    changed = [plan for plan in plans if plan.changed]
    lines = ["## relc plan", ""]
    lines.append(f"{len(changed)} of {len(plans)} release(s) change traffic." if changed else "No traffic changes.")
    for plan in changed:
        lines += ["", f"### `{plan.release}`: {_headline(plan)}", "",
                  "| bundle | role | served before | served after | mirrored |", "|---|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| `{v}` | {role} | {before} | {after} | {mirrored} |" for v, role, before, after, mirrored in _rows(plan)]
        lines += ["", *[f"**Content of `{v}` changed** (its digest differs)." for v in plan.content_changes]]
        lines += ["", f"Fallbacks: {_fallback_text(plan.after)}", ""]
        lines += [f"- **{name}**: {description}" for name, description in plan.gateways]
        for name, diff in plan.diffs:
            lines += ["", f"<details><summary>{name} config</summary>", "", "```diff", diff.rstrip("\n"), "```", "", "</details>"]
    unchanged = [plan.release for plan in plans if not plan.changed]
    if unchanged:
        lines += ["", "Unchanged: " + ", ".join(f"`{name}`" for name in unchanged)]
    return "\n".join(lines) + "\n"


def traffic_before(root: Path, base: str | None, only: frozenset[str] | None = None) -> dict[str, ReleaseTraffic]:
    """What the gateways run before the change: rendered/ at `base`, or on disk. With
    `only` (release names), only their manifests are read from disk: a rollback's
    preview at ten thousand releases reads one, not 80 MB of them."""
    from compiler.emit import MAX_RENDERED_BYTES, existing_files
    from compiler.files import read_repository_file
    from compiler.render import RENDERED_DIR

    if base is None:
        on_disk = existing_files(root / RENDERED_DIR / "bundles")  # the gateway files say nothing more
        wanted = on_disk.items() if only is None else [(path, file) for path, file in on_disk.items() if path[:-5] in only]
        return manifests_from_files(
            {f"bundles/{path}": read_repository_file(file, MAX_RENDERED_BYTES, root) for path, file in wanted}
        )
    from compiler import git

    commit = git.resolve_revision(root, base)
    files = git.files_at(root, commit, f"{RENDERED_DIR}/bundles")
    return manifests_from_files({path.removeprefix(f"{RENDERED_DIR}/"): content for path, content in files.items()})


def plan_releases(root: Path, releases: "list[CheckedRelease]", base: str | None = None) -> list[ReleasePlan]:
    """The plan from what runs now (or at `base`) to a fresh render of `releases`, with
    each changed release's rendered config diffed against `base` (default: HEAD)."""
    from dataclasses import replace

    from compiler.render import describe_gateways, render_manifests
    from compiler.traffic import traffic_state

    after = manifests_from_files(render_manifests(releases))
    gateways = {
        checked.name: checked.fragments.descriptions if checked.fragments is not None
        else describe_gateways(traffic_state(checked.release))
        for checked in releases
    }  # fmt: skip
    plans = make_plan(traffic_before(root, base), after, gateways)
    reference = _diff_reference(root, base)
    if reference is None:
        return plans
    by_name = {checked.name: checked for checked in releases}
    return [
        replace(plan, diffs=gateway_diffs(root, reference, plan.release,
                                          traffic_state(by_name[plan.release].release) if plan.release in by_name else None))
        if plan.changed else plan
        for plan in plans
    ]  # fmt: skip


def _diff_reference(root: Path, base: str | None) -> tuple[str, str] | None:
    """(commit, label) the config diff starts from: `base`, else HEAD; None outside Git."""
    from compiler import git

    try:
        return git.resolve_revision(root, base or "HEAD"), base or "HEAD"
    except git.GitError:
        return None


def gateway_diffs(root: Path, reference: tuple[str, str], release: str, after: "TrafficState | None") -> tuple[tuple[str, str], ...]:
    """Per gateway, the unified diff of this release's rendered fragment, from the release as
    committed at the reference to `after` (None: the release is removed)."""
    import difflib

    from compiler.gate import release_at
    from compiler.gateways import renderers
    from compiler.render import serialize
    from compiler.traffic import traffic_state

    commit, label = reference
    committed = release_at(root, commit, release)
    before = traffic_state(committed) if committed is not None else None
    available = renderers()
    names = sorted({*(before.gateways if before else ()), *(after.gateways if after else ())})
    diffs = []
    for name in names:
        old, new = (
            serialize(f"{name}.yaml", available[name].render(state)).decode() if state is not None and name in state.gateways else ""
            for state in (before, after)
        )
        if old == new:
            continue
        diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                    f"{name}: {release} at {label}", f"{name}: {release}", n=2)  # fmt: skip
        diffs.append((name, "".join(line if line.endswith("\n") else line + "\n" for line in diff)))
    return tuple(diffs)


def plan_records(plans: list[ReleasePlan]) -> list[dict[str, Any]]:
    """The plan as JSON-ready records, for `relc plan --format json`."""
    return [{**asdict(plan), "changed": plan.changed} for plan in plans]
