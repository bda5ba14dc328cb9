"""Progress bars for long runs, on a terminal only.

A bar goes to stderr when it is a terminal and the run is not in CI (`CI` unset, or
`false`/`0`), so piped output and CI logs stay clean. tqdm is imported only when a bar
is shown: short runs and scripts pay nothing for it.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

# Fewer items than this finish before a bar would be worth drawing.
MIN_ITEMS = 200


def wanted() -> bool:
    """A person is watching: stderr is a terminal, not a dumb one, and this is not CI."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(total: int, label: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A function that advances a bar by n items; it does nothing when no bar is shown."""
    if total < MIN_ITEMS or not wanted():
        yield lambda n: None
        return
    from tqdm import tqdm

    # tqdm's monitor thread would outlive the bar, and a process running another thread
    # forks no workers (parallel.can_fork): the rest of the run would use one core.
    tqdm.monitor_interval = 0
    try:
        columns, rows = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        columns = rows = 0
    # leave=False: the bar is erased when done, so the command's own output reads as before.
    # A terminal that reports no size (a bare pseudo-terminal) gets 80x24, not a hidden bar.
    with tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=False, ncols=columns or 80, nrows=rows or 24) as bar:
        yield bar.update
