"""The background-thread half of a run's checkpoints: hash the file, record it with the best
mark, complete its sidecar and apply retention.

:class:`Recorder` runs on the run's background thread (``worker.py``), so a multi-GB file
never delays ``log()``. Only a transient failure of the backend raises out of
:meth:`Recorder.record` (the worker retries the call whole); anything else is reported under
the run's failure policy. Retention deletes only what the run wrote: files inside the run's
folder or its checkpoint folder (``checkpoints.prune`` with ``roots``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..checkpoints import is_new_best, path_size, prune, sha256_file, write_sidecar
from ..runfiles import RunFiles
from ..store import Checkpoint
from .backend import Backend, CheckpointEntry
from .checkpoint_options import CheckpointOptions, RunIdentity
from .policy import FailurePolicy


class InFlight:
    """Paths being written or recorded (retention never deletes them). Thread-safe."""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    def add(self, path: Path) -> None:
        with self._lock:
            self._paths.add(str(path))

    def discard(self, path: Path) -> set[str]:
        """Forget ``path``; the paths still in flight."""
        with self._lock:
            self._paths.discard(str(path))
            return set(self._paths)


class _Rows:
    """The backend as ``checkpoints.prune`` reads it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        return self.backend.list_checkpoints()

    def delete_checkpoint(self, ck_id: str, reason: str | None = None) -> None:
        self.backend.delete_checkpoint(ck_id, reason or "retention")


class Recorder:
    """Records one run's checkpoints through its backend (see the module docstring)."""

    def __init__(self, identity: RunIdentity, *, backend: Backend, files: RunFiles | None,
                 options: CheckpointOptions, policy: FailurePolicy, host: str,
                 folder: Path, in_flight: InFlight) -> None:
        self.identity = identity
        self.backend = backend
        self.files = files
        self.options = options
        self.policy = policy
        self.host = host
        self.folder = folder
        self.in_flight = in_flight

    def stored(self, path: Path) -> str:
        if self.files is None:
            return str(path)
        return self.files.stored_path(self.identity.run_id, path)

    def digest(self, path: Path) -> tuple[int, str] | None:
        """``(size, sha256)`` of the file, or None (reported) when it cannot be read."""
        try:
            return path_size(path), sha256_file(path)
        except OSError as exc:
            self.policy.report("hashing a checkpoint", exc, raise_in_strict=False)
            return None

    def record(self, ck_id: str, path: Path, info: dict[str, Any],
               digest: tuple[int, str] | None, sidecar: bool) -> None:
        """Hash (unless ``digest`` is given), record with the best mark, complete the
        sidecar, apply retention."""
        backend = self.backend
        opts = self.options
        if digest is None:
            digest = self.digest(path)
        size, sha = digest if digest is not None else (None, None)
        best = False
        if opts.best is not None:
            current = next((c for c in backend.list_checkpoints() if c.is_best), None)
            best = is_new_best(SimpleNamespace(metrics=info["metrics"]), current, opts.best)
        backend.add_checkpoint(CheckpointEntry(
            id=ck_id, step=info["step"], path=self.stored(path), kind=info["kind"],
            metrics=info["metrics"], metadata=info["metadata"], size=size, sha256=sha,
            host=self.host, is_best=best))
        try:
            if sidecar and sha is not None:
                # Which one is best is the store's to say (it moves): not in the sidecar.
                write_sidecar(path, {**info, "id": ck_id, "size": size, "sha256": sha})
        except OSError as exc:
            self.policy.report("writing a checkpoint sidecar", exc, raise_in_strict=False)
        protect = self.in_flight.discard(path)
        files = self.files
        if files is None or (opts.keep_last is None and opts.keep_best is None):
            return
        try:
            prune(_Rows(backend), files, self.identity.run_id,
                  keep_last=opts.keep_last, keep_best=opts.keep_best, best=opts.best,
                  protect=protect, roots=[self.folder])
        except Exception as exc:
            self.policy.report("applying checkpoint retention", exc, raise_in_strict=False)
