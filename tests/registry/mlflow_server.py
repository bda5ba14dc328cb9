"""A real MLflow tracking server on 127.0.0.1 (SQLite backend), and the REST calls tests use
to set up its registry the way a training pipeline would. Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.support import free_port

START_SECONDS = 120  # the first start migrates a new SQLite database: about 20 s on 2 cores


def mlflow_binary() -> str | None:
    """The server tests/mlflow/install puts in .venv-mlflow/, or $RELC_MLFLOW_BINARY."""
    candidate = os.environ.get("RELC_MLFLOW_BINARY") or str(REPO / ".venv-mlflow" / "bin" / "mlflow")
    return candidate if os.access(candidate, os.X_OK) else None


class MlflowServer:
    """`mlflow server` as its own process group; `stop()` ends it, `start()` runs it again on
    the same port and database (the registry coming back after an outage)."""

    def __init__(self, binary: str, work: Path, port: int | None = None) -> None:
        self.binary = binary
        self.work = work
        self.database = work / "mlflow.db"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = work / "mlflow-server.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "server", "--backend-store-uri", f"sqlite:///{self.database}",
             "--default-artifact-root", str(self.work / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.work,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mlflow server exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"mlflow server did not answer /health in {START_SECONDS} s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        deadline = time.monotonic() + 15  # workers in the group may outlive the parent briefly
        while time.monotonic() < deadline and _answers(self.url):
            time.sleep(0.2)

    # The registry, as a pipeline fills it.

    def call(self, method: str, endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/api/2.0/mlflow/{endpoint}"
        data = None
        if method == "GET":
            url += "?" + urllib.parse.urlencode(fields)
        else:
            data = json.dumps(fields).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def register(self, model: str, source: str, tags: dict[str, str] | None = None) -> tuple[str, str]:
        """A run and a new version of `model` from it: (version, run_id)."""
        try:
            self.call("POST", "registered-models/create", {"name": model})
        except urllib.error.HTTPError as error:
            if error.code != 400:  # RESOURCE_ALREADY_EXISTS
                raise
        run_id = self.call("POST", "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        version = self.call("POST", "model-versions/create", {
            "name": model, "source": source, "run_id": run_id,
            "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
        })["model_version"]["version"]  # fmt: skip
        return version, run_id

    def version(self, model: str, version: str) -> dict[str, Any]:
        return self.call("GET", "model-versions/get", {"name": model, "version": version})["model_version"]

    def aliases(self, model: str) -> dict[str, str]:
        found = self.call("GET", "registered-models/get", {"name": model})["registered_model"].get("aliases") or []
        return {item["alias"]: item["version"] for item in found}

    def archive(self, model: str, version: str) -> None:
        self.call("POST", "model-versions/transition-stage",
                  {"name": model, "version": version, "stage": "Archived", "archive_existing_versions": False})  # fmt: skip

    def delete_version(self, model: str, version: str) -> None:
        self.call("DELETE", "model-versions/delete", {"name": model, "version": version})

    def set_in_database(self, model: str, version: str, column: str, value: str) -> None:
        """Change a version behind the API's back, as an operator with database access can."""
        assert column in ("source", "status")
        with sqlite3.connect(self.database) as connection:
            changed = connection.execute(
                f"UPDATE model_versions SET {column} = ? WHERE name = ? AND version = ?", (value, model, int(version))
            ).rowcount
        assert changed == 1


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False
