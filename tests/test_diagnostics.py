"""The diagnostics registry: each code defined once, beside its rule, in a module its
section names; `import compiler.diagnostics` imports no rule, and a miss finds any code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compiler import diagnostics
from compiler.diagnostics import SECTIONS, Diagnostic, define, registered_codes, section_of
from tests.conftest import CASES, REPO


def _python(program: str, *arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`program` in a fresh interpreter, where only what it imports is imported."""
    command = [sys.executable, "-c", program, *arguments]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})


def test_each_code_is_defined_in_a_module_its_section_names() -> None:
    """A miss imports only the section's modules: a code defined elsewhere would be refused
    in a process that had not imported its module (a diagnostic restored from the cache)."""
    from importlib import import_module

    for code in registered_codes().values():
        section = section_of(code.code)
        assert section is not None
        owners = [name for name in section.modules if getattr(import_module(name), code.code, None) is code]
        assert owners, f"{code.code} is not defined as a constant in any of {section.modules}"


def test_importing_the_diagnostics_imports_no_rule_but_a_miss_finds_any_code() -> None:
    modules = {name for section in SECTIONS for name in section.modules}
    program = (
        "import sys\n"
        "from compiler.diagnostics import Diagnostic\n"
        f"print(sorted(set(sys.modules) & {modules!r}))\n"
        "print(Diagnostic('a.yaml', 1, 1, 'RELC703', 'm').code, 'compiler.gate' in sys.modules, 'compiler.model' in sys.modules)\n"
    )
    result = _python(program)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "RELC703 True False"]


@pytest.mark.parametrize("code", ["RELC299", "RELC999", "RELC2011", "relc201", "E501"])
def test_a_diagnostic_refuses_a_code_nobody_defined(code: str) -> None:
    with pytest.raises(ValueError, match="unregistered diagnostic code"):
        Diagnostic("a.yaml", 1, 1, code, "message")


def test_a_code_is_defined_once_and_inside_a_section() -> None:
    first = registered_codes()["RELC201"]
    assert define("RELC201", title=first.title, meaning=first.meaning, fix=first.fix) == first  # a module imported again
    with pytest.raises(ValueError, match="defined twice"):
        define("RELC201", title="another problem", fix="another fix")
    with pytest.raises(ValueError, match="not a code of any section"):
        define("RELC999", title="no section", fix="none")
    assert "RELC999" not in registered_codes() and diagnostics.lookup("RELC999") is None


def test_a_cached_diagnostic_is_restored_in_a_process_that_never_ran_its_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm run makes RELC205 from the cache entry alone: nothing is parsed again, and
    compiler.rules, which defines it (and imports pydantic), is not even imported."""
    from compiler.cache import ReleaseCache, open_cache
    from compiler.reporter import format_text
    from compiler.validate import validate_paths

    monkeypatch.chdir(CASES)
    case = Path("invalid") / "canary-decreasing.yaml"
    cold = validate_paths([case], Path("."), cache=ReleaseCache(tmp_path, open_cache(Path(".")).salt))
    assert " RELC205: " in format_text(cold.diagnostics)
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "import compiler.load\n"
        "from compiler.cache import ReleaseCache, open_cache\n"
        "from compiler.reporter import format_text\n"
        "from compiler.validate import validate_paths\n"
        "def refuse(*arguments):\n"
        "    raise AssertionError('a cached release was parsed again')\n"
        "compiler.load.load_bytes = refuse\n"
        "assert 'compiler.rules' not in sys.modules\n"
        "cache = ReleaseCache(Path(sys.argv[1]), open_cache(Path('.')).salt)\n"
        "sys.stdout.write(format_text(validate_paths([Path(sys.argv[2])], Path('.'), cache=cache).diagnostics))\n"
        "assert 'compiler.rules' not in sys.modules, 'a restored diagnostic imported its rule'\n"
    )
    warm = _python(program, str(tmp_path), case.as_posix(), cwd=CASES)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == format_text(cold.diagnostics)
