"""The PostgreSQL engine: the ``Store`` in a PostgreSQL database (DESIGN §9).

The tables' methods are ``TableStore``'s (``tables.py``) over a :class:`~.pg_core.PGCore`,
each guarded so that PostgreSQL's failures that may pass (the server away, a connection
lost, the pool exhausted) leave as ``Unavailable`` and bad input (text with a NUL byte, a
number out of range) as ``InvalidInput``. Run folders live under ``files_root`` (a shared
folder when several servers serve one store), never in the database.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import psycopg

from .engine import Clock
from .errors import InvalidInput, Unavailable
from .pg_core import PGCore, first_line
from .pg_run_table import PGRunTable
from .protocol import Store
from .tables import TableStore

P = ParamSpec("P")
R = TypeVar("R")


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with psycopg's failures raised as store errors."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except psycopg.OperationalError as exc:
            raise Unavailable("the store is unavailable right now "
                              f"({first_line(exc)}); try again later") from exc
        except psycopg.DataError as exc:
            raise InvalidInput(f"the store refused a value: {first_line(exc)}") from exc

    return guarded


class PostgresStore(TableStore):
    """traindeck's store in PostgreSQL (``url``: ``postgresql://…[?schema=name]``), run
    folders under ``files_root``. Thread-safe; one instance per process is enough."""

    def __init__(self, url: str, files_root: str | Path, *, clock: Clock = time.time) -> None:
        #: The connections and transactions (for PostgreSQL-only tests and tools).
        self.core = core = PGCore(url, clock=clock)
        self._files_root = Path(files_root)  # made when a run's files are written
        super().__init__(core, guard, PGRunTable(core))

    def __repr__(self) -> str:
        return f"PostgresStore({self.core.location!r})"

    @property
    def files_root(self) -> Path:
        return self._files_root

    @property
    def location(self) -> str:
        return self.core.location

    def is_engine_file(self, path: str | Path) -> bool:
        return False  # the database's files are the PostgreSQL server's, elsewhere

    def engine_version(self) -> str:
        return f"PostgreSQL {guard(self.core.server_version)()}"


def _conforms(store: PostgresStore) -> Store:
    """Checked by mypy: ``PostgresStore`` implements the ``Store`` protocol."""
    return store
