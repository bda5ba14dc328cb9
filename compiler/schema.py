"""The published JSON Schema of release files, generated from the spec models.

Editors use it (through the `yaml-language-server: $schema=` comment) to complete and
check release files; a test keeps the committed copy equal to what this produces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.cache import ReleaseCache

SCHEMA_PATH = Path("schemas") / "release.schema.json"
SCHEMA_ID = "https://relc.dev/schemas/release.schema.json"


def release_schema() -> dict:
    from compiler.spec import Release

    schema = Release.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def schema_text() -> str:
    """The schema as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(release_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(root: Path) -> Path:
    """Write the schemas (releases, relc.yaml) with atomic replaces; the release schema's path."""
    from compiler.emit import write_atomically
    from compiler.files import refuse_folder_outside

    refuse_folder_outside(root / SCHEMA_PATH.parent, root)
    target = root / SCHEMA_PATH
    write_atomically(target, schema_text().encode("utf-8"))
    write_atomically(root / CONFIG_SCHEMA_PATH, config_schema_text().encode("utf-8"))
    return target


CONFIG_SCHEMA_PATH = Path("schemas") / "relc-config.schema.json"


def schema_is_stale(root: Path, cache: "ReleaseCache | None" = None) -> bool:
    """A repository that keeps the published schema (for editors) must keep it current;
    one that keeps none has nothing stale. With `cache`, the generated texts come from
    it (they change only with relc's code), which spares building the models' schemas."""
    return stale_schema(root, cache) is not None


def stale_schema(root: Path, cache: "ReleaseCache | None" = None) -> tuple[str, str] | None:
    """The committed schema that is not what relc generates, and a sentence that says so
    and how to fix it; None when both are current (or the repository keeps none)."""
    from compiler.cache import remembered_text
    from compiler.files import FileReadError, read_input_file

    if not (root / SCHEMA_PATH).exists():
        return None
    for path, name, generate in (
        (SCHEMA_PATH, "release.schema.json", schema_text), (CONFIG_SCHEMA_PATH, "relc-config.schema.json", config_schema_text)
    ):  # fmt: skip
        target, shown = root / path, path.as_posix()
        if path == CONFIG_SCHEMA_PATH and not target.exists():
            continue
        expected = remembered_text(cache, name, generate)
        try:
            # Committed files come from pull requests: no link out, no device. Twice the
            # generated size leaves room for CRLF line ends, which a checkout may give it.
            committed = read_input_file(target, 2 * len(expected.encode("utf-8")), follow_links=True, inside=root)
        except FileReadError as error:
            if error.too_large:
                return shown, f"{shown} is stale: run `relc schema` and commit it"
            return shown, f"{shown} {error}: run `relc schema` (it writes the schema in its place) and commit it"
        if _text(committed) != expected:
            return shown, f"{shown} is stale: run `relc schema` and commit it"
    return None


def _text(raw: bytes) -> str:
    """As `Path.read_text` reads it: any line end is a newline."""
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


CONFIG_SCHEMA_ID = "https://relc.dev/schemas/relc-config.schema.json"


def config_schema_text() -> str:
    """The schema of `relc.yaml`, from its models, as committed."""
    from compiler.config import RepositoryConfig

    schema = RepositoryConfig.model_json_schema(by_alias=True, mode="validation")
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CONFIG_SCHEMA_ID, **schema}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
