"""The registry parts that need no server: which alias goes where, the digest, the URI
rules, and the refusals that come before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import UsageError
from compiler.registry import RegistryReference, RegistryUnreachable, open_registry, registry_digest
from compiler.registry.sync import wanted_aliases
from compiler.spec import Release
from tests.conftest import run_relc
from tests.registry.support import registry_release
from tests.support import Repository, free_port


def _release(text: str) -> Release:
    from compiler.load import load_bytes
    from compiler.model import build_release

    document, diagnostics = load_bytes(text.encode(), "releases/chat.yaml")
    assert document is not None, diagnostics
    release, diagnostics = build_release(document)
    assert release is not None, diagnostics
    return release


def test_each_role_gets_its_alias_and_an_empty_role_none() -> None:
    refs = {"v1": ("chat", "3"), "v2": ("chat", "5"), "v3": ("chat", "8")}
    in_rollout = _release(registry_release("chat", refs, stable="v2", candidate="v3", step=1, previous="v1"))
    assert wanted_aliases(in_rollout) == {"chat": {"champion": "5", "challenger": "8", "previous": "3"}}
    steady = _release(registry_release("chat", refs, stable="v2"))
    assert wanted_aliases(steady) == {"chat": {"champion": "5", "challenger": None, "previous": None}}


def test_a_role_on_another_registered_model_leaves_no_alias_behind() -> None:
    moved = _release(registry_release("chat", {"v1": ("chat-old", "9"), "v2": ("chat-new", "1")},
                                      stable="v2", previous="v1"))  # fmt: skip
    assert wanted_aliases(moved) == {
        "chat-new": {"champion": "1", "challenger": None, "previous": None},
        "chat-old": {"champion": None, "challenger": None, "previous": "9"},
    }


def test_the_digest_covers_source_and_run() -> None:
    assert registry_digest("s3://m/1", "run-a") == registry_digest("s3://m/1", "run-a")
    assert registry_digest("s3://m/1", "run-a") != registry_digest("s3://m/2", "run-a")
    assert registry_digest("s3://m/1", "run-a") != registry_digest("s3://m/1", "run-b")
    assert registry_digest("s3://m/1", "").startswith("sha256:")


@pytest.mark.parametrize("uri", ["ftp://registry:21", "wandb://team/project", "databricks", "http://"])
def test_a_registry_that_is_not_an_mlflow_url_is_a_usage_error(uri: str) -> None:
    with pytest.raises(UsageError, match="not supported yet|not a valid URL|http"):
        open_registry(uri)


def test_the_printed_location_never_holds_the_user_part() -> None:
    registry = open_registry("mlflow+https://bot:hunter2@mlflow.example.com:8443/base/?token=x")
    assert registry.location == "https://mlflow.example.com:8443/base"


def test_a_registry_that_does_not_answer_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryUnreachable, match="did not answer"):
        open_registry(f"http://127.0.0.1:{free_port()}", timeout=2).resolve(RegistryReference("mlflow", "m", "1"))
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", {"v1": ("chat", "1")}, stable="v1"))
    result = run_relc("validate", "--registry", f"http://127.0.0.1:{free_port()}", cwd=repository.root)
    assert result.returncode == 1 and "did not answer" in result.stderr and "Traceback" not in result.stderr


def test_sync_registry_without_a_registry_refuses_before_committing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELC_MLFLOW_URI", raising=False)
    refs = {"v1": ("chat", "1"), "v2": ("chat", "2")}
    repository = Repository(tmp_path / "repo")
    repository.write("chat", registry_release("chat", refs, stable="v1"))
    repository.commit("Publish chat v2")
    repository.write("chat", registry_release("chat", refs, stable="v1", candidate="v2", step=1))
    head = repository.commit("Start rollout of chat v2")
    for command in (("rollback", "chat", "--sync-registry"), ("promote", "chat", "--force", "--sync-registry"),
                    ("sync-registry", "chat")):  # fmt: skip
        result = run_relc(*command, cwd=repository.root)
        assert result.returncode == 2 and "--registry URI or $RELC_MLFLOW_URI" in result.stderr, result.stderr
    assert repository.head() == head


def test_a_registry_that_echoes_the_token_never_gets_it_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from compiler.registry import RegistryError
    from tests.support import LocalServer

    token = "mlflow-secret-token-123"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    body = json.dumps({"error_code": "UNAUTHENTICATED", "message": f"token {token} was refused"}).encode()
    server = LocalServer(lambda method, request: (401, "application/json", body))
    try:
        with pytest.raises(RegistryError) as raised:
            open_registry(f"http://127.0.0.1:{server.port}").resolve(RegistryReference("mlflow", "m", "1"))
    finally:
        server.close()
    message = str(raised.value)
    assert "HTTP 401 UNAUTHENTICATED" in message and "MLFLOW_TRACKING_TOKEN" in message
    assert token not in message and "[REDACTED]" in message


def test_a_version_written_as_a_number_or_a_string_is_the_same_bundle() -> None:
    from compiler.digest import bundle_digest

    as_number = _release(registry_release("chat", {"v1": ("chat", "7")}, stable="v1"))
    as_string = _release(registry_release("chat", {"v1": ("chat", '"7"')}, stable="v1"))
    assert bundle_digest(as_number.bundles[0]) == bundle_digest(as_string.bundles[0])
