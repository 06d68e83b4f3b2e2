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

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from traindeck.runfiles import RunFiles

from .batch_wire import Batch
from .errors import Conflict, NotFound
from .protocol import Store
from .uploads import save_media


class BatchLedger(Protocol):
    """What an engine adds for batches: one transaction and the applied ids."""

    def transaction(self) -> AbstractContextManager[object]: ...
    def known(self, run_id: str, batch_ids: Sequence[str]) -> tuple[bool, set[str]]:
        """Whether the run exists, and which of ``batch_ids`` it applied (one read)."""
        ...
    def record(self, run_id: str, batch_ids: Sequence[str], at: float) -> None: ...


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
        cols: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
        summary: dict[str, Any] | None = None
        heartbeat: float | None = None
        for b in group:
            for key, (steps, times, values) in b.metrics.items():
                col = cols.setdefault(key, ([], [], []))
                col[0].append(steps)
                col[1].append(times)
                col[2].append(values)
            summary = b.summary if b.summary is not None else summary
            heartbeat = _heard(store, b) or heartbeat
        series = {k: (np.concatenate(s), np.concatenate(t), np.concatenate(v))
                  for k, (s, t, v) in cols.items()}
        store.write_metrics(run_id, series, summary=summary, replace_summary=True,
                            heartbeat=heartbeat)
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
    """Several runs' batches in one transaction (``Store.apply_many``)."""
    with ledger.transaction():
        return [apply_batches(store, ledger, files, run_id, batches)
                for run_id, batches in items]
