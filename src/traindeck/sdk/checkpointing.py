"""Checkpoints from inside the training script: the machinery behind the ``Run`` methods.

``Run.save_checkpoint`` writes the file in the training thread, atomically (temp name,
fsync, rename), and its sidecar (``<file>.json``, only inside the run's folder: nothing is
ever written beside a file elsewhere); hashing, the record, the best mark and retention
happen on the run's background thread, so a multi-GB file never delays ``log()``. Records
go to the run's backend, so a remote run's checkpoints reach its server (with the batch
they ride in, exactly once). Paths are recorded as ``RunFiles.stored_path`` says: relative
to the run's folder when inside it, absolute otherwise; everything handed back to the
script is absolute.

A failing writer never raises into the training loop: the failure is reported once under
the run's failure policy (``strict`` raises), no temporary file is left, and the call
returns None.

The :class:`Checkpointer` knows nothing of the ``Run``: it is given the backend, the run's
folder layout, a way to queue work on the background thread and the last logged step. It
writes files, serves the save handler (the dashboard's button, the emergency save) and reads
checkpoints back; ``checkpoint_records.py`` records them on the background thread (hash,
best mark, retention); ``checkpoint_options.py`` checks ``init()``'s checkpoint arguments.
"""

from __future__ import annotations

import inspect
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..checkpoints import (
    BYTES_EXT,
    DEFAULT_EXT,
    format_name,
    parse_name,
    read_sidecar,
    remove_stale_temps,
    save_object,
    sort_by_step,
    verify,
    write_sidecar,
)
from ..checkpoints.verify import KEY_FAILURES
from ..runfiles import RunFiles
from ..store import CHECKPOINT_KINDS, Checkpoint
from ..store.codec import jsonable
from ..store.ids import new_id
from .backend import Backend
from .checkpoint_options import (
    KIND_SUFFIX,
    CheckpointOptions,
    LastCheckpoint,
    RunIdentity,
    SaveHandler,
    clean_metrics,
)
from .checkpoint_records import InFlight, Recorder
from .policy import FailurePolicy


class Checkpointer:
    """One per run. ``backend`` and ``files`` are None for a disabled run (files are
    written, nothing is recorded). ``leader`` False: a rank above 0 of a distributed job
    (``ranks.py``), which writes and records nothing (saves answer None, the save handler
    still runs for the ``checkpoint`` command, as collective saves need) but reads the
    run's checkpoints like rank 0."""

    def __init__(self, identity: RunIdentity, *, backend: Backend | None,
                 files: RunFiles | None, policy: FailurePolicy,
                 submit: Callable[[str, Callable[[], Any]], None],
                 last_step: Callable[[], int], flush: Callable[[], bool],
                 signal_name: Callable[[], str | None],
                 options: CheckpointOptions | None = None, leader: bool = True) -> None:
        self.identity = identity
        self.leader = leader
        self.backend = backend
        self.files = files
        self.policy = policy
        self.submit = submit
        self._last_step = last_step
        self._flush = flush
        self._signal_name = signal_name
        self.options = options or CheckpointOptions()
        self.handler: SaveHandler | None = None
        self.emergency_path: Path | None = None
        self._emergency_done = False
        self._emergency_step: int | None = None
        self._saved: list[Path] = []  # what save/log recorded while the handler ran
        self._in_flight = InFlight()
        self._host = socket.gethostname()
        self._swept = False
        self._saved_here = False  # a checkpoint recorded by this process
        self._recorder = None if backend is None or not leader else Recorder(
            identity, backend=backend, files=files, options=self.options, policy=policy,
            host=self._host, folder=self.folder, in_flight=self._in_flight)

    # -- where -------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        if self.options.dir is not None:
            return self.options.dir
        if self.files is not None:
            return self.files.checkpoints(self.identity.run_id)
        return Path.cwd() / "checkpoints"

    def last_logged_step(self) -> int:
        return max(0, self._last_step())

    def resolved(self, ck: Checkpoint) -> Checkpoint:
        """The record with its path as the script sees it (absolute)."""
        if self.files is None:
            return ck
        path = self.files.resolve(self.identity.run_id, ck.path)
        return replace(ck, path=os.path.abspath(path))

    def _inside_run(self, path: Path) -> bool:
        return self.files is not None and self.files.inside_run(self.identity.run_id, path)

    # -- saving ------------------------------------------------------------------

    def save(self, obj: Any, step: int | None, metrics: Mapping[str, Any] | None,
             metadata: Mapping[str, Any] | None, kind: str, ext: str | None) -> Path | None:
        """Write and record; None (reported) when the writer or the arguments fail."""
        if not self.leader:
            return None
        try:
            if self._emergency_step is not None and kind == "regular":
                kind = "emergency"
                step = self._emergency_step if step is None else step
            step = self._check(step, kind)
            if ext is None:
                ext = BYTES_EXT if isinstance(obj, bytes | bytearray | memoryview) else DEFAULT_EXT
            path = self.folder / format_name(step, KIND_SUFFIX[kind], self.options.template, ext)
        except (TypeError, ValueError) as exc:
            self.policy.report("save_checkpoint()", exc)
            return None
        self._sweep()
        self._in_flight.add(path)
        try:
            save_object(obj, path)
        except Exception as exc:
            self._in_flight.discard(path)
            self.policy.report("save_checkpoint() writing the file", exc)
            return None
        except BaseException:
            self._in_flight.discard(path)
            raise
        if kind == "emergency":
            self.emergency_path = path
        return self._register(path, step, metrics, metadata, kind)

    def log(self, path: str | os.PathLike[str], step: int | None,
            metrics: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
            kind: str) -> Path | None:
        """Record a file the script wrote; None (reported) when it cannot be."""
        if not self.leader:
            return None
        try:
            if self._emergency_step is not None and kind == "regular":
                kind = "emergency"
                step = self._emergency_step if step is None else step
            p = Path(path).expanduser().absolute()
            if not p.exists():
                raise FileNotFoundError(f"log_checkpoint(): no file or folder {p}")
            if step is None:
                parsed = parse_name(p, self.options.template)
                step = parsed.step if parsed is not None else None
            step = self._check(step, kind)
        except (TypeError, ValueError, OSError) as exc:
            self.policy.report("log_checkpoint()", exc)
            return None
        self._in_flight.add(p)
        return self._register(p, step, metrics, metadata, kind)

    def _sweep(self) -> None:
        """Once per run: delete temporaries that killed writers left in the folder (never
        on a follower rank: rank 0 may be writing there, on another host)."""
        if self._swept or not self.leader:
            return
        self._swept = True
        try:
            remove_stale_temps(self.folder)
        except OSError as exc:
            self.policy.report("clearing stale checkpoint temporaries", exc,
                               raise_in_strict=False)

    def _check(self, step: int | None, kind: str) -> int:
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"unknown checkpoint kind {kind!r}; one of {CHECKPOINT_KINDS}")
        if step is None:
            return self.last_logged_step()
        if isinstance(step, bool) or not hasattr(step, "__index__") or int(step) < 0:
            raise ValueError(f"a checkpoint step is an integer >= 0, got {step!r}")
        return int(step.__index__())

    def _register(self, path: Path, step: int, metrics: Mapping[str, Any] | None,
                  metadata: Mapping[str, Any] | None, kind: str) -> Path:
        self._saved_here = True
        ident = self.identity
        info: dict[str, Any] = {
            "step": step, "kind": kind, "metrics": clean_metrics(metrics),
            "metadata": jsonable(dict(metadata or {})), "time": time.time(),
            "host": self._host, "run_id": ident.run_id, "project": ident.project,
            "run_name": ident.name, "file": path.name,
        }
        sidecar = self._inside_run(path)
        if sidecar:
            try:
                write_sidecar(path, info)
            except OSError as exc:
                self.policy.report("writing a checkpoint sidecar", exc, raise_in_strict=False)
        self._saved.append(path)
        recorder = self._recorder
        if recorder is None:
            self._in_flight.discard(path)
            return path
        ck_id = new_id()
        # The process may be about to end: hash an emergency save now, in this thread,
        # rather than race the background thread's shutdown.
        digest = recorder.digest(path) if kind == "emergency" else None
        self.submit("recording a checkpoint",
                    lambda: recorder.record(ck_id, path, info, digest, sidecar))
        return path

    # -- the save handler ----------------------------------------------------------

    def set_handler(self, fn: SaveHandler) -> None:
        if not callable(fn):
            raise TypeError("on_checkpoint() takes a function")
        self.handler = fn

    def _call(self, fn: SaveHandler, step: int) -> tuple[Any, list[Path]]:
        """Call the handler; what it returned, and what it saved itself meanwhile."""
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        takes_step = "step" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        before = len(self._saved)
        obj = fn(step=step) if takes_step else fn()
        return obj, self._saved[before:]

    def _keep(self, obj: Any, saved: list[Path], step: int, meta: dict[str, Any],
              kind: str) -> Path | None:
        """Save what the handler returned, unless it saved through the run itself."""
        if isinstance(obj, str | os.PathLike):
            p = Path(obj).expanduser().absolute()
            if any(p == s for s in saved):
                return p
            return self.log(p, step, None, meta, kind)
        if obj is None:
            return saved[-1] if saved else None
        return self.save(obj, step, None, meta, kind, None)

    def command_save(self, step: int | None = None) -> dict[str, Any]:
        """The dashboard's ``checkpoint`` button: call the handler, save at ``step``."""
        if self.handler is None:
            raise RuntimeError("no save handler: register one with run.on_checkpoint(fn)")
        s = self.last_logged_step() if step is None else step
        obj, saved = self._call(self.handler, s)
        if not self.leader:
            return {"path": None, "step": s}  # rank 0 saves and answers
        path = self._keep(obj, saved, s, {"reason": "command"}, "regular")
        if path is None:
            raise RuntimeError("the save handler returned nothing and saved no checkpoint"
                               if obj is None and not saved else
                               "the checkpoint could not be saved (see the run's output)")
        return {"path": str(path), "step": s}

    def emergency(self, status: str) -> Path | None:
        """Call the save handler once, at the last logged step, as ``_emergency``.

        SIGTERM and SIGINT are ignored while it runs (a second Ctrl-C must not leave a half
        file), then the previous handlers come back."""
        if self.handler is None or self._emergency_done or not self.leader:
            return None
        self._emergency_done = True
        step = self.last_logged_step()
        restore: list[tuple[int, Any]] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    prev = signal.getsignal(sig)
                    if prev is not None:
                        signal.signal(sig, signal.SIG_IGN)
                        restore.append((sig, prev))
                except (ValueError, OSError):
                    pass
        self._emergency_step = step
        try:
            meta: dict[str, Any] = {"reason": status}
            sig_name = self._signal_name()
            if sig_name is not None:
                meta["signal"] = sig_name
            obj, saved = self._call(self.handler, step)
            path = self._keep(obj, saved, step, meta, "emergency")
            if path is not None:
                self.emergency_path = path
            return self.emergency_path
        except BaseException as exc:
            self.policy.report("the emergency checkpoint", exc if isinstance(
                exc, Exception) else RuntimeError(repr(exc)), raise_in_strict=False)
            return None
        finally:
            self._emergency_step = None
            for signum, prev in restore:
                try:
                    signal.signal(signum, prev)
                except (ValueError, OSError, TypeError):
                    pass

    # -- reading back --------------------------------------------------------------

    def list(self) -> list[Checkpoint]:
        if self.backend is None:
            return []
        self._flush()
        try:
            return [self.resolved(c) for c in self.backend.list_checkpoints()]
        except Exception as exc:
            self.policy.report("listing checkpoints", exc, raise_in_strict=False)
            return []

    def mark_best(self, which: str | os.PathLike[str] | int) -> Checkpoint | None:
        """Mark a recorded checkpoint (by path, or the newest at a step) as the best."""
        if self.backend is None or not self.leader:
            return None
        for ck in self.list():
            if isinstance(which, int):
                hit = ck.step == which and not isinstance(which, bool)
            else:
                hit = os.path.abspath(ck.path) == os.path.abspath(os.fspath(which))
            if hit:
                self.backend.mark_best(ck.id)
                return replace(ck, is_best=True)
        raise ValueError(f"this run recorded no checkpoint {which!r}")

    def last(self, expected_keys: Sequence[str] | None = None) -> LastCheckpoint | None:
        """The newest checkpoint that verifies; invalid ones are flagged. A launch resumed
        from a chosen checkpoint gets that one until this process saves its own."""
        self._sweep()
        known = self.list()
        candidates = known
        chosen = self.options.resume_from
        if chosen and not self._saved_here:
            want = os.path.abspath(chosen if self.files is None
                                   else self.files.resolve(self.identity.run_id, chosen))
            # Not a checkpoint of this run (or gone): the newest, as without a choice.
            candidates = [c for c in known
                          if c.id == chosen or os.path.abspath(c.path) == want] or known
        backend = self.backend
        for ck in candidates:
            if ck.valid is False:
                continue
            ok, reason = verify(ck, expected_keys=expected_keys)
            try:
                if backend is not None:
                    if not ok and not reason.startswith(KEY_FAILURES):
                        # Keys the caller expects are its own test; only a broken file is
                        # flagged for everyone.
                        backend.set_checkpoint_valid(ck.id, False, reason)
                    elif ck.valid is None and expected_keys is None:
                        backend.set_checkpoint_valid(ck.id, True, reason)
            except Exception as exc:
                self.policy.report("flagging a checkpoint", exc, raise_in_strict=False)
            if ok:
                return LastCheckpoint(Path(ck.path), ck.step, dict(ck.metadata))
        return self._last_on_disk(expected_keys, {os.path.abspath(c.path) for c in known})

    def _last_on_disk(self, expected_keys: Sequence[str] | None,
                      known: set[str]) -> LastCheckpoint | None:
        """Files in the checkpoint folder that no record knows (written by a run without
        traindeck, or whose records were lost)."""
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return None
        for p in sort_by_step(entries, template=self.options.template, descending=True):
            if os.path.abspath(p) in known:
                continue
            side = read_sidecar(p) or {}
            sha = side.get("sha256") if isinstance(side.get("sha256"), str) else None
            ok, _ = verify(SimpleNamespace(path=os.path.abspath(p), sha256=sha),
                           expected_keys=expected_keys)
            if ok:
                parsed = parse_name(p, self.options.template)
                step = parsed.step if parsed is not None else 0
                meta = side.get("metadata")
                return LastCheckpoint(Path(p), step, dict(meta) if isinstance(meta, dict) else {})
        return None
