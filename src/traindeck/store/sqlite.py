"""The SQLite engine: the ``Store`` on one file.

The tables' methods are ``TableStore``'s (``tables.py``) over a
:class:`~.sqlite_core.SQLiteCore` (connections and transactions), each guarded so that
SQLite's "try again later" failures leave as :class:`~.errors.Unavailable`. Logic that is
not SQL (status moves, chunk encoding, batch checking and applying) lives in
engine-neutral modules.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .engine import Clock
from .protocol import Store
from .run_table_rows import RunTableQueries
from .sqlite_core import BUSY_TIMEOUT_MS, SQLiteCore, engine_version, guard
from .tables import TableStore

#: The files SQLite keeps beside the database (WAL mode, or a rollback journal).
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class SQLiteStore(TableStore):
    """traindeck's store on one SQLite file. Thread-safe; one instance per process is enough.

    ``clock`` is injected so that tests can move time (heartbeat timeouts) without sleeping;
    ``busy_timeout`` (seconds) is how long a write waits for another process's lock before
    the store reports ``Unavailable``; run folders go under ``files_root`` (default: the
    file's folder).
    """

    def __init__(self, path: str | Path, *, clock: Clock = time.time,
                 busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
                 files_root: str | Path | None = None) -> None:
        #: The connections and transactions (for SQLite-only tests and tools).
        self.core = core = SQLiteCore(path, clock=clock, busy_timeout=busy_timeout)
        self.path = core.path
        self._files_root = self.path.parent if files_root is None else Path(files_root)
        super().__init__(core, guard, RunTableQueries(core))

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @property
    def files_root(self) -> Path:
        return self._files_root

    @property
    def location(self) -> str:
        return str(self.path)

    def is_engine_file(self, path: str | Path) -> bool:
        real = os.path.realpath(path)
        db = os.path.realpath(self.path)
        return any(real == db + suffix for suffix in _SIDE_FILES) or real.startswith(
            db + ".lead-")  # the leader's lock files (``lead``)

    def engine_version(self) -> str:
        return engine_version()


def _conforms(store: SQLiteStore) -> Store:
    """Checked by mypy: ``SQLiteStore`` implements the ``Store`` protocol."""
    return store
