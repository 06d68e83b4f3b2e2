"""The way from a run to where it lives: the queue ``log()`` appends to, the captured
console lines, the system sampler and the background thread (``worker.py``) that drains
them into the backend.

A :class:`Pipeline` is made only for a run that records (a disabled run has none). It
knows nothing of the ``Run``: it is given the backend, the run's folder layout, the
redactor for console lines and where delivered commands go.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from ..runfiles import RunFiles
from ..store import Command
from .backend import Backend
from .console import ConsoleCapture
from .policy import FailurePolicy
from .system import SystemSampler
from .worker import Worker

#: Console lines held in memory for the background thread at most (older ones are
#: dropped first when a process prints faster than they can be written).
MAX_QUEUED_LINES: Final = 100_000

#: ``log()`` queues each record flat, as three items (step, time, values) added by one
#: ``extend`` (atomic under the GIL): a tuple holding a dict is never untracked by
#: CPython's collector, so 100k queued tuples made every full collection walk them all,
#: ~10 ms each, in the training thread; three untracked items cost it nothing.
Point = Any


class ClosedQueue(deque[Any]):
    """Takes the place of the queue after ``finish()``: a late ``log()`` is reported."""

    def __init__(self, policy: FailurePolicy) -> None:
        super().__init__()
        self._policy = policy

    def append(self, item: Any) -> None:
        self._policy.report("log() after finish()", RuntimeError(
            "this run has finished; the value was not recorded"), raise_in_strict=False)

    def extend(self, items: Any) -> None:
        self.append(items)


class Pipeline:
    """One recording run's queue, console capture, sampler and background thread."""

    def __init__(self, backend: Backend, *, files: RunFiles | None, run_id: str,
                 policy: FailurePolicy, redact: Callable[[str, str], str],
                 on_command: Callable[[Command], None], heartbeat_interval: float,
                 system_interval: float | None, tick: float, command_interval: float,
                 system_step: int, capture_console: bool,
                 system_prefix: str = "sys/") -> None:
        self.backend = backend
        self.policy = policy
        #: ``(step, time, values)``, appended by ``log()``.
        self.points: deque[Point] = deque()
        #: Captured console lines ``(time, stream, text)``, drained by the worker.
        self.lines: deque[tuple[float, str, str]] = deque(maxlen=MAX_QUEUED_LINES)
        self.sampler: SystemSampler | None = None
        self.console: ConsoleCapture | None = None
        if system_interval:
            try:
                self.sampler = SystemSampler(files.run_dir(run_id) if files is not None
                                             else ".", prefix=system_prefix)
            except Exception as exc:
                policy.report("system sampling", exc, raise_in_strict=False)
        self.worker = Worker(
            backend, points=self.points, lines=self.lines, redact=redact,
            on_command=on_command, policy=policy,
            media_folder=(functools.partial(files.media, run_id) if files is not None
                          else None),
            sampler=self.sampler, tick=tick, heartbeat_interval=heartbeat_interval,
            command_interval=command_interval, system_interval=system_interval,
            system_step=system_step,
        )
        backend.pull_with(self.worker.pull)
        self.worker.start()
        if capture_console:
            try:
                lines = self.lines
                self.console = ConsoleCapture(lambda t, st, x: lines.append((t, st, x)))
            except Exception as exc:
                policy.report("capturing the console", exc, raise_in_strict=False)

    def submit(self, what: str, call: Callable[[], Any]) -> None:
        """Run ``call()`` on the background thread, in order with the points."""
        self.worker.submit(what, call)

    def call(self, what: str, call: Callable[[Backend], Any]) -> None:
        """Queue ``call(backend)`` on the background thread, in order with the points."""
        backend = self.backend
        self.worker.submit(what, lambda: call(backend))

    def set_summary(self, summary: dict[str, Any]) -> None:
        self.worker.set_summary(summary)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is written; False on timeout (or when the
        backend could not be written)."""
        worker = self.worker
        if not worker.is_alive():
            return not self.points
        fence = threading.Event()
        worker.fence(fence)
        return fence.wait(timeout) and not worker.gave_up

    def stop_capture(self) -> None:
        """Give the console back (what was printed is kept)."""
        console, self.console = self.console, None
        if console is not None:
            try:
                console.close()
            except Exception:
                pass

    def stop(self, deferring: Callable[[], AbstractContextManager[Any]] = nullcontext
             ) -> None:
        """Drain everything and stop the background thread (inside ``deferring()``: the
        run defers signals meanwhile), then the sampler."""
        with deferring():
            self.worker.stop()
        if self.sampler is not None:
            self.sampler.close()


