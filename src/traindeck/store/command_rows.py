"""Commands of the store: the dashboard asks, the run's script takes and answers.

The moves a command may make are ``lifecycle``'s; this module only stores them, each with
a ``command`` event so that live clients hear of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .codec import dumps_str, loads
from .common_rows import fetch_run, insert_event
from .engine import Conn, Core, WriteTx
from .errors import Conflict, NotFound
from .ids import new_id
from .lifecycle import check_command_name, check_command_transition, command_time_column
from .models import LIVE_STATUSES, Command

CMD_COLS: Final = (
    "id, run_id, name, args, status, created_at, delivered_at, finished_at, result, error, "
    "requested_by, seq"
)


def command_row(row: Sequence[Any]) -> Command:
    return Command(
        id=row[0], run_id=row[1], name=row[2], args=loads(row[3], {}), status=row[4],
        created_at=row[5], delivered_at=row[6], finished_at=row[7], result=loads(row[8]),
        error=row[9], requested_by=row[10], seq=row[11],
    )


def _fetch(conn: Conn, cmd_id: str) -> Command:
    row = conn.execute(f"SELECT {CMD_COLS} FROM commands WHERE id = ?", (cmd_id,)).fetchone()
    if row is None:
        raise NotFound(f"no command {cmd_id!r}")
    return command_row(row)


def transition(tx: WriteTx, now: float, cmd_id: str, status: str, result: Any = None,
               error: str | None = None) -> Command:
    """Move a command to ``status`` inside the caller's transaction (with its event)."""
    cmd = _fetch(tx.conn, cmd_id)
    check_command_transition(cmd_id, cmd.status, status)
    tx.execute(
        f"UPDATE commands SET status = ?, {command_time_column(status)} = ?, result = ?, "
        "error = ?, seq = ? WHERE id = ?",
        (status, now, None if result is None else dumps_str(result), error, tx.seq, cmd_id),
    )
    payload: dict[str, Any] = {"id": cmd_id, "name": cmd.name, "status": status}
    if result is not None:
        payload["result"] = result
    if error is not None:
        payload["error"] = error
    insert_event(tx, now, cmd.run_id, "command", payload)
    return _fetch(tx.conn, cmd_id)


def expire_commands(tx: WriteTx, now: float, run_id: str, why: str) -> None:
    """Expire the run's open commands (the run ended) inside the caller's transaction."""
    for (cmd_id,) in tx.execute(
        "SELECT id FROM commands WHERE run_id = ? AND status IN ('pending', 'delivered')",
        (run_id,),
    ).fetchall():
        transition(tx, now, cmd_id, "expired", error=why)


class CommandTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_command(
        self,
        run_id: str,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        requested_by: str | None = None,
    ) -> Command:
        check_command_name(name)
        clock = self._core.clock
        with self._core.write() as tx:
            run = fetch_run(tx.conn, run_id)
            if run.status not in LIVE_STATUSES:
                raise Conflict(f"run {run_id!r} is {run.status}; commands reach live runs only")
            cmd_id = new_id(clock())
            tx.execute(
                f"INSERT INTO commands ({CMD_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (cmd_id, run_id, name, dumps_str(dict(args or {})), "pending", clock(),
                 None, None, None, None, requested_by, tx.seq),
            )
            insert_event(tx, clock(), run_id, "command",
                         {"id": cmd_id, "name": name, "status": "pending"})
            return _fetch(tx.conn, cmd_id)

    def get_command(self, cmd_id: str) -> Command:
        return _fetch(self._core.reader(), cmd_id)

    def list_commands(
        self, run_id: str, *, status: str | None = None, limit: int = 200
    ) -> list[Command]:
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            sql = f"SELECT {CMD_COLS} FROM commands WHERE run_id = ?"
            args: list[Any] = [run_id]
            if status is not None:
                sql += " AND status = ?"
                args.append(status)
            rows = conn.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?",
                                [*args, limit]).fetchall()
        return [command_row(r) for r in rows]

    def has_pending_commands(self, run_id: str) -> bool:
        """Cheap check for the SDK's poll loop (an index lookup, no write)."""
        return self._core.reader().execute(
            "SELECT 1 FROM commands WHERE run_id = ? AND status = 'pending' LIMIT 1", (run_id,)
        ).fetchone() is not None

    def take_pending_commands(self, run_id: str) -> list[Command]:
        """Mark the run's pending commands delivered and return them, oldest first."""
        if not self.has_pending_commands(run_id):
            return []
        with self._core.write() as tx:
            ids = [r[0] for r in tx.execute(
                "SELECT id FROM commands WHERE run_id = ? AND status = 'pending' "
                "ORDER BY created_at, id", (run_id,))]
            for cmd_id in ids:
                transition(tx, self._core.clock(), cmd_id, "delivered")
            return [_fetch(tx.conn, i) for i in ids]

    def finish_command(
        self, cmd_id: str, *, ok: bool, result: Any = None, error: str | None = None
    ) -> Command:
        with self._core.write() as tx:
            return transition(tx, self._core.clock(), cmd_id, "done" if ok else "failed",
                              result, error)
