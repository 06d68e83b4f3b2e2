"""The store's batch ledger: its write transaction and the ``batches`` table of
applied batch ids (see ``batch_apply``; ``write_metrics`` records an id the same way)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .engine import Core


class BatchLedger:
    def __init__(self, core: Core) -> None:
        self._core = core

    @contextmanager
    def transaction(self) -> Iterator[object]:
        with self._core.write() as tx:
            yield tx

    def run_exists(self, run_id: str) -> bool:
        with self._core.write() as tx:
            return tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def applied(self, run_id: str, batch_id: str) -> bool:
        with self._core.write() as tx:
            return tx.execute("SELECT 1 FROM batches WHERE run_id = ? AND batch_id = ?",
                              (run_id, batch_id)).fetchone() is not None

    def record(self, run_id: str, batch_ids: Sequence[str], at: float) -> None:
        with self._core.write() as tx:
            tx.conn.executemany(
                "INSERT INTO batches (run_id, batch_id, applied_at) VALUES (?, ?, ?)",
                [(run_id, b, at) for b in batch_ids])
