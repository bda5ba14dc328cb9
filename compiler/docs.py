"""docs/diagnostics.md, generated from the diagnostics registry: run `python -m compiler.docs`.

Each code's words live beside its rule (`compiler.diagnostics.define`) and each
section's prose in `compiler.diagnostics.SECTIONS`; this module only lays them out, so
the page cannot fall behind the code. A test fails when the committed page is stale.
This is a tool for relc's own repository, not a `relc` command: users' repositories
have no docs/ of relc's.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from compiler.diagnostics import SECTIONS, Code, Section, registered_codes, section_of
from compiler.errors import EXIT_OK, EXIT_PROBLEMS
from compiler.reporter import Reporter

DIAGNOSTICS_PAGE = Path("docs") / "diagnostics.md"
REGENERATE = "python -m compiler.docs"
STALE_MESSAGE = f"{DIAGNOSTICS_PAGE.as_posix()} is stale: run `{REGENERATE}` and commit it"
WIDTH = 92

_PAGE_INTRO = """\
# Diagnostics

Every problem `relc` finds is one line: `FILE:LINE:COL: SEVERITY CODE: MESSAGE`. Codes are
stable: match on them in scripts, never on the message. `--format json` gives the same
fields as objects; `--format github` gives workflow annotations that show on PR lines.
A message never contains a secret: anything that looks like a credential is replaced by
`[REDACTED]`.
"""


def _allowed_constructs() -> str:
    """The prompt sandbox's allowlists, as the sandbox holds them."""
    from compiler.prompts import ALLOWED_FILTERS, ALLOWED_METHODS

    text = f"Allowed filters: {', '.join(sorted(ALLOWED_FILTERS))}. Allowed methods: {', '.join(sorted(ALLOWED_METHODS))}."
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


# Paragraphs the code owns rather than the page, after a section's table, by its hundred.
_GENERATED_TRAILERS = {3: _allowed_constructs}


def _section_text(section: Section, codes: list[Code]) -> str:
    lines = [f"## {section.title}"]
    if section.intro:
        lines.append(section.intro)
    lines += ["", "| code | meaning | fix |", "|---|---|---|"]
    lines += [f"| {code.code} | {code.meaning} | {code.fix} |" for code in codes]
    generated = _GENERATED_TRAILERS.get(section.hundred)
    if generated is not None:
        lines += ["", generated()]
    if section.trailing:
        lines += ["", section.trailing]
    return "\n".join(lines) + "\n"


def diagnostics_page() -> str:
    """The whole page: the same registry always gives the same bytes."""
    codes = list(registered_codes().values())
    sections = [_section_text(section, [code for code in codes if section_of(code.code) == section]) for section in SECTIONS]
    return "\n".join([_PAGE_INTRO, *sections])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=f"Write {DIAGNOSTICS_PAGE} from the diagnostics registry.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed page is stale; write nothing")
    mode.add_argument("--stdout", action="store_true", help="print the page instead of writing it")
    arguments = parser.parse_args(argv)
    reporter = Reporter()
    if arguments.check:
        if page_is_stale(Path(".")):
            reporter.note(STALE_MESSAGE)
            return EXIT_PROBLEMS
        return EXIT_OK
    if arguments.stdout:
        reporter.out.write(diagnostics_page())
        return EXIT_OK
    from compiler.emit import write_atomically

    write_atomically(DIAGNOSTICS_PAGE, diagnostics_page().encode("utf-8"))
    reporter.note(f"wrote {DIAGNOSTICS_PAGE.as_posix()}")
    return EXIT_OK


def page_is_stale(root: Path) -> bool:
    """True when `root`'s docs/diagnostics.md is missing or not what the registry gives."""
    target = root / DIAGNOSTICS_PAGE
    return not target.is_file() or target.read_text(encoding="utf-8") != diagnostics_page()


if __name__ == "__main__":
    raise SystemExit(main())
