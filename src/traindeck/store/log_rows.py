"""Console lines of the SQLite store.

A run's lines are numbered 1, 2, 3, … (``seq``, per run) in the order they are written;
``log_heads`` keeps each run's last number, stamped with the store-wide ``seq`` of the
write, so that the change feed (``changes_since``) learns which runs have new lines with
one indexed query. Text is stored as given: the SDK redacts secrets before it writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from .common_rows import fetch_run
from .engine import Core
from .errors import InvalidInput
from .models import LOG_STREAMS, LogLine

#: Longest line stored (characters); the SDK cuts longer ones before sending.
MAX_LINE: Final = 64 * 1024
#: Most lines one read returns.
MAX_READ: Final = 10_000


def _like_escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LogTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def write_log_lines(self, run_id: str, lines: Iterable[tuple[float, str, str]]) -> int:
        """Append ``(time, stream, text)`` lines to the run's console, numbered after the
        last one, in one transaction. Returns the last line's ``seq`` (0: none yet)."""
        rows = []
        for t, stream, text in lines:
            if stream not in LOG_STREAMS:
                raise InvalidInput(f"a log line's stream is one of {LOG_STREAMS}, "
                                   f"got {stream!r:.40}")
            if not isinstance(text, str):
                raise InvalidInput("a log line's text is a string")
            if isinstance(t, bool) or not isinstance(t, int | float) or t != t:
                raise InvalidInput("a log line's time is a number")
            rows.append((float(t), stream, text[:MAX_LINE]))
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            row = tx.execute("SELECT last_seq FROM log_heads WHERE run_id = ?",
                             (run_id,)).fetchone()
            last = 0 if row is None else int(row[0])
            if not rows:
                return last
            tx.conn.executemany(
                "INSERT INTO log_lines (run_id, seq, time, stream, text) VALUES (?,?,?,?,?)",
                [(run_id, last + i, t, s, x) for i, (t, s, x) in enumerate(rows, 1)])
            last += len(rows)
            tx.execute(
                "INSERT INTO log_heads (run_id, last_seq, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET last_seq = excluded.last_seq, "
                "seq = excluded.seq", (run_id, last, tx.seq))
            return last

    def last_log_seq(self, run_id: str) -> int:
        """The run's last line number (0: no lines)."""
        row = self._core.reader().execute("SELECT last_seq FROM log_heads WHERE run_id = ?",
                                     (run_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def read_log_lines(
        self,
        run_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 1000,
        q: str | None = None,
        tail: int | None = None,
    ) -> list[LogLine]:
        """The run's lines, oldest first.

        ``after_seq``/``before_seq`` bound ``seq`` (exclusive); ``q`` keeps lines that hold
        it (case-insensitive for ASCII letters); ``limit`` caps the count. Reading forward
        (the default) gives the first ``limit`` lines after ``after_seq``; with ``tail=N``
        or ``before_seq`` (paging back) it gives the *last* ``min(N, limit)`` lines before
        ``before_seq``, still oldest first. ``NotFound`` for an unknown run.
        """
        if limit < 1:
            raise InvalidInput("limit is at least 1")
        limit = min(limit, MAX_READ)
        backwards = tail is not None or (before_seq is not None and after_seq is None)
        if tail is not None:
            if tail < 1:
                raise InvalidInput("tail is at least 1")
            limit = min(limit, tail)
        sql = "SELECT seq, time, stream, text FROM log_lines WHERE run_id = ?"
        args: list[Any] = [run_id]
        if after_seq is not None:
            sql += " AND seq > ?"
            args.append(after_seq)
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        if q:
            sql += " AND lower(text) LIKE ? ESCAPE '\\'"
            args.append(f"%{_like_escape(q.lower())}%")
        sql += f" ORDER BY seq {'DESC' if backwards else 'ASC'} LIMIT ?"
        args.append(limit)
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            rows = conn.execute(sql, args).fetchall()
        if backwards:
            rows.reverse()
        return [LogLine(seq=int(r[0]), time=r[1], stream=r[2], text=r[3]) for r in rows]
