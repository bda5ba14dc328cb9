"""The MLflow server fixture: one real server for the module's tests (it takes seconds to start)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.registry.mlflow_server import MlflowServer, mlflow_binary
from tests.support import missing_tool


def require_mlflow() -> str:
    binary = mlflow_binary()
    if binary is None:
        missing_tool("the MLflow server is not installed: tests/mlflow/install (run by scripts/test) puts it in .venv-mlflow/",
                     required=bool(os.environ.get("RELC_REQUIRE_MLFLOW")))  # fmt: skip
    return binary


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(require_mlflow(), Path(tmp_path_factory.mktemp("mlflow")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
