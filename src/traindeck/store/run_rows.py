"""Runs of the store: create, read, list, update, status, heartbeat, reap, delete.

Which status may follow which, and what a move sets, is ``lifecycle``'s; this module stores
it, with a ``status_change`` event for every move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from . import chunk_rows
from .codec import dumps_str, loads
from .command_rows import expire_commands
from .common_rows import RUN_COLS, fetch_run, insert_event, run_row
from .engine import Core, WriteTx
from .errors import Conflict, InvalidInput, NotFound
from .ids import is_valid_id, new_id
from .lifecycle import (
    HEARTBEAT_LOST,
    JSON_RUN_FIELDS,
    check_fields,
    check_status,
    expires_commands,
    new_run_fields,
    revived_status,
    status_fields,
)
from .models import Run
from .packing import PCODEC, Packer
from .project_rows import register_project

RUN_SORT_KEYS: Final = ("created_at", "name", "status", "project", "heartbeat_at", "ended_at")


def column(name: str, value: Any) -> Any:
    """A run field as its column holds it."""
    if name in JSON_RUN_FIELDS:
        return None if value is None and name == "launch_spec" else dumps_str(value)
    if name == "git_dirty" and value is not None:
        return int(bool(value))
    return value


def revive(tx: WriteTx, now: float, run_id: str) -> None:
    """A heartbeat of a run reaped for a lost heartbeat: it was stalled (SIGSTOP, a
    locked file, a sleeping laptop), not dead. Back to its status, with an event."""
    last = tx.execute(
        "SELECT payload FROM events WHERE run_id = ? AND kind = 'status_change' "
        "ORDER BY seq DESC LIMIT 1", (run_id,),
    ).fetchone()
    status = revived_status(loads(last[0], {}) if last else {})
    if status is None:
        return
    tx.execute("UPDATE runs SET status = ?, ended_at = NULL, seq = ? WHERE id = ?",
               (status, tx.seq, run_id))
    insert_event(tx, now, run_id, "status_change", {
        "old_status": "interrupted", "new_status": status, "reason": "heartbeat resumed",
    })


class RunTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_run(
        self,
        *,
        project: str,
        name: str | None = None,
        id: str | None = None,
        status: str = "running",
        **fields: Any,
    ) -> Run:
        clock = self._core.clock
        run_id = id or new_id(clock())
        if not is_valid_id(run_id):
            raise InvalidInput(f"invalid run id {run_id!r}: use letters, digits, '-', '_', '.'")
        check_status(status)
        check_fields(fields, "set")
        values = new_run_fields(run_id, project, name, status, clock(), fields)
        with self._core.write() as tx:
            if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise Conflict(f"run {run_id!r} already exists")
            values["seq"] = tx.seq
            cols = list(values)
            tx.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [column(c, values[c]) for c in cols],
            )
            register_project(tx, project, clock())
            # The tombstone of an earlier run with this id stays: a follower must still hear
            # of that deletion (it sees it before the new run; see changes_since).
            insert_event(tx, clock(), run_id, "status_change",
                         {"old_status": None, "new_status": status})
            return fetch_run(tx.conn, run_id)

    def get_run(self, run_id: str) -> Run:
        return fetch_run(self._core.reader(), run_id)

    def list_runs(
        self,
        *,
        project: str | None = None,
        status: str | Sequence[str] | None = None,
        tag: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """Runs matching every filter given, and how many match in all."""
        if sort not in RUN_SORT_KEYS:
            raise InvalidInput(f"cannot sort by {sort!r}; one of {', '.join(RUN_SORT_KEYS)}")
        where, args = [], []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(tag)
        if search:
            where.append("(name LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = "%" + escaped + "%"
            args.extend([pattern, pattern])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        direction = "DESC" if descending else "ASC"
        order = f" ORDER BY {sort} {direction}, id {direction}"
        with self._core.read() as conn:
            total = int(conn.execute(f"SELECT count(*) FROM runs{clause}", args).fetchone()[0])
            rows = conn.execute(
                f"SELECT {RUN_COLS} FROM runs{clause}{order} LIMIT ? OFFSET ?",
                [*args, max(0, limit), max(0, offset)],
            ).fetchall()
        return [run_row(r) for r in rows], total

    def projects(self) -> list[str]:
        return [r[0] for r in self._core.reader().execute(
            "SELECT DISTINCT project FROM runs ORDER BY project")]

    def update_run(self, run_id: str, **fields: Any) -> Run:
        """Change fields of a run (not its status: see ``set_status``)."""
        check_fields(fields)
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            if isinstance(fields.get("project"), str):
                register_project(tx, fields["project"], self._core.clock())
            sets = [f"{c} = ?" for c in fields] + ["seq = ?"]
            tx.execute(
                f"UPDATE runs SET {', '.join(sets)} WHERE id = ?",
                [*(column(c, v) for c, v in fields.items()), tx.seq, run_id],
            )
            return fetch_run(tx.conn, run_id)

    def set_status(self, run_id: str, status: str, **fields: Any) -> Run:
        """Move a run to ``status`` (an event records the change) and set other fields."""
        check_status(status)
        check_fields(fields)
        clock = self._core.clock
        now = clock()
        with self._core.write() as tx:
            old = fetch_run(tx.conn, run_id)
            changes = status_fields(old, status, now, fields)
            sets = ["status = ?", "seq = ?"] + [f"{c} = ?" for c in changes]
            tx.execute(
                f"UPDATE runs SET {', '.join(sets)} WHERE id = ?",
                [status, tx.seq, *(column(c, v) for c, v in changes.items()), run_id],
            )
            if old.status != status:
                insert_event(tx, clock(), run_id, "status_change",
                             {"old_status": old.status, "new_status": status})
            if expires_commands(old.status, status):
                expire_commands(tx, clock(), run_id, f"run ended ({status})")
                # its open chunks packed; its full chunks were grouped as they were written
                # (``group_rows.extend``): nothing is left to group when it ends
                chunk_rows.pack_open(tx.conn, run_id, Packer(PCODEC))
            return fetch_run(tx.conn, run_id)

    def heartbeat(self, run_id: str, at: float | None = None) -> None:
        """Note that the run's process is alive. Not stamped with ``seq``: followers need
        not hear about every heartbeat."""
        clock = self._core.clock
        with self._core.write() as tx:
            row = tx.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE id = ? RETURNING status",
                (clock() if at is None else at, run_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            if row[0] == "interrupted":
                revive(tx, clock(), run_id)

    def reap_stale(self) -> list[str]:
        """Runs whose heartbeat stopped become ``interrupted``; returns their ids."""
        now = self._core.clock()
        stale = [
            r[0]
            for r in self._core.reader().execute(
                "SELECT id FROM runs WHERE status IN ('running', 'paused') "
                "AND heartbeat_at IS NOT NULL AND heartbeat_at < ? - heartbeat_timeout",
                (now,),
            )
        ]
        reaped = []
        for run_id in stale:
            with self._core.write() as tx:
                # Check again inside the transaction: the run may have heartbeated since.
                row = tx.execute(
                    "SELECT status FROM runs WHERE id = ? AND status IN ('running', 'paused') "
                    "AND heartbeat_at < ? - heartbeat_timeout",
                    (run_id, now),
                ).fetchone()
                if row is None:
                    continue
                tx.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, eta_s = NULL, "
                    "seq = ? WHERE id = ?",
                    (now, tx.seq, run_id),
                )
                insert_event(tx, self._core.clock(), run_id, "status_change", {
                    "old_status": row[0], "new_status": "interrupted", "reason": HEARTBEAT_LOST,
                })
                expire_commands(tx, self._core.clock(), run_id,
                                f"run interrupted ({HEARTBEAT_LOST})")
                reaped.append(run_id)
        return reaped

    def delete_run(self, run_id: str) -> None:
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            tx.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            tx.execute(
                "INSERT OR REPLACE INTO deleted_runs (id, seq) VALUES (?, ?)", (run_id, tx.seq)
            )
