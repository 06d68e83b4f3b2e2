"""Events of the store: ``add_event`` and ``list_events``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common_rows import EVENT_COLS, event_row, fetch_run, insert_event
from .engine import Core
from .models import Event


class EventTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def add_event(self, run_id: str, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            return insert_event(tx, self._core.clock(), run_id, kind, payload or {})

    def list_events(
        self, run_id: str, *, after_seq: int = 0, limit: int = 500, kind: str | None = None
    ) -> list[Event]:
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            sql = f"SELECT {EVENT_COLS} FROM events WHERE run_id = ? AND seq > ?"
            args: list[Any] = [run_id, after_seq]
            if kind is not None:
                sql += " AND kind = ?"
                args.append(kind)
            rows = conn.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit]).fetchall()
        return [event_row(r) for r in rows]
