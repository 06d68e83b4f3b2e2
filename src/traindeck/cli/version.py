"""``traindeck version``."""

from __future__ import annotations

import platform
import sqlite3

from traindeck._version import __version__

from .output import console


def version() -> None:
    """Print traindeck's version (and Python's and SQLite's)."""
    console().print(
        f"traindeck {__version__} (Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version})",
        highlight=False,
    )
