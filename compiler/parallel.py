"""Spread independent per-release work over the machine's cores.

Checking and rendering a release that the cache does not hold is CPU-bound work on one
file, so a cold build of a large repository runs it in forked worker processes. Fork
keeps that cheap: a worker inherits relc's imported modules and built models, and
receives only file paths. It is used only where it is safe: on a platform that has it,
in a process running no other thread (a fork copies the locks other threads hold).
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Iterable, Iterator, TypeVar

from compiler.errors import UsageError

JOBS_VARIABLE = "RELC_JOBS"
MAX_JOBS = 64
# More processes than this rarely pays: the parent assembles and writes every file alone.
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
    """Whether worker processes may be forked from this one now."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def map_in_workers(function: Callable[[Item], Result], items: Iterable[Item], jobs: int, chunk: int) -> Iterator[Result]:
    """`map(function, items)` in `jobs` forked processes, results in the items' order.

    `function` must be a module-level function (it is sent by name). An exception in a
    worker is raised here; leaving the loop early stops the workers."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(function, items, chunk)
