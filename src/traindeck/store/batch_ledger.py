"""The store's batch ledger: its write transaction and the ``batches`` table of
applied batch ids (see ``batch_apply``; ``write_metrics`` records an id the same way)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from .engine import Core, any_of, by_keys, insert_rows

#: Batch ids looked up in one statement (far below either engine's parameter limit).
IDS_PER_READ: Final = 900
#: Runs and (run, batch) pairs looked up in one statement by ``known_many``.
PAIRS_PER_READ: Final = 300


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

    def known_many(self, wanted: Mapping[str, Sequence[str]]
                   ) -> tuple[set[str], set[tuple[str, str]]]:
        """``known`` of several runs ``{run_id: batch_ids}``: the runs that exist, and the
        ``(run_id, batch_id)`` pairs applied (one read while they fit in one statement)."""
        runs = list(wanted)
        pairs = [(run_id, b) for run_id, ids in wanted.items() for b in ids]
        exists: set[str] = set()
        applied: set[tuple[str, str]] = set()
        with self._core.write() as tx:
            start = 0
            while start < max(len(runs), len(pairs)):
                some_runs = runs[start:start + PAIRS_PER_READ]
                some_pairs = pairs[start:start + PAIRS_PER_READ]
                parts: list[str] = []
                args: list[Any] = []
                if some_runs:
                    where, more = any_of(tx.conn, "id", some_runs, "text")
                    parts.append(f"SELECT id, NULL FROM runs WHERE {where}")
                    args += more
                if some_pairs:
                    applied_ones, more = by_keys(tx.conn, "batches", "b", ("run_id", "batch_id"),
                                                 ("text", "text"), some_pairs)
                    parts.append(f"SELECT b.run_id, b.batch_id FROM {applied_ones}")
                    args += more
                for run_id, batch_id in tx.execute(" UNION ALL ".join(parts), args):
                    if batch_id is None:
                        exists.add(run_id)
                    else:
                        applied.add((run_id, batch_id))
                start += PAIRS_PER_READ
        return exists, applied

    def record(self, run_id: str, batch_ids: Sequence[str], at: float) -> None:
        self.record_many([(run_id, b) for b in batch_ids], at)

    def record_many(self, pairs: Sequence[tuple[str, str]], at: float) -> None:
        """Record applied ``(run_id, batch_id)`` pairs, with one statement."""
        with self._core.write() as tx:
            insert_rows(tx.conn, "INSERT INTO batches (run_id, batch_id, applied_at) "
                        "VALUES (?, ?, ?)", [(run_id, b, at) for run_id, b in pairs],
                        ("text", "text", "double precision"))
