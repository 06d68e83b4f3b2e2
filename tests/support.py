"""Small helpers every test tier uses (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

import importlib
import os
import socket
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.03) -> Any:
    """Poll ``cond`` until it returns something truthy (returned) or ``timeout`` passes.

    The deadline only bounds a failing test; nothing here asserts how long things take.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def missing(what: str) -> NoReturn:
    """Skip for a missing real component, or fail when ``TRAINDECK_REQUIRE_ALL=1`` (CI)."""
    if os.environ.get("TRAINDECK_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is missing; TRAINDECK_REQUIRE_ALL=1 requires it", pytrace=False)
    pytest.skip(f"{what} is missing")


def require_module(name: str) -> ModuleType:
    """Import ``name``, or skip/fail as :func:`missing` says."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name!r}")
