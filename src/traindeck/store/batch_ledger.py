"""The store's batch ledger: its write transaction and the ``batches`` table of
applied batch ids (see ``batch_apply``; ``write_metrics`` records an id the same way)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from .engine import Core

#: Batch ids looked up in one statement (far below either engine's parameter limit).
IDS_PER_READ: Final = 900


class BatchLedger:
    def __init__(self, core: Core) -> None:
        self._core = core

    @contextmanager
    def transaction(self) -> Iterator[object]:
        with self._core.write() as tx:
            yield tx

    def known(self, run_id: str, batch_ids: Sequence[str]) -> tuple[bool, set[str]]:
        """Whether the run exists, and which of ``batch_ids`` it applied: one read."""
        exists = False
        applied: set[str] = set()
        with self._core.write() as tx:
            for start in range(0, max(len(batch_ids), 1), IDS_PER_READ):
                ids = list(batch_ids[start:start + IDS_PER_READ])
                marks = ",".join("?" * len(ids)) or "NULL"
                for kind, batch_id in tx.execute(
                        "SELECT 'run', NULL FROM runs WHERE id = ? UNION ALL "
                        "SELECT 'batch', batch_id FROM batches WHERE run_id = ? AND "
                        f"batch_id IN ({marks})", (run_id, run_id, *ids)):
                    if kind == "run":
                        exists = True
                    else:
                        applied.add(batch_id)
        return exists, applied

    def record(self, run_id: str, batch_ids: Sequence[str], at: float) -> None:
        with self._core.write() as tx:
            tx.conn.executemany(
                "INSERT INTO batches (run_id, batch_id, applied_at) VALUES (?, ?, ?)",
                [(run_id, b, at) for b in batch_ids])
