"""``traindeck version``: traindeck's and Python's versions, and the store's engine.

The engine's version is the opened store's (``Store.engine_version()``): what the data in
``--dir`` is really kept with. Without a store there nothing is created; the line says so.
"""

from __future__ import annotations

import platform

from traindeck._version import __version__
from traindeck.store import StoreError, db_path, is_postgres, redact

from .output import cli_errors, console
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_workspace


def store_line(where: str, store_url: str | None = None) -> str:
    """``store: <location> (<engine and version>)``, or why there is none."""
    if store_url and is_postgres(store_url):
        shown = redact(store_url)
    else:
        path = db_path(store_url or where)
        if not path.exists():
            return f"store: none at {path} (pass --dir or set TRAINDECK_DIR)"
        shown = str(path)
    try:
        with open_workspace(where, store_url) as store:
            return f"store: {store.location} ({store.engine_version()})"
    except StoreError as exc:
        return f"store: {shown} (cannot open it: {exc})"


@cli_errors
def version(dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Print traindeck's version and Python's, and the store's engine and its version."""
    out = console()
    out.print(f"traindeck {__version__} (Python {platform.python_version()})",
              highlight=False)
    out.print(store_line(dir, store_url), highlight=False, soft_wrap=True)
