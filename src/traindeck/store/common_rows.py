"""What every table of the store shares: reading a run row (each table checks that
its run exists) and appending an event (each change leaves one, for the change feed).

Events are an append-only log per run (status changes, commands, checkpoints, media,
signals), numbered by ``seq`` in commit order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .codec import dumps_str, loads
from .engine import Conn, WriteTx, any_of
from .errors import NotFound
from .models import Event, Run

EVENT_COLS: Final = "seq, run_id, time, kind, payload"
RUN_COLS: Final = (
    "id, project, name, status, config, tags, notes, created_at, started_at, ended_at, "
    "heartbeat_at, heartbeat_timeout, host, pid, command, git_commit, git_dirty, env, "
    "commands_offered, summary, launch_spec, seq, exit_code, total_steps, progress, "
    "steps_per_s, eta_s"
)


def event_row(row: Sequence[Any]) -> Event:
    return Event(seq=row[0], run_id=row[1], time=row[2], kind=row[3], payload=loads(row[4], {}))


def run_row(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0], project=row[1], name=row[2], status=row[3], config=loads(row[4], {}),
        tags=loads(row[5], []), notes=row[6], created_at=row[7], started_at=row[8],
        ended_at=row[9], heartbeat_at=row[10], heartbeat_timeout=row[11], host=row[12],
        pid=row[13], command=row[14], git_commit=row[15],
        git_dirty=None if row[16] is None else bool(row[16]), env=loads(row[17], {}),
        commands_offered=loads(row[18], []), summary=loads(row[19], {}),
        launch_spec=loads(row[20]), seq=row[21], exit_code=row[22], total_steps=row[23],
        progress=row[24], steps_per_s=row[25], eta_s=row[26],
    )


def fetch_run(conn: Conn, run_id: str) -> Run:
    """The run, read on ``conn`` (inside the caller's transaction); ``NotFound`` if none."""
    row = conn.execute(f"SELECT {RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return run_row(row)


def runs_statements(conn: Conn, run_ids: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """The reads of several runs' rows, to send with others (``engine.execute_all``);
    ``runs_found`` takes their results."""
    out: list[tuple[str, list[Any]]] = []
    for i in range(0, len(run_ids), 900):
        where, args = any_of(conn, "id", run_ids[i:i + 900], "text")
        out.append((f"SELECT {RUN_COLS} FROM runs WHERE {where}", args))
    return out


def runs_found(run_ids: Sequence[str], results: Iterable[Iterable[Any]]) -> dict[str, Run]:
    """The runs read by ``runs_statements``; ``NotFound`` names the first one missing."""
    found: dict[str, Run] = {}
    for rows in results:
        for row in rows:
            run = run_row(row)
            found[run.id] = run
    for run_id in run_ids:
        if run_id not in found:
            raise NotFound(f"no run {run_id!r}")
    return found


def insert_event(tx: WriteTx, now: float, run_id: str, kind: str,
                 payload: Mapping[str, Any]) -> int:
    """Append an event inside the caller's transaction; returns its ``seq``."""
    return int(
        tx.execute(
            "INSERT INTO events (run_id, time, kind, payload) VALUES (?, ?, ?, ?) "
            "RETURNING seq",
            (run_id, now, kind, dumps_str(payload)),
        ).fetchone()[0]
    )
