"""The one safe input reader: named pipes, devices and folders are refused at once, never read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.files import FileReadError, read_input_file
from tests.conftest import run_relc


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"x: 1\n")
    assert read_input_file(tmp_path / "a.yaml", 100) == b"x: 1\n"


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(FileReadError, match="named pipe"):
        read_input_file(tmp_path / "pipe", 100)


def test_a_device_and_a_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileReadError, match="device"):
        read_input_file(Path("/dev/zero"), 100, follow_links=True)
    with pytest.raises(FileReadError, match="folder|cannot be read"):
        read_input_file(tmp_path, 100)


def test_a_link_is_refused_unless_links_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"ok")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(FileReadError, match="symbolic link"):
        read_input_file(tmp_path / "link", 100)
    assert read_input_file(tmp_path / "link", 100, follow_links=True) == b"ok"


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(FileReadError) as raised:
        read_input_file(tmp_path / "big", 100)
    assert raised.value.too_large


def test_a_release_named_on_the_command_line_that_is_a_pipe_is_an_error(example_repo: Path) -> None:
    os.mkfifo(example_repo / "releases" / "pipe.yaml")
    result = run_relc("validate", "releases/pipe.yaml", cwd=example_repo)
    assert result.returncode == 1
    assert result.stdout.startswith("releases/pipe.yaml:1:1: error RELC001: the file is not a regular file (a named pipe)")


def test_a_template_that_is_a_pipe_is_an_error_for_validate_and_build(example_repo: Path) -> None:
    release = example_repo / "releases" / "code-review.yaml"
    template = next(line.split(":", 1)[1].strip() for line in release.read_text().splitlines() if "template:" in line)
    (example_repo / template).unlink()
    os.mkfifo(example_repo / template)
    for command in ("validate", "build"):
        result = run_relc(command, cwd=example_repo)
        assert result.returncode == 1, result.stderr
        assert f"error RELC302: template `{template}` is not a regular file (a named pipe)" in result.stdout
    assert not (example_repo / "rendered").exists()


def test_a_metrics_snapshot_that_is_a_pipe_is_an_error(example_repo: Path) -> None:
    os.mkfifo(example_repo / "metrics.json")
    result = run_relc("evaluate", "support-chat", "--metrics", "metrics.json", cwd=example_repo)
    assert result.returncode == 1
    assert "metrics.json: it is not a regular file (a named pipe)" in result.stderr


def _repository_with_an_outside_secret(tmp_path: Path) -> tuple[Path, Path]:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("hunter2-outside-value\n")
    repository = tmp_path / "repo"
    repository.mkdir()
    return repository, secret


def test_inside_follows_a_link_that_stays_in_the_repository_and_refuses_one_that_leaves(tmp_path: Path) -> None:
    repository, secret = _repository_with_an_outside_secret(tmp_path)
    (repository / "real.txt").write_bytes(b"ok")
    (repository / "near").symlink_to("real.txt")
    (repository / "far").symlink_to(secret)
    assert read_input_file(repository / "near", 100, follow_links=True, inside=repository) == b"ok"
    with pytest.raises(FileReadError, match="resolves outside the repository through a symbolic link") as raised:
        read_input_file(repository / "far", 100, follow_links=True, inside=repository)
    assert raised.value.outside and "hunter2" not in str(raised.value)


def test_inside_refuses_a_folder_linked_out_of_the_repository_even_when_links_are_not_followed(tmp_path: Path) -> None:
    repository, secret = _repository_with_an_outside_secret(tmp_path)
    (repository / "prompts").symlink_to(secret.parent)
    with pytest.raises(FileReadError, match="resolves outside the repository") as raised:
        read_input_file(repository / "prompts" / "secret.txt", 100, inside=repository)
    assert raised.value.outside
    # A file the person names outside the repository is theirs to read: no link is involved.
    assert read_input_file(secret, 100, inside=repository) == b"hunter2-outside-value\n"
