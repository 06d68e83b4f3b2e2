"""Checkpoint rows of the SQLite store.

Rows only: writing, naming, hashing and deleting the files themselves is the job of
``traindeck.checkpoints`` and the SDK. Each change also writes an event
(``checkpoint_saved``, ``checkpoint_best``, ``checkpoint_deleted``, ``checkpoint_verified``)
so the live server pushes it and the event log shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .codec import dumps_str, jsonable, loads
from .common_rows import fetch_run, insert_event
from .engine import Conn, Core
from .errors import InvalidInput, NotFound
from .ids import new_id
from .models import CHECKPOINT_KINDS, Checkpoint

_COLS: Final = (
    "id, run_id, step, path, kind, metrics, metadata, size, sha256, created_at, host, "
    "is_best, valid"
)
CHECKPOINT_SORT_KEYS: Final = ("step", "created_at", "size")


def _checkpoint(r: Sequence[Any]) -> Checkpoint:
    return Checkpoint(
        id=r[0], run_id=r[1], step=int(r[2]), path=r[3], kind=r[4], metrics=loads(r[5], {}),
        metadata=loads(r[6], {}), size=r[7], sha256=r[8], created_at=r[9], host=r[10],
        is_best=bool(r[11]), valid=None if r[12] is None else bool(r[12]),
    )


class CheckpointTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def add_checkpoint(
        self,
        run_id: str,
        *,
        step: int,
        path: str,
        kind: str = "regular",
        metrics: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        size: int | None = None,
        sha256: str | None = None,
        host: str | None = None,
        valid: bool | None = None,
        is_best: bool = False,
        id: str | None = None,
    ) -> Checkpoint:
        """Record a checkpoint; ``is_best`` takes the best mark from the run's others. With
        the ``id`` of a checkpoint the run already has (a record the SDK sent twice), the
        existing one is returned unchanged."""
        if kind not in CHECKPOINT_KINDS:
            raise InvalidInput(f"unknown checkpoint kind {kind!r}; one of {CHECKPOINT_KINDS}")
        if isinstance(step, bool) or not isinstance(step, int):
            raise InvalidInput("a checkpoint step is an integer")
        if not path:
            raise InvalidInput("a checkpoint needs a path")
        if id is not None and not 0 < len(id) <= 64:
            raise InvalidInput("a checkpoint id is a string of 1 to 64 characters")
        ck_id = id or new_id(self._core.clock())
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            if id is not None and tx.execute(
                    "SELECT 1 FROM checkpoints WHERE id = ? AND run_id = ?",
                    (id, run_id)).fetchone():
                return self._get_checkpoint(tx.conn, id)
            if is_best:
                tx.execute("UPDATE checkpoints SET is_best = 0 WHERE run_id = ?", (run_id,))
            tx.execute(
                f"INSERT INTO checkpoints ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ck_id, run_id, step, path, kind, dumps_str(dict(metrics or {})),
                 dumps_str(dict(metadata or {})), size, sha256, self._core.clock(), host,
                 int(is_best), None if valid is None else int(valid)),
            )
            ck = self._get_checkpoint(tx.conn, ck_id)
            insert_event(tx, self._core.clock(), run_id, "checkpoint_saved", jsonable(ck.to_dict()))
            return ck

    def _get_checkpoint(self, conn: Conn, ck_id: str) -> Checkpoint:
        row = conn.execute(f"SELECT {_COLS} FROM checkpoints WHERE id = ?", (ck_id,)).fetchone()
        if row is None:
            raise NotFound(f"no checkpoint {ck_id!r}")
        return _checkpoint(row)

    def get_checkpoint(self, ck_id: str) -> Checkpoint:
        return self._get_checkpoint(self._core.reader(), ck_id)

    def list_checkpoints(
        self,
        run_id: str,
        *,
        sort: str = "step",
        descending: bool = True,
        limit: int | None = None,
        kind: str | None = None,
    ) -> list[Checkpoint]:
        """A run's checkpoints, by parsed step (never by file name) unless told otherwise."""
        if sort not in CHECKPOINT_SORT_KEYS:
            raise InvalidInput(
                f"cannot sort checkpoints by {sort!r}; one of {CHECKPOINT_SORT_KEYS}"
            )
        order = "DESC" if descending else "ASC"
        sql = f"SELECT {_COLS} FROM checkpoints WHERE run_id = ?"
        args: list[Any] = [run_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += f" ORDER BY {sort} {order}, created_at {order}, id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, limit))
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            return [_checkpoint(r) for r in conn.execute(sql, args)]

    def mark_best(self, ck_id: str) -> Checkpoint:
        """Make this the run's best checkpoint (one per run)."""
        with self._core.write() as tx:
            ck = self._get_checkpoint(tx.conn, ck_id)
            tx.execute("UPDATE checkpoints SET is_best = CASE WHEN id = ? THEN 1 ELSE 0 END "
                       "WHERE run_id = ?",
                       (ck_id, ck.run_id))
            ck = self._get_checkpoint(tx.conn, ck_id)
            insert_event(tx, self._core.clock(), ck.run_id, "checkpoint_best",
                         {"id": ck_id, "step": ck.step})
            return ck

    def set_checkpoint_valid(
        self, ck_id: str, valid: bool, reason: str | None = None
    ) -> Checkpoint:
        with self._core.write() as tx:
            ck = self._get_checkpoint(tx.conn, ck_id)
            tx.execute("UPDATE checkpoints SET valid = ? WHERE id = ?", (int(valid), ck_id))
            insert_event(tx, self._core.clock(), ck.run_id, "checkpoint_verified",
                        {"id": ck_id, "step": ck.step, "valid": valid, "reason": reason})
            return self._get_checkpoint(tx.conn, ck_id)

    def delete_checkpoint(self, ck_id: str, reason: str | None = None) -> Checkpoint:
        """Forget a checkpoint row (the caller deletes the file first)."""
        with self._core.write() as tx:
            ck = self._get_checkpoint(tx.conn, ck_id)
            tx.execute("DELETE FROM checkpoints WHERE id = ?", (ck_id,))
            insert_event(tx, self._core.clock(), ck.run_id, "checkpoint_deleted",
                        {"id": ck_id, "step": ck.step, "path": ck.path, "reason": reason})
            return ck
