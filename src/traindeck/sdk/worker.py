"""The run's background thread: it does all the I/O so that ``log()`` never waits.

Each tick (every ``tick`` seconds on the clock, or at once when woken) it drains the run's
queue into one store transaction (points grouped by key, with the summary and a
heartbeat; the records become columns in ``columns.py``, with C-level building blocks so
that the GIL is held briefly and the training thread barely waits), writes what the
training thread submitted (statuses, config, command results, in order), polls for commands
and samples system load.

Failures are sorted in two: *transient* ones (``backend.TRANSIENT``: the engine is busy or
away, the disk is full) keep everything in memory and are retried with backoff, so nothing
is dropped while the process lives; anything else is a value that can never be written,
which is reported and dropped so that it cannot block what comes after it. ``flush()`` hands
the worker a fence (:meth:`Worker.fence`) and waits until everything queued before it is
committed (remote: acknowledged by the server).

Everything goes to the run's *backend* (``backend.py``): the store itself (embedded), or
the run's durable spool, which a sender thread drains to the server (remote, offline). The
worker knows nothing of the ``Run``: it is given the queues it drains and a callback for
the commands it receives. ``stop()`` drains everything; if the backend stays unwritable for
``STOP_GRACE`` seconds while stopping, the worker says loudly what was NOT saved and ends.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ..store import Command, NotFound
from ..store.images import image_size, write_atomic
from .backend import TRANSIENT, Backend, MediaFile
from .columns import Columns, take_all
from .media import PendingImage
from .policy import FailurePolicy
from .system import SystemSampler

#: Seconds a stopping worker keeps retrying an unwritable store before it gives up.
STOP_GRACE: Final = 30.0
#: Longest wait between two tries of a failing write (seconds).
RETRY_MAX: Final = 5.0


class Worker(threading.Thread):
    """Drains ``points`` (``(step, time, values)``, as ``log()`` queues them) and
    ``lines`` (``(time, stream, text)``, redacted here with ``redact``) into ``backend``;
    hands received commands to ``on_command``."""

    def __init__(self, backend: Backend, *, points: deque[tuple[Any, float, Any]],
                 lines: deque[tuple[float, str, str]], redact: Callable[[str, str], str],
                 on_command: Callable[[Command], None], policy: FailurePolicy,
                 media_folder: Callable[[str], Path] | None,
                 sampler: SystemSampler | None, tick: float, heartbeat_interval: float,
                 command_interval: float, system_interval: float | None, system_step: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name=f"traindeck-{backend.run_id}", daemon=True)
        self.backend = backend
        self.points = points
        self.lines = lines
        self.redact = redact
        self.on_command = on_command
        self.policy = policy
        self.media_folder = media_folder  # a key's folder (RunFiles.media); None: none
        self.sampler = sampler
        self.tick = tick
        self._phase = (os.getpid() * 0.6180339887) % 1.0 * tick  # this process's ticks
        self.heartbeat_interval = heartbeat_interval
        self.command_interval = command_interval
        self.system_interval = system_interval
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending = Columns(policy.warn)  # converted points not yet committed
        self._lines: list[tuple[float, str, str]] = []  # redacted lines not yet committed
        # The newest whole summary not yet written (None: nothing to write).
        self._summary: dict[str, Any] | None = None
        self._summary_lock = threading.Lock()
        self._fences: list[threading.Event] = []
        self._new_fences: deque[threading.Event] = deque()  # fence() since the last drain
        self._pulls: deque[threading.Event] = deque()  # pull() since the last drain
        self._system_step = system_step
        self._backoff = 0.0
        self._retry_at = 0.0
        self._failing_since: float | None = None
        self.outbox: deque[tuple[str, Callable[[], Any]]] = deque()  # (what, backend call)
        self.gave_up = False
        self.batches = 0
        #: ``time.monotonic()`` of the last drain that took points (``nudge`` compares).
        self.points_at = -float("inf")

    # -- called from other threads -------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def nudge(self) -> None:
        """``log()`` put a point in an empty queue: written now if no points were taken
        for a tick (a script logging less often than every tick does not wait for the
        next one), else with the next tick's batch as before (one logging faster keeps
        its batches)."""
        if time.monotonic() - self.points_at >= self.tick:
            self._wake.set()

    def pull(self) -> threading.Event:
        """Write the points held now without waiting for the tick (the run's sender is
        about to send); the event is set once they are written (not acknowledged)."""
        done = threading.Event()
        self._pulls.append(done)
        self._wake.set()
        return done

    def fence(self, fence: threading.Event) -> None:
        """Set ``fence`` once every point queued before this call is written."""
        self._new_fences.append(fence)
        self._wake.set()

    def submit(self, what: str, call: Callable[[], Any]) -> None:
        """Run a backend call on this thread, in order with the points. ``call`` must only
        capture values that are already encoded: it may be retried."""
        self.outbox.append((what, call))
        self._wake.set()

    def submit_image(self, image: PendingImage, n: int) -> None:
        """Encode and write an image (``n``: how many images of its key and step this run
        logged before it), then record it; in order with everything else."""
        folder = self.media_folder(image.key) if self.media_folder is not None else None
        name: list[str] = []  # chosen once: a retried write keeps its file name

        def save() -> None:
            data = image.encoded()
            if not name:
                i = n
                while folder is not None and (folder / f"{image.step}_{i}{image.ext}").exists():
                    i += 1
                name.append(f"{image.step}_{i}{image.ext}")
            if folder is not None:
                write_atomic(folder / name[0], data)
            size = image_size(data)
            self.backend.write_media(MediaFile(
                key=image.key, step=image.step, filename=name[0], data=data,
                caption=image.caption, width=None if size is None else size[0],
                height=None if size is None else size[1]))

        self.submit(f"saving image {image.key!r}", save)

    def set_summary(self, summary: dict[str, Any]) -> None:
        """The run's whole (encoded) summary; written with the next batch of points."""
        with self._summary_lock:
            self._summary = summary
        self._wake.set()

    def stop(self) -> None:
        """Drain everything and end (returns after at most ``STOP_GRACE`` of failures)."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    @property
    def idle(self) -> bool:
        return (not self.points and not self._new_fences and not self._pending
                and self._summary is None
                and not self.outbox and not self.lines and not self._lines)

    def _written(self) -> bool:
        return (not self._pending and self._summary is None and not self.outbox
                and not self._lines and self.backend.drained)

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        next_beat = next_cmd = next_sys = 0.0
        sampler = self.sampler
        while True:
            stopping = self._stopping.is_set()
            now = self.clock()
            # answered once this turn's points are written
            pulls = take_all(self._pulls) if self._pulls else ()
            try:
                if sampler is not None and self.system_interval and now >= next_sys:
                    next_sys = now + self.system_interval
                    self._sample(sampler, now)
                beat = now >= next_beat
                if beat:
                    next_beat = now + self.heartbeat_interval
                # calls run after the points logged before them: every such point is in
                # the queue once a call is in the outbox, so count the calls first
                calls = len(self.outbox)
                self._flush(now, beat)
                self._flush_lines(now)
                if not self._pending:  # else the points wait for a retry, and so do they
                    self._drain_outbox(calls)
                if not stopping and now >= next_cmd:
                    next_cmd = now + self.command_interval
                    self._poll_commands()
            except Exception as exc:  # never let the thread die
                self._failed(now, exc, "background writer")
            for done in pulls:
                done.set()
            if self._fences and self._written():
                self._release_fences()
            if stopping and self.idle:
                break
            if (stopping and self._failing_since is not None
                    and now - self._failing_since > STOP_GRACE):
                self._give_up()
                break
            self._wake.wait(self._until_tick() if not stopping else min(self.tick, 0.05))
            self._wake.clear()
        try:
            self.backend.close()  # remote: waits a little for the spool to reach the server
        except Exception as exc:
            self.policy.report("closing the connection", exc, raise_in_strict=False)
        self._fences += take_all(self._new_fences)  # a flush() racing with the end
        self._fences += take_all(self._pulls)
        self._release_fences()

    def _until_tick(self) -> float:
        """Seconds to the next tick. Ticks fall on multiples of ``tick`` of the monotonic
        clock (shifted by a phase of this process's own), so that the runs of a process
        spool their batches together and its sender (``courier.py``) sends them in one
        request; other processes' ticks fall elsewhere."""
        if self.tick <= 0:  # no tick: drain at once, as before
            return 0.0
        return self.tick - (time.monotonic() + self._phase) % self.tick

    def _release_fences(self) -> None:
        fences, self._fences = self._fences, []
        for fence in fences:
            fence.set()

    def _failed(self, now: float, exc: BaseException, what: str) -> None:
        if self._failing_since is None:
            self._failing_since = now
        self._backoff = min(max(self._backoff * 2, 0.25), RETRY_MAX)
        self._retry_at = now + self._backoff
        self.policy.report(what, exc, raise_in_strict=False)

    def _ok(self) -> None:
        self._failing_since = None
        self._backoff = 0.0
        self._retry_at = 0.0

    def _give_up(self) -> None:
        self._drain_queue()
        points = len(self._pending)
        try:
            print(
                f"traindeck: ERROR: the store stayed unwritable for {STOP_GRACE:.0f} s while "
                f"run {self.backend.run_id} was finishing; NOT saved: {points} points, "
                f"{'the summary, ' if self._summary is not None else ''}"
                f"{len(self.outbox)} updates "
                "(status, config, command results).",
                file=sys.stderr, flush=True,
            )
        except Exception:
            pass
        self.gave_up = True
        self._release_fences()

    def _sample(self, sampler: SystemSampler, now: float) -> None:
        values = sampler.sample()
        step = self._system_step
        self._system_step += 1
        add = self._pending.add_point
        for k, v in values.items():
            add(k, step, now, v)

    def _drain_queue(self) -> None:
        # Fences first: every point queued before a fence is in the queue by now.
        if self._new_fences:
            self._fences += take_all(self._new_fences)
        taken = take_all(self.points)  # step, time, values, step…
        if taken:
            self.points_at = time.monotonic()
            self._pending.add_flat(taken)

    def _flush(self, now: float, beat: bool) -> None:
        self._drain_queue()
        if not self._pending and not beat and self._summary is None:
            return
        if now < self._retry_at:
            return
        with self._summary_lock:
            summary, self._summary = self._summary, None
        series = self._pending.arrays()
        try:
            self.backend.write_points(series, summary=summary, heartbeat=now)
        except TRANSIENT as exc:
            with self._summary_lock:
                if self._summary is None:
                    self._summary = summary
            self._failed(now, exc, "writing metrics")
            return
        except NotFound as exc:
            # The run was deleted from the dashboard: nothing can be written any more.
            self.policy.report("writing metrics (run deleted?)", exc, raise_in_strict=False)
        except Exception as exc:
            # Not a passing condition: retrying would block every later point forever.
            self.policy.report("writing metrics (dropped)", exc, raise_in_strict=False)
        self._ok()
        self._pending.clear()
        self.batches += 1

    def _flush_lines(self, now: float) -> None:
        """Write the captured console lines (redacted here, off the training thread)."""
        logs = self.lines
        if logs:
            redact = self.redact
            lines = self._lines
            popleft = logs.popleft
            while True:
                try:
                    t, stream, text = popleft()
                except IndexError:
                    break
                lines.append((t, stream, redact(text, stream)))
        if not self._lines or now < self._retry_at:
            return
        try:
            self.backend.write_logs(self._lines)
        except TRANSIENT as exc:
            self._failed(now, exc, "writing console lines")
            return
        except Exception as exc:
            self.policy.report("writing console lines (dropped)", exc, raise_in_strict=False)
        self._ok()
        self._lines = []

    def _drain_outbox(self, limit: int) -> None:
        for _ in range(limit):
            if not self.outbox:
                return
            what, call = self.outbox[0]
            try:
                call()
            except TRANSIENT as exc:
                self._failed(self.clock(), exc, what)
                return  # the file is locked or the disk full: try again next tick
            except Exception as exc:
                self.policy.report(what, exc, raise_in_strict=False)
            self.outbox.popleft()

    def _poll_commands(self) -> None:
        for cmd in self.backend.take_commands():
            self.on_command(cmd)
