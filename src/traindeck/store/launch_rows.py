"""Launch rows of the SQLite store: what the launcher started, how to find it again, and
how it ended. The launcher owns the logic (queue, retries, exits); this module stores it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .codec import dumps_str, loads
from .engine import Core
from .errors import InvalidInput, NotFound
from .ids import new_id
from .models import LAUNCH_STATUSES, Launch

_COLS: Final = ("id, run_id, status, spec, executor, executor_state, pid, exit_code, restarts, "
                "error, created_at, started_at, ended_at, updated_at")
#: Fields ``update_launch`` may set (``state`` is the ``executor_state`` column).
LAUNCH_FIELDS: Final = frozenset(
    {"status", "spec", "state", "pid", "exit_code", "restarts", "error", "started_at",
     "ended_at", "run_id"})
_JSON: Final = {"spec": "spec", "state": "executor_state"}


def _launch(r: Sequence[Any]) -> Launch:
    return Launch(id=r[0], run_id=r[1], status=r[2], spec=loads(r[3], {}), executor=r[4],
                  state=loads(r[5], {}), pid=r[6], exit_code=r[7], restarts=r[8], error=r[9],
                  created_at=r[10], started_at=r[11], ended_at=r[12], updated_at=r[13])


def _check_status(status: str) -> None:
    if status not in LAUNCH_STATUSES:
        raise InvalidInput(f"unknown launch status {status!r}; one of "
                           f"{', '.join(LAUNCH_STATUSES)}")


class LaunchTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_launch(self, *, run_id: str | None, spec: Mapping[str, Any],
                      executor: str = "local", status: str = "queued",
                      id: str | None = None) -> Launch:
        _check_status(status)
        now = self._core.clock()
        launch_id = id or new_id(now)
        with self._core.write() as tx:
            row = tx.execute(
                "INSERT INTO launches (id, run_id, spec, executor, executor_state, status, "
                f"created_at, updated_at) VALUES (?,?,?,?,'{{}}',?,?,?) RETURNING {_COLS}",
                (launch_id, run_id, dumps_str(dict(spec)), executor, status, now, now),
            ).fetchone()
        return _launch(row)

    def get_launch(self, launch_id: str) -> Launch:
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM launches WHERE id = ?", (launch_id,)).fetchone()
        if row is None:
            raise NotFound(f"no launch {launch_id!r}")
        return _launch(row)

    def list_launches(self, *, run_id: str | None = None,
                      status: str | Sequence[str] | None = None,
                      limit: int = 1000) -> list[Launch]:
        """Launches matching the filters, oldest first (the queue's order)."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                _check_status(s)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._core.reader().execute(
            f"SELECT {_COLS} FROM launches{clause} ORDER BY created_at, id LIMIT ?",
            (*args, limit)).fetchall()
        return [_launch(r) for r in rows]

    def update_launch(self, launch_id: str, **fields: Any) -> Launch:
        unknown = set(fields) - LAUNCH_FIELDS
        if unknown:
            raise InvalidInput(f"cannot update launch fields {sorted(unknown)}")
        if "status" in fields:
            _check_status(fields["status"])
        cols = [_JSON.get(k, k) for k in fields]
        values = [dumps_str(dict(v)) if k in _JSON else v for k, v in fields.items()]
        sets = "".join(f"{c} = ?, " for c in cols)
        with self._core.write() as tx:
            row = tx.execute(
                f"UPDATE launches SET {sets}updated_at = ? WHERE id = ? RETURNING {_COLS}",
                (*values, self._core.clock(), launch_id)).fetchone()
            if row is None:
                raise NotFound(f"no launch {launch_id!r}")
        return _launch(row)
