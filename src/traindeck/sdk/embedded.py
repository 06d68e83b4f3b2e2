"""The embedded backend: a run that writes straight into the store (``traindeck.db``).

Each call is one store transaction. A store that is busy or away raises ``Unavailable``
(or ``OSError``), which the worker retries; see ``backend.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..runfiles import RunFiles, media_rel
from ..store import Checkpoint, Command, NotFound, Run, Store
from .backend import CheckpointEntry, MediaFile, Progress, Series
from .ranks import CommandFollower

#: The newest commands a rank above 0 reads each time it looks.
FOLLOW_LIMIT = 50


class EmbeddedBackend:
    """One run in a store this process opened (or was given). ``follow_commands``: a rank
    above 0, which reads the run's commands without taking them (``ranks.py``)."""

    def __init__(self, store: Store, run_id: str, *, owns_store: bool,
                 follow_commands: bool = False) -> None:
        self.store = store
        self._run_id = run_id
        self._owns = owns_store
        self._follower = CommandFollower() if follow_commands else None
        self._early: list[Command] = []  # open when this rank attached

    @property
    def run_id(self) -> str:
        return self._run_id

    # -- starting ----------------------------------------------------------------------

    def read_run(self) -> Run | None:
        try:
            return self.store.get_run(self._run_id)
        except NotFound:
            return None

    def progress(self) -> Progress:
        step = system_step = 0
        for s in self.store.metric_keys(self._run_id):
            if s.last_step is None:
                continue
            if s.key.startswith("sys/"):
                system_step = max(system_step, s.last_step + 1)
            else:
                step = max(step, s.last_step + 1)
        return Progress(step, system_step)

    def create_run(self, fields: Mapping[str, Any]) -> Run:
        f = dict(fields)
        project = f.pop("project")
        name = f.pop("name", None)
        return self.store.create_run(project=project, name=name, id=self._run_id, **f)

    def list_checkpoints(self) -> list[Checkpoint]:
        return self.store.list_checkpoints(self._run_id)

    # -- writes --------------------------------------------------------------------------

    def update_run(self, fields: Mapping[str, Any]) -> None:
        self.store.update_run(self._run_id, **fields)

    def set_status(self, status: str) -> None:
        self.store.set_status(self._run_id, status)

    def add_event(self, kind: str, payload: Mapping[str, Any]) -> None:
        self.store.add_event(self._run_id, kind, payload)

    def write_points(self, series: Series, *, summary: dict[str, Any] | None,
                     heartbeat: float | None) -> None:
        self.store.write_metrics(self._run_id, series, summary=summary, replace_summary=True,
                                 heartbeat=heartbeat)

    def write_logs(self, lines: list[tuple[float, str, str]]) -> None:
        self.store.write_log_lines(self._run_id, lines)

    def write_media(self, media: MediaFile) -> None:
        self.store.add_media(self._run_id, key=media.key, step=media.step,
                             path=media_rel(media.key, media.filename),
                             caption=media.caption, width=media.width, height=media.height,
                             size=len(media.data))

    def upload_artifact(self, path: str, local: Path) -> None:
        pass  # the copy is already in the run's folder, where the server reads it

    def add_checkpoint(self, entry: CheckpointEntry) -> None:
        self.store.add_checkpoint(
            self._run_id, id=entry.id, step=entry.step, path=entry.path, kind=entry.kind,
            metrics=entry.metrics, metadata=entry.metadata, size=entry.size,
            sha256=entry.sha256, host=entry.host)
        if entry.is_best:
            self.store.mark_best(entry.id)  # with its checkpoint_best event

    def mark_best(self, ck_id: str) -> None:
        self.store.mark_best(ck_id)

    def set_checkpoint_valid(self, ck_id: str, valid: bool, reason: str | None) -> None:
        self.store.set_checkpoint_valid(ck_id, valid, reason)

    def delete_checkpoint(self, ck_id: str, reason: str) -> None:
        try:
            self.store.delete_checkpoint(ck_id, reason=reason)
        except NotFound:
            pass  # deleted meanwhile (the dashboard, the CLI)

    # -- commands ------------------------------------------------------------------------

    def start_following(self) -> None:
        if self._follower is not None:
            self._early = self._follower.new(self.store.list_commands(self._run_id,
                                                                      limit=FOLLOW_LIMIT))

    def take_commands(self) -> list[Command]:
        if self._follower is not None:
            early, self._early = self._early, []
            return early + self._follower.new(self.store.list_commands(self._run_id,
                                                                       limit=FOLLOW_LIMIT))
        if self.store.has_pending_commands(self._run_id):
            return self.store.take_pending_commands(self._run_id)
        return []

    def finish_command(self, cmd_id: str, *, ok: bool, result: Any,
                       error: str | None) -> None:
        self.store.finish_command(cmd_id, ok=ok, result=result, error=error)

    # -- the end -------------------------------------------------------------------------

    def pull_with(self, pull: Callable[[], threading.Event]) -> None:
        pass  # every write is in the store at once

    @property
    def drained(self) -> bool:
        return True

    def close(self) -> None:
        if self._owns:
            self._owns = False
            self.store.close()


class EmbeddedLocator:
    """Runs in one store. Opening a run reaps the store's stale runs first (a run whose
    process was killed stays ``running`` until some reader of the store notices)."""

    def __init__(self, store: Store, files: RunFiles, *, owns_store: bool) -> None:
        self.store = store
        self._files = files
        self._owns = owns_store

    @property
    def files(self) -> RunFiles:
        return self._files

    def find_run(self, project: str, name: str) -> str | None:
        runs, _ = self.store.list_runs(project=project, search=name, limit=100_000)
        return next((r.id for r in runs if r.name == name), None)

    def backend(self, run_id: str, *, rank: int = 0) -> EmbeddedBackend:
        self.store.reap_stale()
        owns, self._owns = self._owns, False  # the backend closes the store now
        return EmbeddedBackend(self.store, run_id, owns_store=owns, follow_commands=rank > 0)

    def close(self) -> None:
        if self._owns:
            self._owns = False
            self.store.close()
