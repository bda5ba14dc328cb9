"""The rules a release must follow, across its fields and the files it names.

Each rule is a small generator of diagnostics with its own stable code, so one run
reports every problem in every file. `check_release_bytes` runs them all on one file;
`compiler.validate` runs it over a repository. Nothing here writes anything.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from compiler import prompts
from compiler.registry.check import registry_fields
from compiler.diagnostics import Diagnostic, define
from compiler.load import FieldPath, LoadedDocument, LoadLimits, load_bytes
from compiler.model import build_release, dotted
from compiler.secrets import SecretFinding, find_secrets, find_secrets_in_values
from compiler.spec import METRICS, SELF_HOSTED_PROVIDERS, Release, duration_seconds


class _Reporter:
    """Makes diagnostics for one document, placed at the value or key a path names."""

    def __init__(self, document: LoadedDocument) -> None:
        self.document = document

    def at(self, path: FieldPath, code: str, message: str) -> Diagnostic:
        position = self.document.position_of(path)
        return Diagnostic(self.document.path, position.line, position.column, code, message)

    def at_key(self, path: FieldPath, code: str, message: str) -> Diagnostic:
        position = self.document.key_position_of(path)
        return Diagnostic(self.document.path, position.line, position.column, code, message)


Rule = Callable[[Release, _Reporter], Iterable[Diagnostic]]


RELC201 = define(
    "RELC201",
    title="name does not match the file name",
    meaning="`name` does not match the file name",
    fix="rename the file or the release",
)


def _name_matches_file(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    file_name = Path(report.document.path).name
    stem = file_name.removesuffix(".yaml").removesuffix(".yml")
    if release.name != stem:
        yield report.at(
            ("name",), "RELC201", f"name `{release.name}` does not match the file name; rename the file to `{release.name}.yaml` or the release to `{stem}`"
        )


RELC202 = define(
    "RELC202",
    title="duplicate bundle version",
    fix="publish a new, unique version",
)
RELC210 = define(
    "RELC210",
    title="duplicate name in a list",
    meaning="duplicate name in a list (trigger names, gateways, owners, prompt variables)",
    fix="remove the duplicate",
)


def _unique_lists(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    lists: list[tuple[FieldPath, list[str], str]] = [
        (("bundles",), [bundle.version for bundle in release.bundles], "version"),
        (("triggers",), [trigger.name for trigger in release.triggers], "name"),
        (("route", "gateways"), list(release.route.gateways), ""),
        (("owners",), list(release.owners), ""),
    ]
    lists += [
        (("bundles", index, "prompt", "variables"), list(bundle.prompt.variables), "")
        for index, bundle in enumerate(release.bundles)
    ]
    for path, values, key in lists:
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            if value not in seen:
                seen[value] = index
                continue
            item_path = path + (index, key) if key else path + (index,)
            code = "RELC202" if path == ("bundles",) else "RELC210"
            what = "bundle version" if code == "RELC202" else f"entry in {dotted(path)}"
            yield report.at(item_path, code, f"duplicate {what} `{value}` (also {dotted(path)}[{seen[value]}]); each must be unique")


RELC203 = define(
    "RELC203",
    title="rollout names an unknown bundle",
    meaning="`rollout.stable/candidate/previous` names an unknown bundle",
    fix="name a version listed in `bundles`",
)
RELC204 = define(
    "RELC204",
    title="rollout roles name the same bundle",
    meaning="two rollout roles name the same bundle",
    fix="stable, candidate and previous are different bundles",
)


def _rollout_references(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    versions = [bundle.version for bundle in release.bundles]
    roles = {"stable": release.rollout.stable, "candidate": release.rollout.candidate, "previous": release.rollout.previous}
    for role, version in roles.items():
        if version is not None and version not in versions:
            yield report.at(
                ("rollout", role), "RELC203", f"rollout.{role} names bundle `{version}`, which is not in bundles (have: {', '.join(versions)})"
            )
    named = [(role, version) for role, version in roles.items() if version is not None]
    counts = Counter(version for _, version in named)
    for role, version in named:
        if counts[version] > 1 and role != "stable":
            others = [other for other, v in named if v == version and other != role]
            yield report.at(
                ("rollout", role), "RELC204", f"rollout.{role} and rollout.{others[0]} both name `{version}`; each role needs its own bundle"
            )


RELC205 = define(
    "RELC205",
    title="canary percentages decrease",
    fix="canary steps only grow; to go back, roll back",
)
RELC206 = define(
    "RELC206",
    title="current step out of range",
    meaning="`rollout.step` is past the last step (steps count from 1)",
    fix="set a step that exists",
)
RELC207 = define(
    "RELC207",
    title="rollout steps inconsistent with candidate",
    meaning="a candidate without steps, or a step without a candidate",
    fix="add steps, or remove the step",
)


def _rollout_steps(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    rollout = release.rollout
    if rollout.candidate is not None and not rollout.steps:
        yield report.at(
            ("rollout", "candidate"), "RELC207", "a candidate needs rollout.steps to say how it is rolled out, e.g. `- {canary: 10, hold: 30m}`"
        )
    if rollout.candidate is None and rollout.step is not None:
        yield report.at(("rollout", "step"), "RELC207", "rollout.step is set but there is no candidate; remove step or set a candidate")
    if rollout.step is not None and rollout.steps and rollout.step > len(rollout.steps):
        yield report.at(
            ("rollout", "step"), "RELC206", f"rollout.step is {rollout.step} but there are only {len(rollout.steps)} steps (counted from 1)"
        )
    for index, step in enumerate(rollout.steps):
        yield from _duration_in_range(report, ("rollout", "steps", index, "hold"), step.hold, 0, MAX_HOLD)
        if abs(step.percent * 100 - round(step.percent * 100)) > 1e-6:
            yield report.at(
                ("rollout", "steps", index, step.kind),
                "RELC105",
                f"{step.kind} percent {step.percent:g} has more than two decimals; gateways split traffic in 0.01% units",
            )
    last_canary: tuple[int, float] | None = None
    for index, step in enumerate(rollout.steps):
        if step.canary is None:
            continue
        if last_canary is not None and step.canary < last_canary[1]:
            yield report.at(
                ("rollout", "steps", index, "canary"),
                "RELC205",
                f"canary steps must not decrease: {step.canary:g}% after {last_canary[1]:g}% in steps[{last_canary[0]}]",
            )
        last_canary = (index, step.canary)


RELC108 = define(
    "RELC108",
    title="field not allowed for this provider",
    meaning="field not allowed for this provider (`weights_digest` on a hosted provider)",
    fix="remove it",
)


def _provider_fields(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    for index, bundle in enumerate(release.bundles):
        model, path = bundle.model, ("bundles", index, "model")
        if model.provider in SELF_HOSTED_PROVIDERS:
            for needed in ("api_base", "weights_digest"):
                if getattr(model, needed) is None:
                    yield report.at_key(
                        path, "RELC101", f"`{needed}` is required in {dotted(path)} for the self-hosted provider `{model.provider}`"
                    )
        elif model.weights_digest is not None:
            yield report.at(
                path + ("weights_digest",), "RELC108", f"weights_digest pins self-hosted weights; provider `{model.provider}` serves its own, remove it"
            )
        if model.provider == "azure" and model.api_base is None:
            yield report.at_key(path, "RELC101", f"`api_base` is required in {dotted(path)} for provider `azure`")
        yield from _duration_in_range(report, ("bundles", index, "serving", "timeout"), bundle.serving.timeout, 0.001, MAX_TIMEOUT)


MAX_TIMEOUT = 86400.0  # one day: longer is a hung request
MAX_WINDOW = MAX_HOLD = 90 * 86400.0


def _duration_in_range(report: _Reporter, path: FieldPath, text: str, low: float, high: float) -> Iterator[Diagnostic]:
    seconds = duration_seconds(text)
    if not low <= seconds <= high:
        yield report.at(
            path, "RELC105", f"{dotted(path)} is {text}; it must be between {_human(low)} and {_human(high)}"
        )


def _human(seconds: float) -> str:
    if seconds == 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def _threshold_problem(unit: str, mode: str | None, value: float) -> str | None:
    if mode == "ratio":
        return None if value > 0 else "a ratio to stable must be above 0"
    if mode == "difference":
        if unit in ("rate", "score") and not -1 <= value <= 1:
            return "a difference of fractions must be between -1 and 1"
        return None
    if unit in ("rate", "score") and not 0 <= value <= 1:
        return f"a {unit} is a fraction between 0 and 1 (write 2% as 0.02)"
    if unit == "seconds" and value <= 0:
        return "a latency in seconds must be above 0"
    if unit == "count" and value < 0:
        return "a count cannot be negative"
    return None


RELC208 = define(
    "RELC208",
    title="trigger threshold not sane for its metric",
    meaning="trigger threshold not sane for its metric (rates and scores in 0-1, latencies above 0, ratios above "
            "0)",
    fix="write 2% as `0.02`; latencies are seconds",
)
RELC211 = define(
    "RELC211",
    title="trigger threshold missing or doubled",
    meaning="a trigger has both or neither of `max` and `min`",
    fix="give exactly one threshold",
)
RELC212 = define(
    "RELC212",
    title="relative comparison options without relative_to_stable",
    meaning="`relative_mode` without `relative_to_stable: true`, or `statistical_test` without a relative "
            "`difference` comparison",
    fix="add `relative_to_stable: true` (difference mode for a statistical test), or remove the option",
)


def _triggers(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    for index, trigger in enumerate(release.triggers):
        path = ("triggers", index)
        if (trigger.max is None) == (trigger.min is None):
            which = "both" if trigger.max is not None else "neither"
            yield report.at(path, "RELC211", f"trigger `{trigger.name}` has {which} of `max` and `min`; give exactly one threshold")
        if trigger.statistical_test != "none" and (not trigger.relative_to_stable or trigger.relative_mode == "ratio"):
            yield report.at(
                path + ("statistical_test",), "RELC212",
                "statistical_test compares samples against stable: it needs `relative_to_stable: true` with the "
                "`difference` mode",
            )  # fmt: skip
        if trigger.relative_mode is not None and not trigger.relative_to_stable:
            yield report.at(
                path + ("relative_mode",), "RELC212", "relative_mode applies only with `relative_to_stable: true`"
            )
        mode = (trigger.relative_mode or "difference") if trigger.relative_to_stable else None
        unit = METRICS[trigger.metric].unit
        for bound in ("max", "min"):
            value = getattr(trigger, bound)
            problem = None if value is None else _threshold_problem(unit, mode, value)
            if problem:
                yield report.at(
                    path + (bound,), "RELC208", f"{bound}: {value:g} is not a sane threshold for {trigger.metric}: {problem}"
                )
        yield from _duration_in_range(report, path + ("window",), trigger.window, 1, MAX_WINDOW)


def _gateway_capabilities(release: Release, report: _Reporter) -> Iterator[Diagnostic]:
    """What a listed gateway cannot express is an error now, never a step dropped later."""
    from compiler.gateways import renderers

    available = renderers()
    for gateway in dict.fromkeys(release.route.gateways):
        for problem in available[gateway].unsupported(release):
            yield report.at(problem.path, problem.code, problem.message)


RULES: tuple[Rule, ...] = (
    _name_matches_file, _unique_lists, _rollout_references, _rollout_steps, _provider_fields, _triggers,
    _gateway_capabilities, registry_fields,
)  # fmt: skip


def _prompt_diagnostics(
    release: Release, report: _Reporter, root: Path, read: dict[str, bytes], statuses: dict[str, os.stat_result],
    analyses: "prompts.RememberedAnalyses | None",
) -> Iterator[Diagnostic]:
    """Template problems, placed in the template file where a line is known; `read` is
    given each template's bytes as they were checked, and `statuses` the file's status
    as it was read. A template that several bundles name is read once; with `analyses`,
    one analysed before (by its digest) is not parsed again."""
    for index, bundle in enumerate(release.bundles):
        ref, path = bundle.prompt, ("bundles", index, "prompt")
        where = f"{report.document.path} bundle `{bundle.version}`"
        raw: bytes | prompts.TemplateProblem
        if ref.template in read:
            raw = read[ref.template]
        else:
            raw, status = prompts.template_bytes_and_status(root, ref.template)
            if isinstance(raw, prompts.TemplateProblem):
                yield report.at(path + ("template",), raw.code, raw.message)
                continue
            read[ref.template] = raw
            if status is not None:
                statuses[ref.template] = status
            # Templates are copied verbatim into rendered/: a key in one would ship with it.
            yield from _secret_diagnostics(Path(ref.template).as_posix(), raw.decode("utf-8", errors="replace"))
        actual = prompts.sha256_hex(raw)
        if actual != ref.sha256:
            yield report.at(
                path + ("sha256",),
                "RELC303",
                f"`{ref.template}` has sha256 {actual}, but the bundle pins {ref.sha256}: for a new bundle set the pin "
                "to the file's digest; for a published one restore the file and publish the change as a new version",
            )
        analysis = analyses.analysis(raw) if analyses is not None else prompts.analyze_template(raw)
        for problem in (*analysis.problems, *prompts.check_variables(analysis, ref.variables)):
            template_path = Path(ref.template).as_posix()
            column = prompts.problem_column(raw, problem)
            yield Diagnostic(template_path, problem.line or 1, column, problem.code, f"{problem.message} (used by {where})")


def _secret_diagnostics(display_path: str, text: str) -> list[Diagnostic]:
    return _secret_findings_diagnostics(display_path, find_secrets(text))


def _secret_findings_diagnostics(display_path: str, findings: list[SecretFinding]) -> list[Diagnostic]:
    """RELC401 with the kind and a preview that shows no secret character."""
    return [
        Diagnostic(
            display_path,
            finding.line,
            finding.column,
            "RELC401",
            f"this looks like a literal {finding.label} ({finding.preview}); remove it from the file (and rotate it: "
            "Git keeps history) and name the environment variable that holds it in model.api_key_env",
        )
        for finding in findings
    ]


def _value_secret_diagnostics(document: LoadedDocument) -> list[Diagnostic]:
    """Secrets that YAML escapes or folding hide from the raw text, at their value."""

    def place(path: FieldPath, is_key: bool) -> tuple[int, int]:
        return document.key_position_of(path) if is_key else document.position_of(path)

    return _secret_findings_diagnostics(document.path, find_secrets_in_values(document.data, document.text, place))


@dataclass
class FileCheck:
    """What checking one file found: the document and release as far as they were
    made (None where loading or the schema failed), and every diagnostic."""

    document: LoadedDocument | None
    release: Release | None
    diagnostics: list[Diagnostic]
    # Each template's bytes as read and checked: rendering copies these, never a second read.
    templates: dict[str, bytes] = field(default_factory=dict)
    # Each of those templates' status, taken as it was read: the cache stamps the entry with it.
    template_statuses: dict[str, os.stat_result] = field(default_factory=dict)


def check_release_bytes(
    raw: bytes, display_path: str, root: Path, limits: LoadLimits = LoadLimits(),
    analyses: "prompts.RememberedAnalyses | None" = None,
) -> FileCheck:
    """Every check that needs only this file (and its templates); `analyses` remembers
    template analyses across runs."""
    secrets = _secret_diagnostics(display_path, raw.decode("utf-8", errors="replace")) if len(raw) <= limits.max_bytes else []
    document, diagnostics = load_bytes(raw, display_path, limits)
    if document is None:
        return FileCheck(None, None, sorted(set(diagnostics + secrets)))
    secrets += _value_secret_diagnostics(document)
    release, diagnostics = build_release(document)
    if release is None:
        return FileCheck(document, None, sorted(set(diagnostics + secrets)))
    report = _Reporter(document)
    for rule in RULES:
        diagnostics.extend(rule(release, report))
    templates: dict[str, bytes] = {}
    statuses: dict[str, os.stat_result] = {}
    diagnostics.extend(_prompt_diagnostics(release, report, root, templates, statuses, analyses))
    return FileCheck(document, release, sorted(set(diagnostics + secrets)), templates, statuses)
