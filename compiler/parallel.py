"""Spread independent per-release work over the machine's cores.

Checking and rendering a release that the cache does not hold is CPU-bound work on one
file, so a cold build of a large repository runs it in forked worker processes. Fork
keeps that cheap: a worker inherits relc's imported modules and built models, and
receives only file paths. It is used only where it is safe: on a platform that has it,
in a process running no other thread (a fork copies the locks other threads hold).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from compiler.errors import UsageError

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

JOBS_VARIABLE = "RELC_JOBS"
MAX_JOBS = 64
# More processes than this rarely pays: the parent stages every file and assembles the gateways' alone.
DEFAULT_MAX_JOBS = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_jobs() -> int:
    """How many worker processes to use: `$RELC_JOBS` when set (1 turns workers off),
    else the cores this process may run on, at most DEFAULT_MAX_JOBS."""
    text = os.environ.get(JOBS_VARIABLE, "").strip()
    if text:
        if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
            raise UsageError(f"{JOBS_VARIABLE} must be a whole number of processes from 1 to {MAX_JOBS}, got {text!r}")
        return int(text)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_MAX_JOBS))


def can_fork() -> bool:
    """Whether worker processes may be forked from this one now (asked without importing
    multiprocessing: a warm run that sends no task never needs it)."""
    running = sys.modules.get("threading")  # not imported: no thread was started from Python
    return hasattr(os, "fork") and sys.platform != "win32" and (running is None or running.active_count() == 1)


class Workers:
    """Forked worker processes, started when the first task is sent: a run that sends
    none forks nothing. Leaving the `with` block stops them."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: Any = None

    def send(self, function: Callable[[Item], Result], argument: Item) -> "AsyncResult[Result]":
        """Run `function(argument)` in a worker; `.get()` on the answer gives its result or
        raises its exception. `function` must be a module-level function (sent by name)."""
        if self._pool is None:
            import multiprocessing

            self._pool = multiprocessing.get_context("fork").Pool(self.jobs)
        return self._pool.apply_async(function, (argument,))

    @property
    def started(self) -> bool:
        """Whether the workers were forked already: more tasks fork nothing more (the
        pool's own threads, running since, must not stop them being used)."""
        return self._pool is not None

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exception: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


def worked_out_ahead(
    pool: Workers, function: Callable[[list[Item]], list[Result]], items: list[Item], batch: int
) -> list[Result] | None:
    """`function` over `items`, a batch a task, in the worker processes, answers in order;
    None when there are too few to share (under two batches) or workers cannot be forked
    now: the caller then works each out itself, when it needs it."""
    if pool.jobs <= 1 or len(items) < 2 * batch or not (pool.started or can_fork()):
        return None
    answers = [pool.send(function, items[start : start + batch]) for start in range(0, len(items), batch)]
    return [result for answer in answers for result in answer.get()]
