"""The ``Run``: what a training script holds. ``log()`` is its hot path.

``log()`` validates and appends ``(step, time, values)`` to an in-memory deque and returns;
it touches no lock, file or socket. Everything else happens on the run's background thread
(``worker.py``). The one thing ``log()`` may do besides is serve the dashboard: when a
command is waiting (``_gate`` set by the background thread) it runs the handler first, and
while the run is paused it blocks there until ``resume`` or ``stop``.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, TypeVar

from ..redact import Redactor
from ..runfiles import RunFiles
from ..store import RUN_STATUSES, TERMINAL_STATUSES, Checkpoint, Command
from ..store.codec import dumps, jsonable
from .backend import Backend
from .checkpointing import Checkpointer, CheckpointOptions, LastCheckpoint, RunIdentity
from .commands import (
    BUILTINS,
    CommandError,
    Handler,
    call_handler,
    describe_exception,
    redact_json,
)
from .console import ConsoleCapture
from .media import CAPTION_MAX, PendingImage, check_file, check_key, to_pixels
from .policy import FailurePolicy
from .system import SystemSampler
from .worker import Worker

_time = time.time
_NUMBER: Final = frozenset({float, int})
_UNENCODABLE: Final = object()
#: Console lines held in memory for the background thread at most (older ones are
#: dropped first when a process prints faster than they can be written).
MAX_QUEUED_LINES: Final = 100_000
F = TypeVar("F", bound=Handler)


class SyncedDict(dict[str, Any]):
    """A dict whose every change sends its whole new content to the store (via the
    background thread)."""

    def __init__(self, data: Mapping[str, Any], on_change: Callable[[dict[str, Any]], None]):
        super().__init__(data)
        self._on_change = on_change

    def _changed(self) -> None:
        self._on_change(dict(self))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def __ior__(self, other: Any) -> SyncedDict:  # type: ignore[override,misc]
        super().update(other)
        self._changed()
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()


class _ClosedQueue(deque[Any]):
    """Takes the place of the queue after ``finish()``: a late ``log()`` is reported."""

    def __init__(self, policy: FailurePolicy) -> None:
        super().__init__()
        self._policy = policy

    def append(self, item: Any) -> None:
        self._policy.report("log() after finish()", RuntimeError(
            "this run has finished; the value was not recorded"), raise_in_strict=False)


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
    ) -> None:
        self.id = run_id
        self.project = project
        self.name = name
        self.dir: Path | None = files.run_dir(run_id) if files is not None else None
        self.is_resumed = resumed
        self.should_stop = False
        # A disabled run has no backend and no worker: nothing is ever written.
        self._backend = backend
        self._policy = policy
        self._next_step = start_step
        # A disabled run keeps nothing: maxlen=0 drops appends for free.
        self._queue: deque[tuple[int, float, dict[str, Any]]] = (
            deque() if backend is not None else deque(maxlen=0)
        )
        self._gate = False
        self._paused = False
        self._inbox: deque[Command] = deque()
        self._wakeup = threading.Condition()
        self._handlers: dict[str, Handler] = {}
        self._finished = False
        self._finishing = False
        self._finish_lock = threading.RLock()
        self._signal: int | None = None
        self._stop_request: dict[str, Any] | None = None  # who pressed stop, at which step
        self._uncaught: BaseException | None = None
        self._restore: list[Callable[[], None]] = []
        self._sampler: SystemSampler | None = None
        self.config = SyncedDict(config, self._config_changed)
        self.summary = SyncedDict(summary, self._summary_changed)
        self._checkpoints = Checkpointer(
            RunIdentity(run_id, project, name), backend=backend, files=files, policy=policy,
            submit=self._submit, last_step=lambda: self._next_step - 1, flush=self.flush,
            signal_name=self._signal_name, options=checkpoint_options)
        self._worker: Worker | None = None
        # Captured console lines (time, stream, text), drained by the background thread.
        self._logs: deque[tuple[float, str, str]] = deque(
            maxlen=MAX_QUEUED_LINES if backend is not None else 0)
        self._redact = Redactor(redact_values)
        self._console: ConsoleCapture | None = None
        self._media_counts: dict[tuple[str, int], int] = {}
        if backend is not None:
            if system_interval:
                try:
                    self._sampler = SystemSampler(self.dir or ".")
                except Exception as exc:
                    policy.report("system sampling", exc, raise_in_strict=False)
            self._worker = Worker(
                backend, points=self._queue, lines=self._logs, redact=self._redact,
                on_command=self._receive_command, policy=policy,
                media_folder=(functools.partial(files.media, run_id) if files is not None
                              else None),
                sampler=self._sampler, tick=tick, heartbeat_interval=heartbeat_interval,
                command_interval=command_interval, system_interval=system_interval,
                system_step=system_step,
            )
            self._worker.start()
            self._submit("recording the offered commands", self._offer_commands)
            if capture_console:
                try:
                    logs = self._logs
                    self._console = ConsoleCapture(lambda t, st, x: logs.append((t, st, x)))
                except Exception as exc:
                    policy.report("capturing the console", exc, raise_in_strict=False)

    # -- the hot path --------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record scalar values at ``step`` (default: the last step + 1). Never blocks on I/O.

        Values are numbers (int, float, bool, numpy or torch scalars); NaN and ±Inf are kept
        exactly. Anything else is reported once and skipped (raised with ``strict=True``).
        """
        if self._gate:
            self._service()
        if step is None:
            step = self._next_step
        elif step.__class__ is not int:
            step = self._coerce_step(step)
            if step is None:
                return
        self._next_step = step + 1
        try:
            for v in data.values():
                if v.__class__ not in _NUMBER:
                    data = self._convert(data)
                    break
            else:
                data = data.copy()  # type: ignore[attr-defined]
        except AttributeError:
            if not isinstance(data, Mapping):
                self._policy.report("log()", TypeError(
                    f"log() takes a dict of metric values, got {type(data).__name__}"))
                return
            data = self._convert(data)
        self._queue.append((step, _time(), data))  # type: ignore[arg-type]

    def _coerce_step(self, step: Any) -> int | None:
        if isinstance(step, bool) or not hasattr(step, "__index__"):
            self._policy.report("log(step=...)", TypeError(
                f"step must be an integer, got {step!r}"))
            return None
        return int(step.__index__())

    def _convert(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in data.items():
            if v.__class__ in _NUMBER:
                out[k] = v
                continue
            try:
                if isinstance(v, str | bytes) or v is None:
                    raise TypeError
                out[k] = float(v)
            except (TypeError, ValueError):
                self._policy.report(f"log() of {k!r}", TypeError(
                    f"the value of {k!r} must be a number, got {type(v).__name__} {v!r:.80}"))
        return out

    def poll(self) -> bool:
        """Serve waiting commands (and block while paused); returns ``should_stop``.

        ``log()`` does this too: call ``poll()`` in loops that log rarely.
        """
        if self._gate:
            self._service()
        return self.should_stop

    # -- commands ------------------------------------------------------------------

    def command(self, name: str) -> Callable[[F], F]:
        """Register a handler for a dashboard button: ``@run.command("validate")``.

        The handler runs in the training thread at the next ``log()``/``poll()``, with the
        command's arguments as keyword arguments; what it returns is the command's result.
        """
        if not isinstance(name, str) or not name or len(name) > 100:
            raise ValueError("a command name is a string of 1 to 100 characters")
        if name in ("stop", "pause", "resume"):
            raise ValueError(f"{name!r} is built in and cannot be replaced")

        def register(fn: F) -> F:
            self._handlers[name] = fn
            self._submit("recording the offered commands", self._offer_commands)
            return fn

        return register

    @property
    def commands(self) -> list[str]:
        """The commands this run offers (built-ins and registered handlers)."""
        names = ["stop", "pause", "resume"]
        names += [n for n in self._handlers if n not in names]
        return names

    def _offer_commands(self) -> None:
        commands = self.commands
        self._call("recording the offered commands",
                   lambda b: b.update_run({"commands_offered": commands}))

    def _receive_command(self, cmd: Command) -> None:
        """Background thread: a command was delivered."""
        if cmd.name == "stop":
            # Its effect is the flag, so it is done now; a paused loop is released too.
            self.should_stop = True
            step = self._next_step - 1
            if self._stop_request is None:
                self._stop_request = {"requested_by": cmd.requested_by, "step": step,
                                      "command": cmd.id}
            result = {"should_stop": True, "step": step}
            self._call("acknowledging command 'stop'", lambda b: b.finish_command(
                cmd.id, ok=True, result=result, error=None))
        else:
            self._inbox.append(cmd)
        self._gate = True
        with self._wakeup:
            self._wakeup.notify_all()

    def _service(self) -> None:
        """Training thread: run waiting commands; block while paused."""
        self._gate = False
        while True:
            while self._inbox:
                self._run_command(self._inbox.popleft())
            if (self.should_stop or self._finished) and self._paused:
                self._paused = False
                if not self._finished:
                    self._call("resuming", lambda b: b.set_status("running"))
            if not self._paused:
                break
            self._gate = True
            with self._wakeup:
                self._wakeup.wait_for(
                    lambda: bool(self._inbox) or not self._paused or self.should_stop, 1.0
                )
        if self._inbox or self._paused:
            self._gate = True

    def _run_command(self, cmd: Command) -> None:
        ok, result, error = True, None, None
        try:
            if cmd.name == "pause":
                if not self._paused:
                    self._paused = True
                    self._call("pausing", lambda b: b.set_status("paused"))
                result = {"paused": True, "step": self._next_step - 1}
            elif cmd.name == "resume":
                if self._paused:
                    self._paused = False
                    self._call("resuming", lambda b: b.set_status("running"))
                result = {"paused": False, "step": self._next_step - 1}
            else:
                handler = self._handlers.get(cmd.name)
                if handler is None:
                    if cmd.name in BUILTINS:
                        raise CommandError(f"this run registered no {cmd.name!r} handler")
                    raise CommandError(f"this run has no command {cmd.name!r}")
                result = call_handler(handler, cmd.args)
        except Exception as exc:
            ok, result, error = False, None, describe_exception(exc)
        payload = self._encode(f"the result of command {cmd.name!r}", result)
        if payload is _UNENCODABLE:
            ok, payload, error = False, None, "the handler's result cannot be stored as JSON"
        # A handler's result or error may quote a secret (a DSN, a token): blank it.
        secrets = self._redact.values
        payload = redact_json(payload, secrets)
        error = None if error is None else redact_json(error, secrets)
        self._call(
            f"acknowledging command {cmd.name!r}",
            lambda b: b.finish_command(cmd.id, ok=ok, result=payload, error=error),
        )

    # -- state ---------------------------------------------------------------------

    def _submit(self, what: str, call: Callable[[], Any]) -> None:
        if self._worker is not None:
            self._worker.submit(what, call)

    def _call(self, what: str, call: Callable[[Backend], Any]) -> None:
        """Queue ``call(backend)`` on the background thread, in order with the points."""
        backend = self._backend
        if backend is not None:
            self._submit(what, lambda: call(backend))

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
            return _UNENCODABLE
        return encoded

    def _config_changed(self, config: dict[str, Any]) -> None:
        encoded = self._encode("config", config)
        if encoded is not _UNENCODABLE:
            self._call("saving config", lambda b: b.update_run({"config": encoded}))

    def _summary_changed(self, summary: dict[str, Any]) -> None:
        encoded = self._encode("summary", summary)
        if encoded is not _UNENCODABLE and self._worker is not None:
            self._worker.set_summary(encoded)

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
        return self._paused

    @property
    def finished(self) -> bool:
        return self._finished

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything logged or set so far is in the store; False on timeout
        (or when the store could not be written)."""
        worker = self._worker
        if worker is None or not worker.is_alive():
            return not self._queue or isinstance(self._queue, _ClosedQueue)
        fence = threading.Event()
        self._queue.append((None, 0.0, fence))  # type: ignore[arg-type]
        worker.wake()
        return fence.wait(timeout) and not worker.gave_up

    def finish(self, status: str = "completed") -> None:
        """Write everything, record the final status and stop the background thread.

        Safe to call twice, from several threads, or again after an interruption (a second
        Ctrl-C): later calls wait for the drain instead of returning before it.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")
        if status == "completed" and self._stop_request is not None:
            status = "cancelled"  # a person stopped it from the dashboard
        with self._finish_lock:
            if self._finished:
                return
            worker = self._worker
            self._stop_capture()
            if not self._finishing:
                self._finishing = True
                self._paused = False
                with self._wakeup:
                    self._wakeup.notify_all()
                if worker is not None:
                    self._submit_final(status)
            if worker is not None:
                with self._signals_deferred():
                    worker.stop()
            self._finished = True
            self._queue = _ClosedQueue(self._policy)
            for restore in reversed(self._restore):
                try:
                    restore()
                except Exception:
                    pass
            self._restore.clear()
            if worker is None:
                return
            if self._sampler is not None:
                self._sampler.close()

    def _stop_capture(self) -> None:
        console, self._console = self._console, None
        if console is not None:
            try:
                console.close()
            except Exception:
                pass

    def _submit_final(self, status: str) -> None:
        sig = self._signal_name()
        if sig is not None:
            self._call("recording the signal", lambda b: b.add_event("signal", {"signal": sig}))
        if self._uncaught is not None and status == "failed":
            text = redact_json(describe_exception(self._uncaught), self._redact.values)
            self._call("recording the error", lambda b: b.add_event("error", {"error": text}))
        stop = self._stop_request
        if status == "cancelled" and stop is not None:
            self._call("recording who stopped the run",
                       lambda b: b.add_event("stopped", stop))
        self._call(f"setting status {status}", lambda b: b.set_status(status))
        # Commands still waiting will never run now; the store expires them with the status.
        self._inbox.clear()

    @contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        """While the last points are written, SIGINT/SIGTERM only say so (main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[signal.Signals, Any] = {}

        def note(signum: int, frame: FrameType | None) -> None:
            self._signal = self._signal or signum
            try:
                print("traindeck: finishing the run (writing what is left); one moment",
                      file=sys.stderr, flush=True)
            except Exception:
                pass

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, note)
            except (ValueError, OSError):
                pass
        try:
            yield
        finally:
            for sig, handler in previous.items():
                try:
                    signal.signal(sig, handler)
                except (ValueError, OSError):
                    pass

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
        try:
            key = check_key(key)
            if step is None:
                step = max(self._next_step - 1, 0)
            elif isinstance(step, bool) or not hasattr(step, "__index__"):
                raise TypeError(f"step must be an integer, got {step!r:.80}")
            step = int(step.__index__())
            if not -(2**63) <= step < 2**63:
                raise ValueError("step must fit in 64 bits")
            if caption is not None:
                if not isinstance(caption, str):
                    raise TypeError("caption must be a string")
                caption = caption[:CAPTION_MAX]
            if isinstance(image, str | os.PathLike):
                source, ext = check_file(image)
                pending = PendingImage(key, step, caption, source=source, ext=ext)
            else:
                pending = PendingImage(key, step, caption, pixels=to_pixels(image))
        except (TypeError, ValueError, OSError) as exc:
            self._policy.report("log_image()", exc)
            return
        if self._worker is None:
            return
        n = self._media_counts.get((key, step), 0)
        self._media_counts[(key, step)] = n + 1
        self._worker.submit_image(pending, n)

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
        if "checkpoint" not in self._handlers:
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
        atexit.register(self._atexit)
        self._restore.append(lambda: atexit.unregister(self._atexit))
        previous_hook = sys.excepthook

        def excepthook(tp: type[BaseException], value: BaseException,
                       tb: TracebackType | None) -> None:
            self._uncaught = value
            previous_hook(tp, value, tb)

        sys.excepthook = excepthook

        def restore_hook() -> None:
            if sys.excepthook is excepthook:
                sys.excepthook = previous_hook

        self._restore.append(restore_hook)
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN:
            return  # the script ignores SIGTERM on purpose

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self._signal = signum
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_sigterm)

        def restore_signal() -> None:
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, previous)

        self._restore.append(restore_signal)

    def _exit_status(self, exc: BaseException | None) -> str:
        if exc is None:
            return "interrupted" if self._signal is not None else "completed"
        if isinstance(exc, KeyboardInterrupt) or self._signal is not None:
            return "interrupted"
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            return "completed"
        return "failed"

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
