"""``traindeck version``: traindeck's and Python's versions, and the store's engine.

The engine's version is the opened store's (``Store.engine_version()``): what the data in
``--dir`` is really kept with. Without a store there nothing is created; the line says so.
"""

from __future__ import annotations

import platform

from traindeck._version import __version__
from traindeck.store import StoreError, db_path, open_store

from .output import cli_errors, console
from .workspace import DEFAULT_DIR, DirOption


def store_line(where: str) -> str:
    """``store: <location> (<engine and version>)``, or why there is none."""
    path = db_path(where)
    if not path.exists():
        return f"store: none at {path} (pass --dir or set TRAINDECK_DIR)"
    try:
        with open_store(where) as store:
            return f"store: {store.location} ({store.engine_version()})"
    except StoreError as exc:
        return f"store: {path} (cannot open it: {exc})"


@cli_errors
def version(dir: DirOption = DEFAULT_DIR) -> None:
    """Print traindeck's version and Python's, and the store's engine (SQLite 3.x)."""
    out = console()
    out.print(f"traindeck {__version__} (Python {platform.python_version()})",
              highlight=False)
    out.print(store_line(dir), highlight=False, soft_wrap=True)
