"""The launcher: turns launch requests into runs and processes, and watches them.

``launch()`` resolves the template's config (invalid: ``LaunchRejected``, nothing made),
creates the run ``queued`` and its launch row; a background thread (``start()``; tests may
call :meth:`tick`) starts queued launches in order while fewer than ``concurrency`` run,
stores their console (``capture``), heartbeats their runs, and on exit sets the exit code,
the run's status (``completed``/``failed`` unless the SDK already ended it) or restarts
it (the retry policy). Cancel: SIGTERM to the process group, SIGKILL after ``grace_s``.
Pause/resume: the SDK's commands when the run offers them, else SIGSTOP/SIGCONT. Launches
still running when a server starts are adopted again (pid and start time). A local
process tree that does not sample itself gets its CPU/RAM as the run's ``sys/`` series
(``procstats``).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from traindeck.runfiles import RunFiles
from traindeck.store import Conflict, InvalidInput, NotFound, Run, Store
from traindeck.store.models import ACTIVE_LAUNCH_STATUSES, TERMINAL_STATUSES, Launch

from .admission import admit, admit_resume, launch_spec, launched
from .capture import ConsoleCapture
from .executor import (
    Executor,
    ExecutorError,
    Handle,
    RequestChecked,
    detail_of,
    error_of,
    started_of,
)
from .prepare import process_spec
from .procstats import RunTreeStats, TreeStats
from .spec import LaunchRequest, Resolve, TemplateSource
from .tracked import MAX_END_ATTEMPTS, Tracked, report_end

log = logging.getLogger("traindeck.launch")

#: After the grace period, how long a kill is given before it is sent again (seconds).
KILL_AGAIN_S: Final = 5.0
#: How often the runs of live launches are heartbeated (seconds).
HEARTBEAT_EVERY: Final = 5.0
NO_TEMPLATES: Final = ("this server has no templates folder: start it with "
                       "`traindeck serve --templates DIR`")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Launcher:
    def __init__(self, store: Store, files: RunFiles, *, url: str,
                 templates: TemplateSource | None, resolve: Resolve | None,
                 executors: Mapping[str, Executor], concurrency: int = 4,
                 auth_enabled: Callable[[], bool] = lambda: False, tick: float = 0.1,
                 clock: Callable[[], float] = time.time) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store, self.files, self.url = store, files, url
        self.templates, self._resolve = templates, resolve
        self.executors = dict(executors)
        self.concurrency, self._auth_enabled = concurrency, auth_enabled
        self._tick_s, self._clock = tick, clock
        self._active: dict[str, Tracked] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt launches left running by an earlier server, then follow in a thread."""
        with self._lock:
            self.adopt_all()
        self._thread = threading.Thread(target=self._loop, name="traindeck-launcher",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (launched processes keep running; the next server adopts them)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        for executor in self.executors.values():
            executor.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad pass must not end the launcher
                log.exception("launcher tick failed")
            self._wake.wait(self._tick_s)
            self._wake.clear()

    # -- requests -----------------------------------------------------------------------

    def launch(self, req: LaunchRequest) -> Launch:
        if req.executor not in self.executors:
            raise InvalidInput(f"unknown executor {req.executor!r}; one of "
                               f"{', '.join(sorted(self.executors))}")
        if self.templates is None or self._resolve is None:
            raise NotFound(NO_TEMPLATES)
        self._check_target(req)
        template = self.templates.get(req.template)
        resolved = self._resolve(template, list(req.overrides), req.preset)
        spec = launch_spec(req, template, resolved)
        with self._lock:
            launch = admit(self.store, req, spec, resolved.config)
        self._wake.set()
        return launch

    def _check_target(self, req: LaunchRequest) -> None:
        """Where a launch runs: its host exists, the server requires tokens (a run on another
        machine reaches it through a port forwarded there), and its executor takes its
        resources."""
        executor = self.executors[req.executor]
        if req.host is not None and req.executor == "local":
            raise InvalidInput("the local executor runs on this machine: name a host with "
                               "executor ssh (or slurm, for a login node)")
        if (req.host is not None or getattr(executor, "needs_host", False)) \
                and not self._auth_enabled():
            # The run reaches the server through a port forwarded onto the host, where any
            # user of that machine can connect: only with tokens required.
            raise InvalidInput("launching on another machine needs authentication on: the "
                               "server is reachable there through a forwarded port. Create "
                               "a token first (traindeck token create NAME --scope admin)")
        if req.host is not None:
            try:
                self.store.get_host(req.host)
            except NotFound as exc:
                raise InvalidInput(str(exc)) from None
        if isinstance(executor, RequestChecked):
            try:
                executor.check_request(req.resources, req.host)
            except ExecutorError as exc:
                raise InvalidInput(str(exc)) from None

    def resume_from(self, ck_id: str, grace_s: float | None = None) -> Launch:
        """A new launch of a checkpoint's run, with its spec and config, from that
        checkpoint (``TRAINDECK_RESUME_CHECKPOINT``): the same run continues. A run
        traindeck did not launch replays its recorded command in its recorded folder
        (``recorded``)."""
        ck = self.store.get_checkpoint(ck_id)
        with self._lock:
            launch = admit_resume(self.store, ck, self._open_launch(ck.run_id), grace_s,
                                  self._clock)
        self._wake.set()
        return launch

    def replays_recorded(self, ck_id: str) -> bool:
        """Whether resuming from this checkpoint replays a command line the run recorded
        itself (a run started by hand), rather than a launch spec the launcher wrote."""
        return not launched(self.store.get_run(self.store.get_checkpoint(ck_id).run_id))

    def _open_launch(self, run_id: str) -> Launch | None:
        open_ = self.store.list_launches(
            run_id=run_id, status=["queued", *sorted(ACTIVE_LAUNCH_STATUSES)])
        return open_[-1] if open_ else None

    def cancel(self, run_id: str) -> Run:
        with self._lock:
            launch = self._launched(run_id)
            if launch.status == "queued":
                self.store.update_launch(launch.id, status="cancelled",
                                         ended_at=self._clock())
                return self.store.set_status(run_id, "cancelled")
            if launch.status == "cancelling":
                return self.store.get_run(run_id)  # asked already: the deadline stands
            active = self._active.get(launch.id)
            if active is None:
                raise Conflict(f"run {run_id!r}'s process is not followed by this server "
                               f"(launch {launch.id} is {launch.status}); try again shortly")
            grace = float(launch.spec.get("grace_s", 10.0))
            active.executor.signal(active.handle, signal.SIGCONT)
            active.executor.signal(active.handle, signal.SIGTERM)
            active.cancel_at = self._clock() + grace
            self.store.update_launch(launch.id, status="cancelling",
                                     state={**launch.state, "cancel_at": active.cancel_at})
        self._wake.set()
        return self.store.get_run(run_id)

    def pause(self, run_id: str) -> Run:
        return self._pause_resume(run_id, pause=True)

    def resume(self, run_id: str) -> Run:
        return self._pause_resume(run_id, pause=False)

    def _pause_resume(self, run_id: str, *, pause: bool) -> Run:
        verb = "pause" if pause else "resume"
        with self._lock:
            launch = self._launched(run_id)
            wanted = "running" if pause else "paused"
            if launch.status != wanted:
                raise Conflict(f"run {run_id!r} is {launch.status}; it cannot {verb}")
            run = self.store.get_run(run_id)
            active = self._active.get(launch.id)
            self.store.update_launch(launch.id, status="paused" if pause else "running")
            if verb in run.commands_offered:
                self.store.create_command(run_id, verb, {}, requested_by="launcher")
                return self.store.get_run(run_id)
            if active is not None:
                active.executor.signal(active.handle,
                                       signal.SIGSTOP if pause else signal.SIGCONT)
            return self.store.set_status(run_id, "paused" if pause else "running")

    def _launched(self, run_id: str) -> Launch:
        self.store.get_run(run_id)  # NotFound first
        launch = self._open_launch(run_id)
        if launch is None:
            raise Conflict(f"run {run_id!r} has no launch in progress (it was not launched "
                           "by traindeck, or it has ended)")
        return launch

    # -- the background pass ----------------------------------------------------------------

    def tick(self) -> None:
        # The consoles are stored outside the lock (only this pass touches them), so that
        # a process printing 100 MB never holds up a request that needs the launcher.
        with self._lock:
            following = list(self._active.values())
        for active in following:
            if active.capture.pump():
                active.pumped = True
        with self._lock:
            for active in list(self._active.values()):
                self._follow(active)
            self._start_queued()

    def _follow(self, a: Tracked) -> None:
        if a.pumped:
            a.pumped = False
            launch = self.store.get_launch(a.launch_id)
            self.store.update_launch(a.launch_id,
                                     state={**launch.state, "offsets": a.capture.offsets()})
        now = self._clock()
        ended, code = a.executor.poll(a.handle)
        if not a.running and not ended and started_of(a.executor, a.handle):
            self._mark_running(a)
        detail = detail_of(a.executor, a.handle)
        if detail != a.detail:  # waiting for SSH, uploading, pending: Resources…
            a.detail = detail
            launch = self.store.get_launch(a.launch_id)
            self.store.update_launch(a.launch_id, state={**launch.state, "detail": detail})
        if ended:
            # What it printed up to its end is stored by the next passes, outside the lock
            # (not what a child left running keeps printing: it could go on forever).
            if a.end_sizes is None:
                a.end_sizes = a.capture.sizes()
            if not a.capture.read_up_to(a.end_sizes):
                return
        if not ended:
            if a.cancel_at is not None and now >= a.cancel_at:
                a.executor.kill(a.handle)
                a.cancel_at = now + KILL_AGAIN_S  # not every pass: a remote kill queues
            elif now - a.last_beat >= HEARTBEAT_EVERY:
                a.last_beat = now
                try:
                    self.store.heartbeat(a.run_id)
                except NotFound:
                    pass
            if a.stats is not None:
                a.stats.tick(now)
            return
        a.capture.pump(final=True)
        # An end with no exit status: the executor says why (its start failed on the way).
        error = (error_of(a.executor, a.handle) or a.detail) if code is None else None
        self._finish(a, code, error=error)

    def _finish(self, a: Tracked, code: int | None, error: str | None = None) -> None:
        """Record the end; on a store error keep following it, to try again next pass."""
        try:
            report_end(self.store, a, code, error, self._clock(), self._revoke_token)
        except Exception:
            a.end_attempts += 1
            if a.end_attempts < MAX_END_ATTEMPTS:
                if a.end_attempts == 1:
                    log.exception("the end of launch %s could not be recorded yet; retrying",
                                  a.launch_id)
                return
            log.error("giving up recording the end of launch %s", a.launch_id)
        del self._active[a.launch_id]
        if a.stats is not None:
            a.stats.close()
        a.executor.release(a.handle)

    def _start_queued(self) -> None:
        free = self.concurrency - len(self._active)
        if free <= 0:
            return
        now = self._clock()
        for launch in self.store.list_launches(status="queued", limit=free + 100):
            if free <= 0:
                break
            if float(launch.state.get("not_before", 0.0)) > now:
                continue  # a restart waiting for its backoff
            self._start(launch)
            free -= 1

    def _start(self, launch: Launch) -> None:
        executor = self.executors.get(launch.executor)
        run_id = launch.run_id
        if executor is None or run_id is None:
            self.store.update_launch(launch.id, status="failed", ended_at=self._clock(),
                                     error="its run was deleted" if run_id is None else
                                     f"no executor {launch.executor!r} on this server")
            return
        token_id, secret = None, None
        if self._auth_enabled():
            token, secret = self.store.create_token(f"launch {run_id}"[:100], "write",
                                                    run_id=run_id)
            token_id = token.id
        try:
            run = self.store.get_run(run_id)
            pspec = process_spec(self.files, run_id, launch.spec, run.config, url=self.url,
                                 token=secret,
                                 resume_checkpoint=self._resume_path(launch, run_id))
            # A new launch of a run (a resume) appends to the run's console files: what an
            # earlier launch printed there is stored already, so its capture starts at
            # their end (a restart of the same launch goes on from its own offsets).
            offsets = launch.state.get("offsets") or {
                name: _size(path) for name, path in (("stdout", pspec.stdout),
                                                     ("stderr", pspec.stderr))}
            # Marked before the start: a server that dies in between leaves a launch that
            # the next one finds again through these (``adopt_all``), not one left queued.
            self.store.update_launch(launch.id, status="starting", state={
                **launch.state, "token_id": token_id, "stdout": str(pspec.stdout),
                "stderr": str(pspec.stderr), "exit_file": str(pspec.exit_file),
                "offsets": offsets})
            launch = self.store.get_launch(launch.id)
            handle = executor.start(pspec)
        except Exception as exc:  # one bad launch must not stop the others
            if not isinstance(exc, ExecutorError | OSError | NotFound):
                log.exception("launch %s could not start", launch.id)
            if token_id is not None:
                self.store.revoke_token(token_id)
            now = self._clock()
            self.store.update_launch(launch.id, status="failed", ended_at=now,
                                     error=str(exc))
            try:
                self.store.set_status(run_id, "failed")
                self.store.write_log_lines(run_id, [(now, "stderr", f"traindeck: {exc}")])
            except NotFound:
                pass
            return
        offsets = launch.state["offsets"]
        self.store.update_launch(launch.id, state={
            **launch.state, **handle.to_state(), "offsets": offsets, "token_id": token_id})
        tracked = self._track(launch.id, run_id, handle, executor, offsets, secret)
        if started_of(executor, handle):
            self._mark_running(tracked)

    def _mark_running(self, a: Tracked) -> None:
        """The process runs (not waiting in Slurm's queue, for SSH, or for an upload any
        more): the launch and its run say so."""
        a.running = True
        launch = self.store.get_launch(a.launch_id)
        # A remote executor may not know its process's pid (0): none is recorded.
        pid = a.handle.pid or None
        if launch.status == "starting":
            self.store.update_launch(launch.id, status="running", pid=pid,
                                     started_at=launch.started_at or self._clock())
        try:
            run = self.store.get_run(a.run_id)
        except NotFound:
            return
        if run.status not in ("running", "paused") and run.status not in TERMINAL_STATUSES:
            self.store.set_status(run.id, "running", pid=pid,
                                  host=launch.spec.get("host") or socket.gethostname())

    def _resume_path(self, launch: Launch, run_id: str) -> str | None:
        """The checkpoint a start continues from: the one asked for, or on a restart the
        run's last valid one."""
        path = launch.spec.get("resume_checkpoint")
        if launch.restarts:
            valid = [c for c in self.store.list_checkpoints(run_id) if c.valid is not False]
            if valid:
                path = valid[0].path
        if path is None:
            return None
        return str(self.files.run_dir(run_id) / path)

    def _track(self, launch_id: str, run_id: str, handle: Handle, executor: Executor,
               offsets: Mapping[str, int], secret: str | None,
               cancel_at: float | None = None) -> Tracked:
        store = self.store

        def write(lines: Any) -> object:
            return store.write_log_lines(run_id, lines)

        capture = ConsoleCapture(handle.stdout, handle.stderr, write, offsets=offsets,
                                 secrets=[secret] if secret else [], clock=self._clock)
        stats = RunTreeStats(store, run_id, TreeStats(handle.pid), clock=self._clock) \
            if executor.name == "local" else None
        tracked = self._active[launch_id] = Tracked(launch_id, run_id, handle, capture,
                                                    executor, cancel_at=cancel_at,
                                                    stats=stats)
        return tracked

    def _revoke_token(self, token_id: str) -> None:
        try:
            self.store.revoke_token(token_id)
        except NotFound:
            pass

    def _revoke(self, launch: Launch) -> None:
        token_id = launch.state.get("token_id")
        if token_id:
            self._revoke_token(str(token_id))

    def adopt_all(self) -> None:
        """Take over the launches an earlier server left running."""
        for launch in self.store.list_launches(status=sorted(ACTIVE_LAUNCH_STATUSES)):
            if launch.id in self._active or launch.run_id is None:
                continue
            executor = self.executors.get(launch.executor)
            handle = executor.adopt(launch.state) if executor is not None else None
            if executor is None or handle is None:
                self._revoke(launch)
                msg = ("the server stopped while starting it, and its process is not there"
                       if launch.status == "starting" else
                       "the process ended while the server was away; its exit code is unknown")
                self.store.update_launch(launch.id, status="failed", ended_at=self._clock(),
                                         error=msg)
                run = self.store.get_run(launch.run_id)
                if run.status not in TERMINAL_STATUSES:
                    self.store.set_status(run.id, "failed")
                continue
            if launch.status == "starting":  # it did start: record what the start returned
                self.store.update_launch(launch.id,
                                         state={**launch.state, **handle.to_state()})
            cancel_at = launch.state.get("cancel_at") if launch.status == "cancelling" else None
            tracked = self._track(launch.id, launch.run_id, handle, executor,
                                  launch.state.get("offsets", {}), None,
                                  cancel_at=float(cancel_at) if cancel_at is not None else None)
            tracked.running = launch.status != "starting"
            if not tracked.running and started_of(executor, handle):
                self._mark_running(tracked)
