"""Content digests of bundles: what makes two bundle versions the same or different.

The digest covers everything that decides behaviour (model, prompt pin, retrieval,
tokenizer, serving) and nothing that does not (the description), in a canonical JSON
form, so it is stable across machines, key order and formatting of the YAML.
"""

from __future__ import annotations

import hashlib
import json

from compiler.spec import Bundle

DIGEST_SCHEME = "relc-bundle/v1"


def bundle_content(bundle: Bundle) -> dict:
    """The fields that decide a bundle's behaviour, as plain data with defaults filled in."""
    return bundle.model_dump(mode="json", by_alias=True, exclude={"description"}, exclude_none=True)


def bundle_digest(bundle: Bundle) -> str:
    canonical = json.dumps(
        {"scheme": DIGEST_SCHEME, "bundle": bundle_content(bundle)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
