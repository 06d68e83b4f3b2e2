"""``traindeck version``."""

from __future__ import annotations

import platform

from traindeck._version import __version__
from traindeck.store import engine_version

from .output import console


def version() -> None:
    """Print traindeck's version (and Python's and SQLite's)."""
    console().print(
        f"traindeck {__version__} (Python {platform.python_version()}, "
        f"{engine_version()})",
        highlight=False,
    )
