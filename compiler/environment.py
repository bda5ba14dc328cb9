"""Settings relc makes in its own environment, kept out of the commands it runs for users.

A pydantic plugin installed beside relc would see every release it reads, and finding
plugins scans every installed distribution at start-up, so relc runs none. The operator's
own commands (`relc watch --after-delivery`) get the environment relc was started with.
"""

from __future__ import annotations

import os

PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
_SET_BY_RELC: set[str] = set()


def run_no_pydantic_plugins() -> None:
    """Turn pydantic's plugins off for this process, unless the user chose otherwise."""
    if PYDANTIC_PLUGINS not in os.environ:
        os.environ[PYDANTIC_PLUGINS] = "__all__"
        _SET_BY_RELC.add(PYDANTIC_PLUGINS)


def users_environment() -> dict[str, str]:
    """This process's environment without what relc set for itself."""
    return {name: value for name, value in os.environ.items() if name not in _SET_BY_RELC}
