"""The store's change feed: everything stamped after a ``seq``, in one snapshot.

A follower (the server's hub) remembers the last ``seq`` and event ``seq`` it saw and asks
for what came after; since every write bumps ``meta.seq`` in commit order, nothing is
missed. Deleted runs leave a tombstone in ``deleted_runs`` stamped the same way.
"""

from __future__ import annotations

from .command_rows import CMD_COLS, command_row
from .common_rows import EVENT_COLS, RUN_COLS, event_row, run_row
from .engine import Core, execute_all
from .metric_rows import f8 as _f8
from .models import Changes, SeriesChange


class ChangeFeed:
    def __init__(self, core: Core) -> None:
        self._core = core

    def current_seq(self) -> tuple[int, int]:
        """``(seq, event_seq)``: where a follower starting now begins."""
        with self._core.read() as conn:
            seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            ev = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        return seq, int(ev)

    def changes_since(self, seq: int, event_seq: int, *, limit: int = 5000) -> Changes:
        """Everything stamped after ``seq`` and events after ``event_seq``, in one snapshot."""
        with self._core.read() as conn:
            now_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            if now_seq == seq:
                ev_rows = conn.execute(
                    f"SELECT {EVENT_COLS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    (event_seq, limit)).fetchall()
                return Changes(now_seq, [], [], [event_row(r) for r in ev_rows], [], [])
            # independent reads: one round trip to a PostgreSQL cluster for all of them
            run_rows, series_rows, event_rows, cmd_rows, deleted_rows, log_rows = execute_all(
                conn, [
                    (f"SELECT {RUN_COLS} FROM runs WHERE seq > ? ORDER BY seq", (seq,)),
                    ("SELECT run_id, key, last_step, last_time, last_value, seq, written "
                     "FROM series WHERE seq > ? ORDER BY seq", (seq,)),
                    (f"SELECT {EVENT_COLS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                     (event_seq, limit)),
                    (f"SELECT {CMD_COLS} FROM commands WHERE seq > ? ORDER BY seq", (seq,)),
                    ("SELECT id FROM deleted_runs WHERE seq > ?", (seq,)),
                    ("SELECT run_id, last_seq FROM log_heads WHERE seq > ?", (seq,))])
            runs = [run_row(r) for r in run_rows]
            series = [SeriesChange(r[0], r[1], r[2], r[3], _f8(r[4]), r[5], int(r[6]))
                      for r in series_rows]
            events = [event_row(r) for r in event_rows]
            commands = [command_row(r) for r in cmd_rows]
            deleted = [r[0] for r in deleted_rows]
            logs = {r[0]: int(r[1]) for r in log_rows}
        return Changes(now_seq, runs, series, events, commands, deleted, logs)
