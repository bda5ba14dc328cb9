"""`relc init`: a valid release and its prompt template, pinned, to start from."""

from __future__ import annotations

from pathlib import Path

from compiler import history
from compiler.errors import RelcError

TEMPLATE = """You are the {name} assistant. Answer the question clearly and briefly.

Question: {{{{ question }}}}
"""

RELEASE = """# yaml-language-server: $schema=../schemas/release.schema.json
# Made by `relc init {name}`: edit the model, then `relc pin {name}` after changing the
# prompt, `relc validate` and `relc build`, and commit releases/, prompts/ and rendered/.
apiVersion: relc/v1
kind: Release
name: {name}
owners: ["@your-team"]
route:
  model: {name}            # the model name clients call
  gateways: [litellm]

bundles:
  - version: v1
    model: {{provider: openai, name: gpt-4o-mini-2024-07-18, api_key_env: OPENAI_API_KEY}}
    prompt:
      template: {template}
      sha256: {sha256}
      variables: [question]
    tokenizer: {{name: o200k_base, revision: tiktoken-0.8.0}}
    serving: {{temperature: 0.2, max_tokens: 512, timeout: 30s, retries: 1}}

rollout:
  stable: v1
  steps:                   # used when a candidate bundle is rolled out
    - {{canary: 5, hold: 1h}}
    - {{canary: 25, hold: 2h}}
    - {{canary: 100, hold: 1h}}

triggers:
  - {{name: error-rate, metric: error_rate, max: 0.02, window: 10m, min_samples: 200, action: rollback}}
"""


def init_release(root: Path, name: str) -> list[Path]:
    """Write releases/NAME.yaml and prompts/NAME/v1.j2; refuse when either, or the
    release as `releases/NAME.yml`, is there."""
    from compiler.emit import write_atomically
    from compiler.prompts import sha256_hex

    release_path = root / history.release_path(name)
    template = f"prompts/{name}/v1.j2"
    kept = root / history.release_file(root, name)  # a `NAME.yml` is the release too
    existing = [str(p.relative_to(root)) for p in (kept, root / template) if p.exists()]
    if existing:
        raise RelcError(f"{', '.join(existing)} already exist(s); relc init never overwrites: pick another name")
    template_text = TEMPLATE.format(name=name).encode("utf-8")
    write_atomically(root / template, template_text)
    release = RELEASE.format(name=name, template=template, sha256=sha256_hex(template_text))
    write_atomically(release_path, release.encode("utf-8"))
    return [root / template, release_path]
