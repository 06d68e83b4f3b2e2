"""Applying SDK batches exactly once, for every engine (no SQL here).

A batch (see ``batch_wire``) is applied whole in one transaction together with its id, so
a batch the SDK sends again after a lost answer is acknowledged without being applied
twice, and a server killed mid-batch applied none of it. Its parts go in this order: the
run (created by a first batch), run fields, points with summary and heartbeat, events,
console lines, media, checkpoint records (added by the SDK's id: once; best mark;
deletions), command results, status.

The engine supplies a :class:`BatchLedger`: its transaction (which the store's own calls
join) and the record of applied batch ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from traindeck.runfiles import RunFiles

from .batch_wire import Batch
from .errors import Conflict, NotFound
from .models import MetricWrite
from .protocol import Store
from .uploads import save_media


class BatchLedger(Protocol):
    """What an engine adds for batches: one transaction and the applied ids."""

    def transaction(self) -> AbstractContextManager[object]: ...
    def known(self, run_id: str, batch_ids: Sequence[str]) -> tuple[bool, set[str]]:
        """Whether the run exists, and which of ``batch_ids`` it applied (one read)."""
        ...
    def known_many(self, wanted: Mapping[str, Sequence[str]]
                   ) -> tuple[set[str], set[tuple[str, str]]]:
        """``known`` of several runs: the runs that exist, the applied (run, id) pairs."""
        ...
    def record(self, run_id: str, batch_ids: Sequence[str], at: float) -> None: ...
    def record_many(self, pairs: Sequence[tuple[str, str]], at: float) -> None: ...


def _heard(store: Store, batch: Batch) -> float | None:
    """The heartbeat a batch stands for, on the SERVER's clock: the reaper compares it with
    that clock, and a training host's clock may be skewed or jump (its value is only
    checked, never stored)."""
    return store.clock() if batch.heartbeat is not None else None


def apply_batch(store: Store, ledger: BatchLedger, files: RunFiles, run_id: str,
                batch: Batch) -> bool:
    """Apply a checked batch once, all of it in one transaction; False when it was applied
    before (then nothing changes)."""
    with ledger.transaction():
        exists, applied = ledger.known(run_id, [batch.batch_id])
        if applied:
            return False
        if not exists:
            if batch.run is None:
                raise NotFound(f"no run {run_id!r} (a first batch carries 'run' to create it)")
            fields = dict(batch.run)
            project = fields.pop("project")
            name = fields.pop("name", None)
            fields.pop("started_at", None)
            store.create_run(project=project, name=name, id=run_id, **fields)
        if batch.update:
            store.update_run(run_id, **batch.update)
        store.write_metrics(run_id, batch.metrics, summary=batch.summary, replace_summary=True,
                            heartbeat=_heard(store, batch), batch_id=batch.batch_id)
        for kind, payload in batch.events:
            store.add_event(run_id, kind, payload)
        if batch.logs:
            store.write_log_lines(run_id, batch.logs)
        for m in batch.media:
            save_media(store, files, run_id, key=m.key, step=m.step, filename=m.filename,
                       data=m.data, caption=m.caption)
        for ck in batch.checkpoints:
            if _elsewhere(store.get_checkpoint, ck["id"], run_id):
                continue  # another run's id: a batch writes its own run only
            store.add_checkpoint(
                run_id, id=ck["id"], step=ck["step"], path=ck["path"], kind=ck["kind"],
                metrics=ck["metrics"], metadata=ck["metadata"], size=ck["size"],
                sha256=ck["sha256"], host=ck["host"])
            if ck["is_best"]:
                store.mark_best(ck["id"])
        if batch.checkpoint_best is not None \
                and _owned(store.get_checkpoint, batch.checkpoint_best, run_id):
            try:
                store.mark_best(batch.checkpoint_best)
            except NotFound:
                pass  # deleted meanwhile
        for ck_id, reason in batch.checkpoints_deleted:
            if not _owned(store.get_checkpoint, ck_id, run_id):
                continue  # gone meanwhile (the dashboard, the CLI), or not this run's
            try:
                store.delete_checkpoint(ck_id, reason=reason)
            except NotFound:
                pass  # deleted meanwhile (the dashboard, the CLI)
        for result in batch.command_results:
            if not _owned(store.get_command, result["id"], run_id):
                continue  # deleted, or another run's command: not this run's to answer
            try:
                store.finish_command(result["id"], ok=bool(result.get("ok")),
                                     result=result.get("result"), error=result.get("error"))
            except (Conflict, NotFound):
                pass  # expired meanwhile, or deleted: the answer has no one to go to
        if batch.status is not None:
            store.set_status(run_id, batch.status)
    return True


def _owned(get: Callable[[str], Any], item_id: str, run_id: str) -> bool:
    """Whether the checkpoint or command ``item_id`` exists and is ``run_id``'s: a batch
    (and the token that sent it, which may be bound to its run) touches its own run only."""
    try:
        return bool(get(item_id).run_id == run_id)
    except NotFound:
        return False


def _elsewhere(get: Callable[[str], Any], item_id: str, run_id: str) -> bool:
    """Whether ``item_id`` is taken by another run's checkpoint."""
    try:
        return bool(get(item_id).run_id != run_id)
    except NotFound:
        return False


def _merged(store: Store, run_id: str, batches: Sequence[Batch]) -> MetricWrite:
    """Batches of only points as one write: later points of a (key, step) win, as if
    written one after the other; the last summary; a heartbeat if any had one."""
    cols: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    summary: dict[str, Any] | None = None
    heartbeat: float | None = None
    for b in batches:
        for key, (steps, times, values) in b.metrics.items():
            col = cols.setdefault(key, ([], [], []))
            col[0].append(steps)
            col[1].append(times)
            col[2].append(values)
        summary = b.summary if b.summary is not None else summary
        heartbeat = _heard(store, b) or heartbeat
    series = {k: (np.concatenate(s), np.concatenate(t), np.concatenate(v))
              for k, (s, t, v) in cols.items()}
    return MetricWrite(run_id, series, summary, heartbeat)


def apply_batches(store: Store, ledger: BatchLedger, files: RunFiles, run_id: str,
                  batches: Sequence[Batch]) -> int:
    """Apply several batches in order, in one transaction; returns how many were new.

    Neighbouring batches of only points (the backlog of a long outage) are merged into one
    write: later points of a (key, step) win, as if written one after the other."""
    applied = 0
    group: list[Batch] = []

    def write_group() -> None:
        nonlocal applied
        if not group:
            return
        merged = _merged(store, run_id, group)
        store.write_metrics(run_id, merged.series, summary=merged.summary,
                            replace_summary=True, heartbeat=merged.heartbeat)
        ledger.record(run_id, [b.batch_id for b in group], store.clock())
        applied += len(group)
        group.clear()

    with ledger.transaction():
        exists, seen = ledger.known(run_id, [b.batch_id for b in batches])
        for batch in batches:
            if batch.batch_id in seen:
                continue
            seen.add(batch.batch_id)
            if batch.only_points and exists:
                group.append(batch)
                continue
            write_group()
            applied += apply_batch(store, ledger, files, run_id, batch)
            exists = True  # it made the run, or it raised (and nothing is kept)
        write_group()
    return applied


def apply_many(store: Store, ledger: BatchLedger, files: RunFiles,
               items: Sequence[tuple[str, Sequence[Batch]]]) -> list[int]:
    """Several requests' batches ``(run_id, batches)`` in one transaction
    (``Store.apply_many``); how many were new, per item.

    The runs whose items are all points (what a training loop sends nearly every time) are
    written together: one read of which runs exist and which batches they applied, one
    ``write_metrics_many``, one record of the ids, whatever their number. The rest (a
    first batch, events, console lines, media, checkpoints…), and every item of a run
    that has one of those, go through ``apply_batches`` in their order."""
    counts = [0] * len(items)
    with ledger.transaction():
        plain: dict[str, list[int]] = {}
        for i, (run_id, _) in enumerate(items):
            plain.setdefault(run_id, []).append(i)
        for run_id, batches in items:
            if not all(b.only_points for b in batches):
                plain.pop(run_id, None)
        exists, applied = ledger.known_many(
            {run_id: [b.batch_id for i in idx for b in items[i][1]]
             for run_id, idx in plain.items()}) if plain else (set(), set())
        writes: list[MetricWrite] = []
        done: list[tuple[str, str]] = []
        for run_id in [r for r in plain if r in exists]:
            group: list[Batch] = []
            for i in plain[run_id]:
                for batch in items[i][1]:
                    if (run_id, batch.batch_id) not in applied:
                        applied.add((run_id, batch.batch_id))
                        group.append(batch)
                        counts[i] += 1
            if group:
                writes.append(_merged(store, run_id, group))
                done += [(run_id, b.batch_id) for b in group]
        if writes:
            store.write_metrics_many(writes, replace_summary=True)
            ledger.record_many(done, store.clock())
        for i, (run_id, batches) in enumerate(items):
            if run_id not in plain or run_id not in exists:
                counts[i] = apply_batches(store, ledger, files, run_id, batches)
    return counts
