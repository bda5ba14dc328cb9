"""Bundle manifests: what serving apps read to know each live bundle exactly.

One JSON file per release with every live bundle resolved: its role and share of
traffic, its content digest, the prompt template's text and every parameter, so an
app never needs the release file or the template path to behave as the bundle says.
Each bundle also names the span attributes (Phoenix) and trace tags (Langfuse) the app
sets on every request it serves, so quality monitors can tell the bundles apart and `relc evaluate` can read them.
"""

from __future__ import annotations

from typing import Any

from compiler.digest import bundle_content
from compiler.metrics.quality import span_attributes, trace_tags
from compiler.traffic import TrafficState


def bundle_manifest(state: TrafficState, template_texts: dict[str, str]) -> dict[str, Any]:
    bundles = []
    for live in state.live:
        content = bundle_content(live.bundle)
        content["prompt"]["text"] = template_texts[live.bundle.prompt.template]
        bundles.append(
            {
                "version": live.version,
                "role": live.role,
                "digest": live.digest,
                "served_percent": live.served_percent,
                "mirrored_percent": live.mirror_percent,
                **content,
                "telemetry": {
                    "span_attributes": span_attributes(state.release, live.version),
                    "trace_tags": trace_tags(state.release, live.version),
                },
            }
        )
    step = None
    if state.step is not None:
        step = {"number": state.step_number, "of": state.step_count, "kind": state.step.kind,
                "percent": state.step.percent, "hold": state.step.hold}  # fmt: skip
    return {
        "release": state.release,
        "model": state.public_model,
        "step": step,
        "bundles": bundles,
        "fallbacks": {version: list(chain) for version, chain in state.fallbacks},
    }
