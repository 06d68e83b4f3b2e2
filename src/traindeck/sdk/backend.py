"""Where a run lives, as the SDK sees it: one narrow interface, two implementations.

A :class:`Backend` is bound to one run. The run's background thread (``worker.py``) and its
checkpointer (``checkpointing.py``) talk to nothing else:

- :class:`~traindeck.sdk.embedded.EmbeddedBackend`: the store itself (``traindeck.db``);
  each call is one store transaction.
- :class:`~traindeck.sdk.remote.RemoteBackend`: a traindeck server. Every change becomes a
  batch on the run's durable spool (``runs/<id>/spool/``) that a sender thread posts, in
  order, exactly once; the few reads are HTTP requests. Offline, the spool waits for
  ``traindeck sync``.

Failures come in two kinds. *Transient* ones (:data:`TRANSIENT`: the engine is busy or away,
``Unavailable``; the disk is full or a file is locked, ``OSError``) mean "nothing was
written, try again": the worker keeps the data and retries with backoff. Anything else is a
value that can never be written; the worker reports it and drops it so it cannot block what
comes after it.

A :class:`Locator` finds or opens runs before one is chosen (``init()``,
``resume_or_create``); it makes the run's backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from ..runfiles import RunFiles
from ..store import Checkpoint, Command, Run
from ..store.batch_schema import CheckpointBody
from ..store.codec import jsonable
from ..store.errors import Unavailable

#: Failures after which the same call may succeed later (keep the data, retry).
TRANSIENT: Final = (Unavailable, OSError)

#: ``{key: (steps, times, values)}`` as numpy arrays (int64, float64, float64).
Series = Mapping[str, tuple[Any, Any, Any]]


@dataclass(frozen=True, slots=True)
class MediaFile:
    """An image the run logged: its file is already under ``media/<key>/`` (embedded) or
    travels with it (remote)."""

    key: str
    step: int
    filename: str
    data: bytes
    caption: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class CheckpointEntry:
    """A checkpoint to record. ``id`` is chosen by the SDK, so that a record sent twice
    (a batch re-sent after a lost answer, a ``traindeck sync`` run again) is one row.
    ``path`` is in the store's form: relative to the run's folder when inside it."""

    id: str
    step: int
    path: str
    kind: str
    metrics: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    size: int | None = None
    sha256: str | None = None
    host: str | None = None
    is_best: bool = False

    def to_wire(self) -> CheckpointBody:
        """The record as a batch carries it (JSON values only)."""
        return {"id": self.id, "step": self.step, "path": self.path, "kind": self.kind,
                "metrics": jsonable(self.metrics), "metadata": jsonable(self.metadata),
                "size": self.size, "sha256": self.sha256, "host": self.host,
                "is_best": self.is_best}


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a resumed run continues: the next step of its own series and of ``sys/``."""

    step: int = 0
    system_step: int = 0


class Backend(Protocol):
    """Where one run lives (see the module docstring). Writes may raise a :data:`TRANSIENT`
    error; reads answer what they can."""

    @property
    def run_id(self) -> str: ...

    # -- what starting and resuming need ---------------------------------------------

    def read_run(self) -> Run | None:
        """The run's record, or None when there is no such run."""

    def progress(self) -> Progress:
        """The steps a resumed run continues at."""

    def create_run(self, fields: Mapping[str, Any]) -> Run:
        """Create the run (status ``running``) with ``project``, ``name`` and other fields."""

    def list_checkpoints(self) -> list[Checkpoint]:
        """The run's recorded checkpoints, newest step first (paths as stored)."""

    # -- writes, in order, from the run's background thread --------------------------

    def update_run(self, fields: Mapping[str, Any]) -> None: ...

    def set_status(self, status: str) -> None: ...

    def add_event(self, kind: str, payload: Mapping[str, Any]) -> None: ...

    def write_points(self, series: Series, *, summary: dict[str, Any] | None,
                     heartbeat: float | None) -> None:
        """Points, the whole summary (None: unchanged) and a heartbeat, together."""

    def write_logs(self, lines: list[tuple[float, str, str]]) -> None:
        """Console lines ``(time, stream, text)``, already redacted, in order."""

    def write_media(self, media: MediaFile) -> None: ...

    def upload_artifact(self, path: str, local: Path) -> None:
        """The artifact ``path`` (relative to the run's folder) whose copy in this
        machine's run folder is ``local`` (a file or folder): embedded, already in place;
        remote, uploaded to the server."""

    def add_checkpoint(self, entry: CheckpointEntry) -> None:
        """Record a checkpoint once (see :class:`CheckpointEntry`); ``is_best`` takes the
        mark from the run's others."""

    def mark_best(self, ck_id: str) -> None:
        """Make this the run's best checkpoint (one per run)."""

    def set_checkpoint_valid(self, ck_id: str, valid: bool, reason: str | None) -> None: ...

    def delete_checkpoint(self, ck_id: str, reason: str) -> None:
        """Forget a checkpoint's row (its files are deleted by the caller)."""

    # -- commands ----------------------------------------------------------------------

    def take_commands(self) -> list[Command]:
        """Commands that reached the run since the last call (marked delivered; a rank
        above 0 only reads them, see ``ranks.CommandFollower``)."""

    def finish_command(self, cmd_id: str, *, ok: bool, result: Any,
                       error: str | None) -> None: ...

    def start_following(self) -> None:
        """A rank above 0 has attached: read the run's commands now, so that every one
        sent from here on reaches it (those finished already are history). A no-op for
        rank 0's backend, which takes commands instead."""

    # -- the end -----------------------------------------------------------------------

    def pull_with(self, pull: Callable[[], threading.Event]) -> None:
        """The run's worker: ``pull()`` asks it to write what it holds now and returns an
        event set once it has. A remote run's sender pulls just before it sends, so that
        points logged since the last tick go with that request instead of waiting for the
        next; the store itself (embedded) needs nothing of it."""

    @property
    def drained(self) -> bool:
        """Whether everything written has reached its final place."""

    def close(self) -> None:
        """Finish sending what can be sent, then let go of files and connections."""


class Locator(Protocol):
    """Where runs live before one is chosen: finds runs and makes their backends."""

    @property
    def files(self) -> RunFiles:
        """The layout of run folders on this machine."""

    def find_run(self, project: str, name: str) -> str | None:
        """The id of the newest run called ``name`` in ``project``, if any."""

    def backend(self, run_id: str, *, rank: int = 0) -> Backend:
        """The backend of run ``run_id`` (which may not exist yet), for process ``rank``
        of its job: a rank above 0 reads commands without taking them and keeps its own
        spool (``ranks.py``)."""

    def close(self) -> None:
        """Let go of what the locator opened (not of the backends it made)."""
