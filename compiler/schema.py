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

    target = root / SCHEMA_PATH
    write_atomically(target, schema_text().encode("utf-8"))
    write_atomically(root / CONFIG_SCHEMA_PATH, config_schema_text().encode("utf-8"))
    return target


CONFIG_SCHEMA_PATH = Path("schemas") / "relc-config.schema.json"


def schema_is_stale(root: Path, cache: "ReleaseCache | None" = None) -> bool:
    """A repository that keeps the published schema (for editors) must keep it current;
    one that keeps none has nothing stale. With `cache`, the generated texts come from
    it (they change only with relc's code), which spares building the models' schemas."""
    from compiler.cache import remembered_text

    target = root / SCHEMA_PATH
    if not target.exists():
        return False
    config = root / CONFIG_SCHEMA_PATH
    stale_config = config.exists() and config.read_text(encoding="utf-8") != remembered_text(
        cache, "relc-config.schema.json", config_schema_text
    )
    return target.read_text(encoding="utf-8") != remembered_text(cache, "release.schema.json", schema_text) or stale_config


CONFIG_SCHEMA_ID = "https://relc.dev/schemas/relc-config.schema.json"


def config_schema_text() -> str:
    """The schema of `relc.yaml`, from its models, as committed."""
    from compiler.config import RepositoryConfig

    schema = RepositoryConfig.model_json_schema(by_alias=True, mode="validation")
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CONFIG_SCHEMA_ID, **schema}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
