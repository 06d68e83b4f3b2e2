"""One rank's view of the shared run: a :class:`~traindeck.sdk.backend.Backend` that
passes on what this rank may write and drops the rest (the rules are in ``ranks.py``).

Rank 0 of a job of several processes changes only its console lines (tagged
``[rank0]``). A rank above 0 (a *follower*) also:

- never changes the run's record, status or summary, and never answers a command: rank 0
  does (its config and summary changes, its ``pause``, its command results are dropped);
- writes its own points: system load (``sys/rank{r}/…``, named by the sampler) and, with
  ``log_all_ranks``, its metrics, put under ``rank{r}/`` here;
- records no checkpoint, best mark or validity verdict (rank 0's files are the run's);
- sends ``error`` events only (a crash on this rank), with ``rank`` in the payload.

Reads (the run, its progress, its checkpoints) and the heartbeat pass through, so every
rank keeps the run alive and can load the run's checkpoints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from ..store import Checkpoint, Command, Run
from .backend import Backend, CheckpointEntry, MediaFile, Progress, Series
from .ranks import Ranks

#: The events a rank above 0 sends (with its rank); rank 0 sends the run's own.
FOLLOWER_EVENTS: Final = frozenset({"error"})


class RankBackend:
    """``inner`` as rank ``ranks.rank`` may use it."""

    def __init__(self, inner: Backend, ranks: Ranks) -> None:
        self.inner = inner
        self.ranks = ranks
        self._follower = not ranks.leader
        self._tag = ranks.console_tag
        self._prefix = ranks.metric_prefix

    @property
    def run_id(self) -> str:
        return self.inner.run_id

    # -- reads ---------------------------------------------------------------------------

    def read_run(self) -> Run | None:
        return self.inner.read_run()

    def progress(self) -> Progress:
        return self.inner.progress()

    def create_run(self, fields: Mapping[str, Any]) -> Run:
        if self._follower:
            raise RuntimeError("only rank 0 creates the run")
        return self.inner.create_run(fields)

    def list_checkpoints(self) -> list[Checkpoint]:
        return self.inner.list_checkpoints()

    # -- writes --------------------------------------------------------------------------

    def update_run(self, fields: Mapping[str, Any]) -> None:
        if not self._follower:
            self.inner.update_run(fields)

    def set_status(self, status: str) -> None:
        if not self._follower:
            self.inner.set_status(status)

    def add_event(self, kind: str, payload: Mapping[str, Any]) -> None:
        if not self._follower:
            self.inner.add_event(kind, payload)
        elif kind in FOLLOWER_EVENTS:
            self.inner.add_event(kind, {**payload, "rank": self.ranks.rank})

    def write_points(self, series: Series, *, summary: dict[str, Any] | None,
                     heartbeat: float | None) -> None:
        if self._follower:
            summary = None
            prefix = self._prefix
            series = {k if k.startswith("sys/") else prefix + k: v for k, v in series.items()}
        self.inner.write_points(series, summary=summary, heartbeat=heartbeat)

    def write_logs(self, lines: list[tuple[float, str, str]]) -> None:
        tag = self._tag
        if tag:
            lines = [(t, stream, tag + text) for t, stream, text in lines]
        self.inner.write_logs(lines)

    def write_media(self, media: MediaFile) -> None:
        self.inner.write_media(media)  # the run names a follower's keys rank{r}/… itself

    def upload_artifact(self, path: str, local: Path) -> None:
        if not self._follower:
            self.inner.upload_artifact(path, local)

    def add_checkpoint(self, entry: CheckpointEntry) -> None:
        if not self._follower:
            self.inner.add_checkpoint(entry)

    def mark_best(self, ck_id: str) -> None:
        if not self._follower:
            self.inner.mark_best(ck_id)

    def set_checkpoint_valid(self, ck_id: str, valid: bool, reason: str | None) -> None:
        if not self._follower:
            self.inner.set_checkpoint_valid(ck_id, valid, reason)

    def delete_checkpoint(self, ck_id: str, reason: str) -> None:
        if not self._follower:
            self.inner.delete_checkpoint(ck_id, reason)

    # -- commands ------------------------------------------------------------------------

    def take_commands(self) -> list[Command]:
        return self.inner.take_commands()  # a follower's inner backend only reads them

    def finish_command(self, cmd_id: str, *, ok: bool, result: Any,
                       error: str | None) -> None:
        if not self._follower:
            self.inner.finish_command(cmd_id, ok=ok, result=result, error=error)

    def start_following(self) -> None:
        self.inner.start_following()

    # -- the end -------------------------------------------------------------------------

    def pull_with(self, pull: Callable[[], threading.Event]) -> None:
        self.inner.pull_with(pull)

    @property
    def drained(self) -> bool:
        return self.inner.drained

    def close(self) -> None:
        self.inner.close()
