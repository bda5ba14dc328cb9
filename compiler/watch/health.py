"""The watcher's own health: counters, `/healthz` and Prometheus `/metrics`, JSON logs.

An on-call engineer asks three things of a watcher: is it alive (`/healthz` fails when
no tick finished lately), what did it decide and do (`relc_watch_*` counters), and when
(one JSON line per event on stdout, for any log pipeline).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


@dataclass
class WatchHealth:
    """Everything `/metrics` exports; the loop updates it, the HTTP thread reads it."""

    interval: float
    ticks: int = 0
    evaluation_errors: int = 0
    last_tick_end: float | None = None
    last_successful_evaluation: float | None = None
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)
    pushes: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    flip_seconds: list[float] = field(default_factory=list)
    drift: dict[str, str] = field(default_factory=dict)
    registry_sync_failures: int = 0
    registry_pending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def healthy(self, now: float) -> bool:
        """Alive when a tick ended within three intervals (and 30 s), or none was due yet."""
        allowance = max(3 * self.interval, 30.0)
        return self.last_tick_end is None or now - self.last_tick_end <= allowance

    def exposition(self) -> str:
        """The Prometheus text format."""
        with self.lock:
            lines = [
                *_metric("relc_watch_ticks_total", "counter", "Ticks completed.", [("", self.ticks)]),
                *_metric("relc_watch_decisions_total", "counter", "Decisions made, by release and kind.",
                         [(f'{{release="{r}",decision="{d}"}}', n) for (r, d), n in sorted(self.decisions.items())]),
                *_metric("relc_watch_evaluation_errors_total", "counter",
                         "Metric queries that failed (the release held).", [("", self.evaluation_errors)]),
                *_metric("relc_watch_last_successful_evaluation_timestamp_seconds", "gauge",
                         "When every metric query of a tick last succeeded.", [("", self.last_successful_evaluation or 0)]),
                *_metric("relc_watch_pushes_total", "counter", "Pushes of rollback or promote commits, by outcome.",
                         [(f'{{outcome="{o}"}}', n) for o, n in sorted(self.pushes.items())]),
                *_metric("relc_watch_deliveries_total", "counter", "Commits delivered to the deploy folder.",
                         [("", self.deliveries)]),
                *_metric("relc_watch_decision_to_flip_seconds", "summary",
                         "Seconds from a rollback decision to the gateway's files flipped.",
                         [("_sum", sum(self.flip_seconds)), ("_count", len(self.flip_seconds))]),
                *_metric("relc_watch_drift", "gauge", "1 while a rollback is in force locally but not on the remote.",
                         [(f'{{release="{r}"}}', 1) for r in sorted(self.drift)]),
                *_metric("relc_watch_registry_sync_failures_total", "counter",
                         "Registry syncs (aliases after a commit) that failed; each is retried next tick.",
                         [("", self.registry_sync_failures)]),
                *_metric("relc_watch_registry_sync_pending", "gauge",
                         "1 while the registry's aliases lag the checked-out commit.", [("", int(self.registry_pending))]),
            ]  # fmt: skip
        return "\n".join(lines) + "\n"


def _metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{suffix} {float(value)!r}" for suffix, value in samples]
    return lines


def serve_health(health: WatchHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Serve `/healthz` and `/metrics` from a daemon thread; the caller shuts it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path == "/metrics":
                self._answer(200, health.exposition(), "text/plain; version=0.0.4")
            elif self.path == "/healthz":
                ok = health.healthy(time.time())
                self._answer(200 if ok else 503, "ok\n" if ok else "no tick finished lately\n", "text/plain")
            else:
                self._answer(404, "not found: /healthz or /metrics\n", "text/plain")

        def _answer(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every second would drown the event log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="relc-watch-health", daemon=True).start()
    return server


class EventLog:
    """One JSON object per line: `time`, `event`, and the event's fields."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: str, **fields: Any) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        record = {"time": stamp, "event": event, **fields}
        self.stream.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        self.stream.flush()
