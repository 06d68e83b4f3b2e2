"""What every importer shares: a run per source, written once, with its original times.

An importer (``tensorboard.py``; an MLflow one alike) reads a source run — a folder of
event files, an MLflow run — and hands its points, images and config to an
:class:`ImportedRun`, then commits. The core guarantees:

* **One run per source.** The run's id is derived from the source's identity
  (:func:`run_id_for`: a digest of e.g. ``"tensorboard:" + absolute folder path`` or
  ``"mlflow:" + tracking URI + run id``), so importing the same source again finds the
  same run instead of making another.
* **Exactly once, resumable.** Each commit is one batch applied by the store's exactly-once
  path (``Store.apply_batch``, in one transaction): the points, the images, the config,
  and an ``import`` event whose payload records how far the source was read (the
  importer's *cursor*: any JSON, e.g. ``{file: bytes read}`` or ``{key: last step}``). The
  batch id is derived from the source and the cursor, so a commit repeated after a crash
  applies nothing twice. :attr:`ImportedRun.cursor` hands the last cursor back: a source
  that has not changed since is skipped ("already imported"), one that grew is read from
  where the last import stopped, so only its new points are added.
* **Original times.** Points keep their wall times (seconds since the epoch) and steps as
  the source recorded them; a (key, step) written twice keeps the last value, as
  everywhere in the store.
* **Bulk speed.** Points go to the store as numpy columns in one write per commit (no
  per-point Python work, no SDK queue), which is the fastest correct path: the SDK's
  ``run.log(..., time=)`` would cost a Python call per step and a background thread.

Use::

    importer = Importer(store, files)              # files: RunFiles (media go there)
    run = importer.open(Source(key="mlflow:" + uri + ":" + run_id, project="p",
                               name="run name", config={...}, tags=["mlflow"]))
    if run.cursor == new_cursor:                   # nothing new since the last import
        ...  # "already imported"
    run.add_points("loss", steps, times, values)   # array-likes; any number of calls
    run.add_image("samples", step, png_bytes, ext="png", caption=None)
    run.set_config({"lr": 0.1})                    # merged into the run's config
    result = run.commit(new_cursor)                # one transaction; a CommitResult

``progress`` (a callable taking a number of points) is called as points are committed, for
a progress bar (the CLI's is rich's, as ``traindeck export`` shows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from traindeck.runfiles import RunFiles
from traindeck.store import Batch, NotFound, Store
from traindeck.store.batch_wire import MediaItem
from traindeck.store.codec import dumps

#: The kind of the event that records each import on the run.
IMPORT_EVENT: Final = "import"
#: Runs imported from a source are made with this status (they are not running).
IMPORTED_STATUS: Final = "completed"
_MEDIA_KEY_MAX: Final = 128


def run_id_for(source_key: str) -> str:
    """The run id of a source: ``imp-`` and 24 hex digits of its key's SHA-256."""
    return "imp-" + hashlib.sha256(source_key.encode()).hexdigest()[:24]


def media_key(key: str) -> str:
    """A source's image tag as a media key (no ``/``, ``..`` or leading ``.``)."""
    out = key.replace("/", ".").replace("\\", ".")
    while ".." in out:
        out = out.replace("..", ".")
    out = out.lstrip(".") or "media"
    return "".join(c if ord(c) >= 32 else "_" for c in out)[:_MEDIA_KEY_MAX]


@dataclass(slots=True)
class Source:
    """One source run: its identity (``key``) and what the traindeck run is called."""

    key: str
    project: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    #: Shown in the ``import`` event (e.g. the folder or the tracking URI).
    origin: str = ""


@dataclass(slots=True, frozen=True)
class CommitResult:
    run_id: str
    #: Points and images this commit added (0 when the batch was applied before).
    points: int
    images: int
    #: Whether the run was made by this commit.
    created: bool
    #: False when the same commit had been applied already.
    applied: bool


class ImportedRun:
    """The traindeck run of one source, gathering what one commit writes."""

    def __init__(self, importer: Importer, source: Source, cursor: Any, exists: bool) -> None:
        self._importer = importer
        self.source = source
        self.run_id = run_id_for(source.key)
        #: The cursor of the last commit (None: never imported).
        self.cursor = cursor
        #: Whether the run is in the store already.
        self.exists = exists
        self._cols: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                                         npt.NDArray[np.float64]]]] = {}
        self._media: list[MediaItem] = []
        self._media_counts: dict[tuple[str, int], int] = {}
        self._config: dict[str, Any] = {}

    @property
    def pending_points(self) -> int:
        return sum(len(s) for parts in self._cols.values() for s, _, _ in parts)

    def add_points(self, key: str, steps: Any, times: Any, values: Any) -> None:
        """Points of ``key``: integer steps, wall times (seconds since the epoch), values
        (NaN and ±Inf kept), three array-likes of one length."""
        s = np.asarray(steps, dtype=np.int64)
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if not len(s) == len(t) == len(v):
            raise ValueError(f"{key!r}: steps, times and values differ in length")
        if len(s):
            self._cols.setdefault(key, []).append((s, t, v))

    def add_image(self, key: str, step: int, data: bytes, *, ext: str,
                  caption: str | None = None) -> None:
        """An encoded image (``ext``: png, jpg, gif or webp) at ``step`` under ``key``
        (made a media key: :func:`media_key`)."""
        mkey = media_key(key)
        n = self._media_counts.get((mkey, step), 0)
        self._media_counts[(mkey, step)] = n + 1
        self._media.append(MediaItem(mkey, int(step), f"{step}_{n}.{ext}", data, caption))

    def set_config(self, config: Mapping[str, Any]) -> None:
        """Merge ``config`` into the run's config (written with the next commit)."""
        self._config.update(config)

    def commit(self, cursor: Any) -> CommitResult:
        """Write what was added, and ``cursor`` (how far the source was read), at once."""
        return self._importer.commit(self, cursor)

    def take(self) -> tuple[dict[str, tuple[Any, Any, Any]], list[MediaItem], dict[str, Any]]:
        cols = {k: (np.concatenate([p[0] for p in parts]),
                    np.concatenate([p[1] for p in parts]),
                    np.concatenate([p[2] for p in parts]))
                for k, parts in self._cols.items()}
        media, config = self._media, self._config
        self._cols, self._media, self._config = {}, [], {}
        return cols, media, config


class Importer:
    """Imports source runs into ``store`` (images under ``files``)."""

    def __init__(self, store: Store, files: RunFiles | None = None, *,
                 progress: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.files = files or RunFiles(store.files_root)
        self.progress = progress

    def open(self, source: Source) -> ImportedRun:
        """The run of ``source`` (made by its first commit), with its last cursor."""
        run_id = run_id_for(source.key)
        try:
            self.store.get_run(run_id)
        except NotFound:
            return ImportedRun(self, source, None, exists=False)
        return ImportedRun(self, source, last_cursor(self.store, run_id), exists=True)

    def commit(self, run: ImportedRun, cursor: Any) -> CommitResult:
        cols, media, config = run.take()
        points = sum(len(c[0]) for c in cols.values())
        src = run.source
        digest = hashlib.sha256(dumps([src.key, run.cursor, cursor])).hexdigest()[:40]
        batch = Batch(f"import:{digest}", metrics=cols, media=media,
                      events=[(IMPORT_EVENT, {"source": src.key, "origin": src.origin,
                                              "points": points, "images": len(media),
                                              "cursor": cursor})])
        if not run.exists:
            batch.run = {"project": src.project, "name": src.name,
                         "config": {**src.config, **config}, "tags": list(src.tags)}
            batch.status = IMPORTED_STATUS
        elif config:
            merged = {**self.store.get_run(run.run_id).config, **config}
            batch.update = {"config": merged}
        applied = self.store.apply_batch(run.run_id, batch, self.files)
        created = not run.exists
        run.exists = True
        run.cursor = cursor
        if self.progress is not None and points:
            self.progress(points)
        if not applied:
            return CommitResult(run.run_id, 0, 0, False, False)
        return CommitResult(run.run_id, points, len(media), created, True)


def last_cursor(store: Store, run_id: str, page: int = 500) -> Any:
    """The cursor of the run's last ``import`` event (None: none)."""
    after, last = 0, None
    while True:
        events = store.list_events(run_id, after_seq=after, limit=page, kind=IMPORT_EVENT)
        if not events:
            return last
        last = events[-1].payload.get("cursor")
        after = events[-1].seq
        if len(events) < page:
            return last


__all__ = ["IMPORTED_STATUS", "IMPORT_EVENT", "CommitResult", "ImportedRun", "Importer",
           "Source", "last_cursor", "media_key", "run_id_for"]
