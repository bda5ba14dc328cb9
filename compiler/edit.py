"""Edit a release file in place (its rollout, its pins), keeping comments, quoting and layout.

Promotion changes a few rollout fields; people review that commit, so the diff must
show those fields and nothing else. ruamel.yaml's round-trip mode keeps comments and
styles; the indentation is read from the file itself.
"""

from __future__ import annotations

import io
from typing import Any, Callable


# (mapping, sequence, offset) indentations in common use; the first that reproduces the
# file unchanged is the file's own style.
_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0), (3, 5, 2))


def _yaml(style: tuple[int, int, int]) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    yaml.indent(mapping=style[0], sequence=style[1], offset=style[2])
    return yaml


def _dump(yaml: Any, data: Any, keep_document_end: bool) -> str:
    output = io.StringIO()
    yaml.dump(data, output)
    return output.getvalue() + ("...\n" if keep_document_end else "")


def edit_rollout(content: bytes, changes: dict[str, Any]) -> bytes:
    """The file with `rollout.<key>` set to each value (None removes the key)."""

    def change(data: Any) -> None:
        rollout = data["rollout"]
        for key, value in changes.items():
            if value is None:
                rollout.pop(key, None)
            elif key in rollout:
                rollout[key] = value
            else:
                rollout.insert(_insert_position(rollout, key), key, value)

    return edit_document(content, change)


def edit_document(content: bytes, change: Callable[[Any], None]) -> bytes:
    """The file after `change` edited its round-trip data, in the file's own layout."""
    text = content.decode("utf-8")
    # ruamel.yaml writes LF, no byte order mark and no `---`: keep the file's own, so the diff
    # shows the edited fields only.
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    newline = "\r\n" if "\r\n" in text else "\n"
    text = text.removeprefix(bom).replace("\r\n", "\n")
    keep_end = text.rstrip().endswith("\n...")
    yaml, data = _yaml(_STYLES[0]), None
    for style in _STYLES:
        candidate = _yaml(style)
        candidate.explicit_start = text.startswith("---")
        loaded = candidate.load(text)
        if _dump(candidate, loaded, keep_end) == text:
            yaml, data = candidate, loaded
            break
    if data is None:
        yaml.explicit_start = text.startswith("---")
        data = yaml.load(text)  # no style reproduces the file: the edit normalises its layout
    change(data)
    return (bom + _dump(yaml, data, keep_end).replace("\n", newline)).encode("utf-8")


_ORDER = ("stable", "candidate", "previous", "step", "steps")


def _insert_position(rollout: Any, key: str) -> int:
    """Keep the conventional order stable, candidate, previous, step, steps."""
    rank = _ORDER.index(key) if key in _ORDER else len(_ORDER)
    keys = list(rollout.keys())
    for position, existing in enumerate(keys):
        if existing in _ORDER and _ORDER.index(existing) > rank:
            return position
    return len(keys)
