"""The progress columns of runs (``progress``, ``steps_per_s``, ``eta_s``), which only the
server's progress tracker writes (``server/progress.py``); ``total_steps`` is an ordinary
run field (``update_run``)."""

from __future__ import annotations

from collections.abc import Sequence

from .engine import Core
from .models import RunProgress


class ProgressTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def set_progress(self, values: Sequence[RunProgress]) -> int:
        """Store each run's values, in one transaction stamped with the store's ``seq`` (a
        follower hears of the runs: the live hub sends ``run_update``). Runs deleted
        meanwhile are skipped; returns how many runs were asked for.

        One statement for all the runs (``executemany``): the transaction holds the store's
        write lock, which the server's batch writer waits for, and on PostgreSQL the rows
        go with the ``COMMIT`` in one round trip instead of one round trip a run (under
        issue 14's bar load a progress write of seven runs held the lock ~80 ms)."""
        if not values:
            return 0
        with self._core.write() as tx:
            seq = tx.seq
            tx.conn.executemany(
                # An ETA only while running, whatever the tracker last saw.
                "UPDATE runs SET progress = ?, steps_per_s = ?, "
                "eta_s = CASE WHEN status = 'running' THEN CAST(? AS DOUBLE PRECISION) END, "
                "seq = ? WHERE id = ?",
                [(v.progress, v.steps_per_s, v.eta_s, seq, v.run_id) for v in values])
        return len(values)
