"""The base of the store's row mixins (checkpoints, tokens, console lines, media).

Each mixin keeps one table's methods in its own module; they all rely on the same few
``SQLiteStore`` primitives, declared here once for the type checker.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Run
    from .sqlite import Tx


class StoreRows:
    """What a row mixin may call on the store it is mixed into."""

    if TYPE_CHECKING:
        clock: Any

        def write(self) -> AbstractContextManager[Tx]: ...
        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _reader(self) -> sqlite3.Connection: ...
        def _get_run(self, conn: sqlite3.Connection, run_id: str) -> Run: ...
        def _event(self, tx: Tx, run_id: str, kind: str, payload: Mapping[str, Any]) -> int: ...
