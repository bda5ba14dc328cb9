"""`relc init` scaffolds a valid, pinned release; `relc pin` fills pins in the file's own layout."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_relc


def test_init_writes_a_valid_pinned_release_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "releases").mkdir()
    result = run_relc("init", "my-bot", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 release(s) valid" in result.stderr
    assert run_relc("build", cwd=tmp_path).returncode == 0
    again = run_relc("init", "my-bot", cwd=tmp_path)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    (tmp_path / "releases" / "my-bot.yaml").rename(tmp_path / "releases" / "my-bot.yml")
    (tmp_path / "prompts" / "my-bot" / "v1.j2").unlink()
    kept_as_yml = run_relc("init", "my-bot", cwd=tmp_path)
    assert kept_as_yml.returncode == 1 and "releases/my-bot.yml already exist" in kept_as_yml.stderr, kept_as_yml.stderr


def test_pin_sets_the_template_digest_and_keeps_comments_and_layout(tmp_path: Path) -> None:
    (tmp_path / "releases").mkdir()
    assert run_relc("init", "my-bot", cwd=tmp_path).returncode == 0
    release = tmp_path / "releases" / "my-bot.yaml"
    before = release.read_text()
    with open(tmp_path / "prompts" / "my-bot" / "v1.j2", "a") as template:
        template.write("Be kind.\n")
    assert run_relc("validate", cwd=tmp_path).returncode == 1  # RELC303: the pin is stale
    dry = run_relc("pin", "my-bot", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "bundle v1: prompt prompts/my-bot/v1.j2 sha256" in dry.stdout
    assert release.read_text() == before
    assert run_relc("pin", "releases/my-bot.yaml", cwd=tmp_path).returncode == 0
    after = release.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and "sha256:" in changed[0][1], "only the pin's line changes; comments stay"
    assert run_relc("validate", cwd=tmp_path).returncode == 0
    assert "every pin is current" in run_relc("pin", "my-bot", cwd=tmp_path).stderr
