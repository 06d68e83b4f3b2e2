"""The ``Run``: what a training script holds. ``log()`` is its hot path.

``log()`` validates and appends ``(step, time, values)`` to an in-memory deque and returns;
it touches no lock, file or socket. Everything else happens on the run's background thread
(``worker.py``). The one thing ``log()`` may do besides is serve the dashboard: when a
command is waiting (``_gate`` set by the background thread) it runs the handler first, and
while the run is paused it blocks there until ``resume`` or ``stop``.

In a distributed job (``ranks.py``) every rank holds a ``Run`` of the same run. On a rank
above 0, ``log()`` and ``log_image()`` keep nothing unless ``log_all_ranks`` (then under
``rank{r}/``), and checkpoints and artifacts are rank 0's alone; commands are served on
every rank alike.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..redact import Redactor
from ..runfiles import RunFiles
from ..store import RUN_STATUSES, TERMINAL_STATUSES, Checkpoint
from ..store.codec import dumps, jsonable
from . import exits
from .artifacts import pending_artifact, save_artifact
from .backend import Backend
from .checkpoint_options import CheckpointOptions, LastCheckpoint, RunIdentity
from .checkpointing import Checkpointer
from .commands import (
    UNENCODABLE,
    CommandDesk,
    Handler,
    check_name,
    describe_exception,
    redact_json,
)
from .media import pending_image
from .pipeline import ClosedQueue, Pipeline
from .policy import FailurePolicy
from .ranks import Ranks
from .synced import SyncedDict
from .values import NUMBER, check_total, coerce_step, coerce_time, convert
from .worker import Worker

_time = time.time
_INF = float("inf")


def _no_nudge() -> None:
    """A run whose points go nowhere (disabled, or a silent rank) wakes no worker."""


F = TypeVar("F", bound=Handler)


class Run:
    """A training run. Made by ``traindeck.init()``; use it as a context manager."""

    def __init__(
        self,
        backend: Backend | None,
        *,
        files: RunFiles | None,
        run_id: str,
        project: str,
        name: str,
        config: Mapping[str, Any],
        summary: Mapping[str, Any],
        start_step: int,
        system_step: int,
        policy: FailurePolicy,
        heartbeat_interval: float,
        system_interval: float | None,
        tick: float,
        command_interval: float,
        resumed: bool,
        capture_console: bool = False,
        redact_values: Sequence[str] = (),
        checkpoint_options: CheckpointOptions | None = None,
        ranks: Ranks | None = None,
        log_all_ranks: bool = False,
        total_steps: int | None = None,
    ) -> None:
        self.id = run_id
        #: The steps the run expects (``init(total_steps=…)``, :meth:`set_total`).
        self.total_steps = total_steps
        self._ranks = ranks = ranks or Ranks()
        # A rank above 0 keeps its metrics only when asked to (log_all_ranks).
        self._silent = not ranks.leader and not log_all_ranks
        self.project = project
        self.name = name
        self.dir: Path | None = files.run_dir(run_id) if files is not None else None
        self.is_resumed = resumed
        self._policy = policy
        self._next_step = start_step
        # The one command flag log() reads: set when the desk has something to serve.
        self._gate = False
        self._finished = False
        self._finishing = False
        self._finish_lock = threading.RLock()
        self._signal: int | None = None
        self._uncaught: BaseException | None = None
        self._restore: list[Callable[[], None]] = []
        self._redact = Redactor(redact_values)
        self._desk = CommandDesk(call=self._call, encode=self._encode,
                                 last_step=lambda: self._next_step - 1,
                                 open_gate=self._open_gate, secrets=self._redact.values)
        self.config = SyncedDict(config, self._config_changed)
        self.summary = SyncedDict(summary, self._summary_changed)
        self._checkpoints = Checkpointer(
            RunIdentity(run_id, project, name), backend=backend, files=files, policy=policy,
            submit=self._submit, last_step=lambda: self._next_step - 1, flush=self.flush,
            signal_name=self._signal_name, options=checkpoint_options, leader=ranks.leader)
        self._media_counts: dict[tuple[str, int], int] = {}
        # A disabled run has no backend and no pipeline: nothing is ever written, and its
        # queue (maxlen=0) drops what log() appends for free.
        self._pipe: Pipeline | None = None
        self._queue: deque[Any] = deque(maxlen=0)  # step, time, values: see Pipeline.points
        self._nudge: Callable[[], None] = _no_nudge  # Worker.nudge once points go somewhere
        if backend is not None:
            self._pipe = Pipeline(
                backend, files=files, run_id=run_id, policy=policy, redact=self._redact,
                on_command=self._desk.receive, heartbeat_interval=heartbeat_interval,
                system_interval=system_interval, tick=tick,
                command_interval=command_interval, system_step=system_step,
                capture_console=capture_console, system_prefix=ranks.system_prefix)
            if not self._silent:
                self._queue = self._pipe.points
                self._nudge = self._pipe.worker.nudge
            self._desk.offer()

    @property
    def rank(self) -> int:
        """This process's rank in its job (0 outside a distributed job)."""
        return self._ranks.rank

    @property
    def world_size(self) -> int:
        """How many processes the job has (1 outside a distributed job)."""
        return self._ranks.world_size

    @property
    def _worker(self) -> Worker | None:
        return None if self._pipe is None else self._pipe.worker

    # -- the hot path --------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None,
            time: float | None = None) -> None:
        """Record scalar values at ``step`` (default: the last step + 1). Never blocks on I/O.

        Values are numbers (int, float, bool, numpy or torch scalars); NaN and ±Inf are kept
        exactly. Anything else is reported once and skipped (raised with ``strict=True``).
        ``time``: the points' wall time in seconds since the epoch (default: now), for
        importers that keep a log's original times; a time that is not a finite number
        >= 0 is reported and the call skipped.
        """
        if self._gate:
            self._service()
        if time is None:
            t = _time()
        elif time.__class__ is float and 0.0 <= time < _INF:  # NaN fails both
            t = time
        else:
            checked = coerce_time(time, self._policy)
            if checked is None:
                return
            t = checked
        if step is None:
            step = self._next_step
        elif step.__class__ is not int:
            step = coerce_step(step, self._policy)
            if step is None:
                return
        self._next_step = step + 1
        try:
            for v in data.values():
                if v.__class__ not in NUMBER:
                    data = convert(data, self._policy)
                    break
            else:
                data = data.copy()  # type: ignore[attr-defined]
        except AttributeError:
            if not isinstance(data, Mapping):
                self._policy.report("log()", TypeError(
                    f"log() takes a dict of metric values, got {type(data).__name__}"))
                return
            data = convert(data, self._policy)
        q = self._queue
        idle = not q
        q.extend((step, t, data))
        if idle:  # the first point since the worker's last drain
            self._nudge()

    def poll(self) -> bool:
        """Serve waiting commands (and block while paused); returns ``should_stop``.

        ``log()`` does this too: call ``poll()`` in loops that log rarely.
        """
        if self._gate:
            self._service()
        return self.should_stop

    # -- commands (sdk/commands.py serves them) ---------------------------------------

    @property
    def should_stop(self) -> bool:
        """True once ``stop`` came from the dashboard (or the script set it)."""
        return self._desk.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self._desk.should_stop = bool(value)

    def command(self, name: str) -> Callable[[F], F]:
        """Register a handler for a dashboard button: ``@run.command("validate")``.

        The handler runs in the training thread at the next ``log()``/``poll()``, with the
        command's arguments as keyword arguments; what it returns is the command's result.
        """
        check_name(name)

        def register(fn: F) -> F:
            self._desk.register(name, fn)
            return fn

        return register

    @property
    def commands(self) -> list[str]:
        """The commands this run offers (built-ins and registered handlers)."""
        return self._desk.names

    def _open_gate(self) -> None:
        self._gate = True

    def _service(self) -> None:
        """Training thread: run waiting commands; block while paused."""
        self._gate = False
        if self._desk.serve():
            self._gate = True

    # -- state ---------------------------------------------------------------------

    def _submit(self, what: str, call: Callable[[], Any]) -> None:
        if self._pipe is not None:
            self._pipe.submit(what, call)

    def _call(self, what: str, call: Callable[[Backend], Any]) -> None:
        """Queue ``call(backend)`` on the background thread, in order with the points."""
        if self._pipe is not None:
            self._pipe.call(what, call)

    def event(self, kind: str, payload: Mapping[str, Any] | None = None) -> None:
        """Record an event on the run (the dashboard's event list), e.g. ``run.event("alert",
        {"text": "loss is NaN"})``; written by the background thread like everything else."""
        encoded = self._encode(f"event {kind!r}", dict(payload or {}))
        self._call(f"recording the event {kind!r}", lambda b: b.add_event(kind, encoded))

    def alert(self, title: str, text: str = "", level: str = "warning") -> None:
        """Raise an alert: an event of kind ``alert`` (``rule_id`` null, ``kind`` ``sdk``)
        that the server sends to every dashboard and posts to its webhooks, like the
        alerts of its rules. ``level``: ``info``, ``warning`` or ``error``. Bad arguments
        are reported under the run's failure policy, never raised into training."""
        severity = str(level).lower() if isinstance(level, str) else ""
        severity = {"warn": "warning"}.get(severity, severity)
        if severity not in ("info", "warning", "error") or not isinstance(title, str) \
                or not isinstance(text, str):
            self._policy.report("raising an alert", ValueError(
                f"run.alert(title: str, text: str, level='info'|'warning'|'error'), not "
                f"({type(title).__name__}, {type(text).__name__}, {level!r})"))
            return
        last = self._next_step - 1
        payload = {"rule_id": None, "kind": "sdk", "key": None, "severity": severity,
                   "title": title[:1000], "text": text[:10_000],
                   "step": last if last >= 0 else None, "value": None}
        self._call("raising an alert", lambda b: b.add_event("alert", payload))

    def update(self, *, name: str | None = None, tags: Sequence[str] | None = None,
               notes: str | None = None) -> None:
        """Rename the run, or set its tags or notes (what the dashboard can edit too)."""
        fields: dict[str, Any] = {k: v for k, v in (("name", name), ("notes", notes))
                                  if v is not None}
        if tags is not None:
            fields["tags"] = [str(t) for t in tags]
        if fields:
            self._call("updating the run", lambda b: b.update_run(fields))

    def set_total(self, total_steps: int | None) -> None:
        """Set (or with ``None`` clear) the steps the run expects: the server shows its
        progress and ETA against it. A value that is not a positive integer is reported
        (raised with ``strict=True``) and ignored."""
        try:
            total = check_total(total_steps)
        except (TypeError, ValueError) as exc:
            self._policy.report("set_total()", exc)
            return
        self.total_steps = total
        self._call("setting total_steps", lambda b: b.update_run({"total_steps": total}))

    def _signal_name(self) -> str | None:
        return None if self._signal is None else signal.Signals(self._signal).name

    def _encode(self, what: str, value: Any) -> Any:
        """``value`` as it will be stored, checked now (in the caller's thread) so that a
        value that can never be written is reported here and never blocks the writer."""
        try:
            encoded = jsonable(value)
            dumps(encoded)
        except Exception as exc:
            self._policy.report(f"saving {what}", exc)
            return UNENCODABLE
        return encoded

    def _config_changed(self, config: dict[str, Any]) -> None:
        encoded = self._encode("config", config)
        if encoded is not UNENCODABLE:
            self._call("saving config", lambda b: b.update_run({"config": encoded}))

    def _summary_changed(self, summary: dict[str, Any]) -> None:
        encoded = self._encode("summary", summary)
        if encoded is not UNENCODABLE and self._pipe is not None:
            self._pipe.set_summary(encoded)

    def set_status(self, status: str) -> None:
        """Record a status; a final one (completed, failed, …) finishes the run."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")
        if status in TERMINAL_STATUSES:
            self.finish(status)
            return
        self._call(f"setting status {status}", lambda b: b.set_status(status))

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` will use."""
        return self._next_step

    @property
    def is_paused(self) -> bool:
        return self._desk.paused

    @property
    def finished(self) -> bool:
        return self._finished

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything logged or set so far is in the store; False on timeout
        (or when the store could not be written)."""
        return self._pipe is None or self._pipe.flush(timeout)

    def finish(self, status: str = "completed") -> None:
        """Write everything, record the final status and stop the background thread.

        Safe to call twice, from several threads, or again after an interruption (a second
        Ctrl-C): later calls wait for the drain instead of returning before it.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")
        if status == "completed" and self._desk.stop_request is not None:
            status = "cancelled"  # a person stopped it from the dashboard
        with self._finish_lock:
            if self._finished:
                return
            pipe = self._pipe
            if pipe is not None:
                pipe.stop_capture()
            if not self._finishing:
                self._finishing = True
                self._desk.release()
                if pipe is not None:
                    self._submit_final(status)
            if pipe is not None:
                pipe.stop(lambda: exits.signals_deferred(self._note_signal))
            self._finished = True
            self._queue = ClosedQueue(self._policy)
            self._nudge = _no_nudge
            for restore in reversed(self._restore):
                try:
                    restore()
                except Exception:
                    pass
            self._restore.clear()

    def _submit_final(self, status: str) -> None:
        sig = self._signal_name()
        if sig is not None:
            self._call("recording the signal", lambda b: b.add_event("signal", {"signal": sig}))
        if self._uncaught is not None and status == "failed":
            text = redact_json(describe_exception(self._uncaught), self._redact.values)
            self._call("recording the error", lambda b: b.add_event("error", {"error": text}))
        stop = self._desk.stop_request
        if status == "cancelled" and stop is not None:
            self._call("recording who stopped the run",
                       lambda b: b.add_event("stopped", stop))
        self._call(f"setting status {status}", lambda b: b.set_status(status))
        # Commands still waiting will never run now; the store expires them with the status.
        self._desk.inbox.clear()

    def _note_signal(self, signum: int) -> None:
        self._signal = self._signal or signum

    # -- media ----------------------------------------------------------------------

    def log_image(self, key: str, image: Any, step: int | None = None,
                  caption: str | None = None) -> None:
        """Record an image at ``step`` (default: the last step logged) under ``key``.

        ``image``: a numpy array (``HxW`` grey, ``HxWx3`` RGB, ``HxWx4`` RGBA; ``uint8``,
        ``bool``, or floats in [0, 1]), a PIL image, or the path of a ``.png``, ``.jpg``,
        ``.jpeg``, ``.gif`` or ``.webp`` file (copied). The array is copied now; encoding
        (PNG) and writing ``<run dir>/media/<key>/<step>_<n>.<ext>`` happen on the background
        thread. Bad input is reported once and skipped (raised with ``strict=True``).
        """
        if self._silent:
            return  # a rank above 0 without log_all_ranks
        try:
            if not self._ranks.leader and isinstance(key, str):
                key = self._ranks.metric_prefix + key
            pending = pending_image(key, image, max(self._next_step - 1, 0) if step is None
                                    else step, caption)
        except (TypeError, ValueError, OSError) as exc:
            self._policy.report("log_image()", exc)
            return
        if self._pipe is None:
            return
        n = self._media_counts.get((pending.key, pending.step), 0)
        self._media_counts[(pending.key, pending.step)] = n + 1
        self._pipe.worker.submit_image(pending, n)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str | None:
        """Keep a file or folder with the run, as ``<run dir>/artifacts/<name>`` (``name``:
        a relative path, default the file's name); returns that path relative to the run's
        folder. The copy (and a remote run's upload) happens on the background thread; bad
        input is reported once and skipped (None; raised with ``strict=True``)."""
        if not self._ranks.leader:
            return None  # rank 0's artifacts are the run's
        try:
            pending = pending_artifact(path, name)
        except (TypeError, ValueError, OSError) as exc:
            self._policy.report("log_artifact()", exc)
            return None
        if (run_dir := self.dir) is not None:
            self._call(f"saving artifact {pending.name!r}",
                       lambda b: save_artifact(pending, run_dir, b))
        return pending.stored

    # -- checkpoints (sdk/checkpointing.py does the work) ----------------------------

    def save_checkpoint(self, obj: Any, step: int | None = None,
                        metrics: Mapping[str, Any] | None = None,
                        metadata: Mapping[str, Any] | None = None, kind: str = "regular",
                        *, ext: str | None = None) -> Path | None:
        """Write a checkpoint safely (temp name, fsync, rename) and record it.

        ``obj``: what ``torch.save`` takes, or ``bytes``, or a ``writer(path)`` that writes
        the file (or folder) itself: ``lambda p: np.savez(p, w=w)``, ``torch.save``,
        ``safetensors``' ``save_file``, ``pickle.dump`` into ``open(p, "wb")``. ``step``
        defaults to the last step logged. The file is
        ``<checkpoint_dir>/checkpoint_step_0001234.pth`` (``.bin`` for bytes; ``_emergency``,
        ``_best``, ``_final`` after the step for those kinds). Hashing, the record, the best
        mark and retention happen on the background thread. Returns the path, or None when
        the checkpoint could not be written (reported once; raised with ``strict=True``)."""
        return self._checkpoints.save(obj, step, metrics, metadata, kind, ext)

    def log_checkpoint(self, path: str | os.PathLike[str], step: int | None = None,
                       metrics: Mapping[str, Any] | None = None,
                       metadata: Mapping[str, Any] | None = None,
                       kind: str = "regular") -> Path | None:
        """Record a checkpoint file (or folder) the script wrote itself (anywhere; its
        sidecar is written only when it lies inside the run's folder). None when it cannot
        be recorded (reported once; raised with ``strict=True``)."""
        return self._checkpoints.log(path, step, metrics, metadata, kind)

    def on_checkpoint(self, fn: Handler) -> Handler:
        """Register the script's save handler (also as a decorator): ``fn()`` (or
        ``fn(step=...)``) returns what ``save_checkpoint`` takes. The dashboard's
        ``checkpoint`` button calls it, and so does the emergency save: once, on SIGTERM,
        Ctrl-C or an uncaught exception, at the last logged step, named ``_emergency``.
        A handler may also save through ``run.save_checkpoint`` itself and return None."""
        self._checkpoints.set_handler(fn)
        if "checkpoint" not in self._desk.handlers:
            self.command("checkpoint")(self._checkpoints.command_save)
        return fn

    def last_checkpoint(self, expected_keys: Sequence[str] | None = None
                        ) -> LastCheckpoint | None:
        """``(path, step, metadata)`` of the newest checkpoint that verifies (exists, hash
        matches, loads, has ``expected_keys``), or None. Invalid ones are flagged."""
        return self._checkpoints.last(expected_keys)

    def list_checkpoints(self) -> list[Checkpoint]:
        """This run's recorded checkpoints, newest step first."""
        return self._checkpoints.list()

    def mark_best(self, checkpoint: str | os.PathLike[str] | int) -> Checkpoint | None:
        """Mark a recorded checkpoint (its path, or its step) as this run's best; retention
        never deletes it. ``ValueError`` if the run recorded no such checkpoint."""
        return self._checkpoints.mark_best(checkpoint)

    @property
    def checkpoint_dir(self) -> Path:
        """Where ``save_checkpoint`` writes (``run.dir / "checkpoints"`` by default)."""
        return self._checkpoints.folder

    def _emergency_checkpoint(self, status: str) -> None:
        if status in ("interrupted", "failed") and not self._finished:
            self._checkpoints.emergency(status)

    # -- process exit, signals, exceptions -----------------------------------------

    def _install_exit_hooks(self) -> None:
        def on_uncaught(exc: BaseException) -> None:
            self._uncaught = exc

        def on_sigterm(signum: int) -> None:
            self._signal = signum

        self._restore.extend(exits.install(on_exit=self._atexit, on_uncaught=on_uncaught,
                                           on_sigterm=on_sigterm))

    def _exit_status(self, exc: BaseException | None) -> str:
        return exits.exit_status(exc, self._signal is not None)

    def _atexit(self) -> None:
        status = self._exit_status(self._uncaught)
        self._emergency_checkpoint(status)
        self.finish(status)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt | SystemExit):
            self._uncaught = exc
        status = self._exit_status(exc)
        self._emergency_checkpoint(status)
        self.finish(status)

    def __repr__(self) -> str:
        return f"<traindeck.Run {self.id} {self.project}/{self.name}>"
