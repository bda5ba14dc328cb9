"""`compiler.edit` directly: a rollout edit changes the edited lines and nothing else,
in whatever layout the file was written, and the result is still a valid release."""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from compiler.edit import edit_document, edit_rollout
from compiler.validate import validate_release_bytes
from tests.conftest import CASES
from tests.support import release_text

PATH = "releases/chat.yaml"


def _valid(content: bytes) -> Any:
    checked, diagnostics = validate_release_bytes(content, PATH, CASES)
    assert checked is not None, [str(d) for d in diagnostics]
    return checked.release


def _changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines a reviewer sees in the diff, `-`/`+` marked."""
    diff = difflib.ndiff(before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True))
    return [line for line in diff if line[:1] in "+-"]


# A release as a person writes it: comments, quoting, flow and block styles, a blank line.
COMMENTED = release_text("chat", ["v1", "v2", "v3"], stable="v1").replace(
    "apiVersion: relc/v1\n", "# Chat assistant release.\napiVersion: relc/v1  # the schema\n"
).replace(
    "rollout:\n  stable: v1\n", "\nrollout:\n  # who serves now\n  stable: 'v1'   # pinned\n"
).encode()


def test_inserting_candidate_and_step_changes_only_those_lines() -> None:
    after = edit_rollout(COMMENTED, {"candidate": "v2", "step": 1})
    assert _changed_lines(COMMENTED, after) == ["+   candidate: v2\n", "+   step: 1\n"]
    text = after.decode()
    assert "  stable: 'v1'   # pinned\n  candidate: v2\n  step: 1\n  steps:\n" in text
    assert text.startswith("# Chat assistant release.\napiVersion: relc/v1  # the schema\n")
    release = _valid(after)
    assert (release.rollout.stable, release.rollout.candidate, release.rollout.step) == ("v1", "v2", 1)


def test_keys_are_inserted_in_the_conventional_order_whatever_the_edit_order() -> None:
    after = edit_rollout(COMMENTED, {"step": 2, "previous": "v3", "candidate": "v2"}).decode()
    rollout = after[after.index("rollout:") :]
    keys = [line.split(":")[0].strip() for line in rollout.splitlines()[1:] if line.startswith("  ") and not line.startswith(("  #", "    "))]
    assert keys == ["stable", "candidate", "previous", "step", "steps"]
    _valid(after.encode())


def test_insert_before_steps_when_steps_come_first() -> None:
    text = b"rollout:\n  steps:\n  - {canary: 10, hold: 1h}\n  stable: v1\n"
    # steps ranks after every role, so a new role goes before it; stable stays where the author put it
    assert edit_rollout(text, {"candidate": "v2"}) == b"rollout:\n  candidate: v2\n  steps:\n  - {canary: 10, hold: 1h}\n  stable: v1\n"


def test_an_unknown_key_is_appended_at_the_end() -> None:
    text = b"rollout:\n  stable: v1\n  steps: []\n"
    assert edit_rollout(text, {"note": "x"}) == b"rollout:\n  stable: v1\n  steps: []\n  note: x\n"


def test_setting_an_existing_key_keeps_its_place_and_comment() -> None:
    before = edit_rollout(COMMENTED, {"candidate": "v2", "step": 1}).replace(b"step: 1\n", b"step: 1  # canary 10%\n")
    after = edit_rollout(before, {"step": 2})
    assert _changed_lines(before, after) == ["-   step: 1  # canary 10%\n", "+   step: 2  # canary 10%\n"]


def test_removing_keys_removes_their_lines_only() -> None:
    rolled = edit_rollout(COMMENTED, {"candidate": "v2", "step": 2, "previous": "v3"})
    after = edit_rollout(rolled, {"candidate": None, "step": None, "previous": None, "absent": None})
    assert after == COMMENTED
    release = _valid(after)
    assert release.rollout.candidate is None and release.rollout.current_step is None


def test_promotion_swaps_roles_keeping_the_quoting_of_each_value() -> None:
    text = release_text("chat", ["v1", "v2", "v3"], stable="v1", candidate="v2", step=2).replace(
        "stable: v1", 'stable: "v1"'
    ).encode()
    after = edit_rollout(text, {"stable": "v2", "previous": "v1", "candidate": None, "step": None})
    assert _changed_lines(text, after) == [
        '-   stable: "v1"\n',
        '+   stable: "v2"\n',
        "+   previous: v1\n",
        "-   candidate: v2\n",
        "-   step: 2\n",
    ]
    release = _valid(after)
    assert (release.rollout.stable, release.rollout.previous, release.rollout.candidate) == ("v2", "v1", None)


# Each layout people write, with a rollout whose steps are block sequences.
LAYOUTS = {
    "two, dashes indented": "rollout:\n  stable: v1\n  steps:\n    - canary: 10\n      hold: 1h\n",
    "two, dashes flush": "rollout:\n  stable: v1\n  steps:\n  - canary: 10\n    hold: 1h\n",
    "four, dashes indented": "rollout:\n    stable: v1\n    steps:\n      - canary: 10\n        hold: 1h\n",
    "four, dashes at four": "rollout:\n    stable: v1\n    steps:\n        - canary: 10\n          hold: 1h\n",
    "four, dashes flush": "rollout:\n    stable: v1\n    steps:\n    -   canary: 10\n        hold: 1h\n",
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_the_document_indentation_style_is_kept(name: str) -> None:
    before = LAYOUTS[name].encode()
    after = edit_rollout(before, {"candidate": "v2", "step": 1})
    indent = LAYOUTS[name].splitlines()[1][: -len("stable: v1")]
    assert _changed_lines(before, after) == [f"+ {indent}candidate: v2\n", f"+ {indent}step: 1\n"]


def test_a_document_end_marker_is_kept() -> None:
    before = COMMENTED + b"...\n"
    after = edit_rollout(before, {"candidate": "v2"})
    assert after.endswith(b"    - {canary: 50, hold: 1h}\n...\n")
    assert _changed_lines(before, after) == ["+   candidate: v2\n"]


def test_a_document_start_marker_is_kept() -> None:
    before = b"---\n" + COMMENTED
    after = edit_rollout(before, {"candidate": "v2"})
    assert _changed_lines(before, after) == ["+   candidate: v2\n"]
    _valid(after)


def test_a_crlf_file_stays_crlf() -> None:
    before = COMMENTED.replace(b"\n", b"\r\n")
    after = edit_rollout(before, {"candidate": "v2", "step": 1})
    assert after == edit_rollout(COMMENTED, {"candidate": "v2", "step": 1}).replace(b"\n", b"\r\n")
    assert b"\n" not in after.replace(b"\r\n", b"")
    assert _valid(after).rollout.candidate == "v2"


def test_a_byte_order_mark_is_kept() -> None:
    before = b"\xef\xbb\xbf" + COMMENTED
    after = edit_rollout(before, {"candidate": "v2"})
    assert after == b"\xef\xbb\xbf" + edit_rollout(COMMENTED, {"candidate": "v2"})


def test_no_edit_reproduces_the_file_byte_for_byte() -> None:
    for text in [COMMENTED, COMMENTED + b"...\n", b"---\n" + COMMENTED, COMMENTED.replace(b"\n", b"\r\n"), *(t.encode() for t in LAYOUTS.values())]:
        assert edit_document(text, lambda data: None) == text


def test_edit_document_applies_the_callback_to_the_round_trip_data() -> None:
    seen: list[Any] = []

    def change(data: Any) -> None:
        seen.append(list(data.keys()))
        data["bundles"][1]["serving"]["temperature"] = 0.7
        data["owners"].append("oncall")

    after = edit_document(COMMENTED, change)
    assert seen == [["apiVersion", "kind", "name", "owners", "route", "bundles", "rollout"]]
    assert _changed_lines(COMMENTED, after) == [
        "- owners: [tests]\n",
        "+ owners: [tests, oncall]\n",
        "-     serving: {temperature: 0.2, max_tokens: 64, timeout: 10s}\n",
        "+     serving: {temperature: 0.7, max_tokens: 64, timeout: 10s}\n",
    ]
    release = _valid(after)
    assert release.owners == ["tests", "oncall"]
    assert release.bundles[1].serving.temperature == 0.7
    assert release.bundles[0].serving.temperature == 0.2


def test_edit_document_of_an_unusual_layout_still_gives_a_valid_edit() -> None:
    # `route` indented by five, the rest by two: no one style reproduces it, so it is normalised.
    text = release_text("chat", ["v1", "v2"], stable="v1")
    before = text.replace("route:\n  model: chat\n  gateways: [litellm]\n", "route:\n     model: chat\n     gateways: [litellm]\n").encode()
    assert before != text.encode() and _valid(before).rollout.stable == "v1"
    after = edit_rollout(before, {"candidate": "v2", "step": 2})
    assert after == edit_rollout(text.encode(), {"candidate": "v2", "step": 2})
    release = _valid(after)
    assert (release.rollout.candidate, release.rollout.step) == ("v2", 2)
