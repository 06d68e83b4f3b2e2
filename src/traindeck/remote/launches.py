"""What both executors on hosts (:class:`~traindeck.remote.ssh_executor.SSHExecutor`,
:class:`~traindeck.remote.slurm_login.SlurmLogins`) do alike, written once: their launches by
key, each with a thread of its own; the hosts' shared links (:class:`~traindeck.remote.links.
LinkPool`) and a reverse forward that moved; the start that checks what it can here and
hands the rest to that thread; what an adopted state file says (a launch stopped before its
process or job existed is failed with what to do, an ended one is reported, a running one
is followed again); release and close; and the Executor protocol's calls that only read the
launch (``poll``, ``error``, ``state``).

A subclass names its state file, the launch it keeps (:meth:`HostLaunches._launch`), what
its thread does (:meth:`~HostLaunches._work`, :meth:`~HostLaunches._follow`) and its
messages; the rest of the protocol (``detail``, ``started``, ``group_alive``, how a signal
is queued) is its own.
"""

from __future__ import annotations

import logging
import secrets
import signal as signals
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec
from traindeck.remote import job
from traindeck.remote.context import L, LaunchContext
from traindeck.remote.deploy import Cancelled, RemoteSettings
from traindeck.remote.errors import SSHError
from traindeck.remote.links import LinkPool, target_of
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.remote.ssh_state import SSHState, read_state
from traindeck.remote.tracked import Reporter
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

log = logging.getLogger(__name__)
ENDED = ("ended", "failed")


class HostLaunches(Generic[L]):
    """The shared part of an executor on hosts (see the module docstring). ``hosts``: the
    store's ``get_host``; ``known_hosts``: traindeck's known_hosts file; ``server``: the
    address the reverse forwards lead to (the server's own); ``files``: where runs'
    artifacts go; ``wheel``: a traindeck wheel to install on a host that lacks it."""

    #: The launch's state file, beside its local exit file.
    STATE_FILE: ClassVar[str]
    #: Stages of a state file before the process (job) exists on the host.
    UNSTARTED: ClassVar[frozenset[str]]
    #: Why a launch naming no host is refused.
    NO_HOST: ClassVar[str]
    #: The launch threads' names start so.
    THREAD: ClassVar[str]
    #: What a cancel came before ("started", "was submitted").
    CANCELLED_BEFORE: ClassVar[str]
    #: The state's ``runner`` from the start (``None``: known once the process runs).
    RUNNER: ClassVar[str | None] = None
    #: Fields every handle's ``extra`` has besides ``host``, ``key`` and ``state_file``.
    EXTRA: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, *, hosts: Callable[[str], Host], known_hosts: Path,
                 server: tuple[str, int], files: RunFiles,
                 wheel: Callable[[], Path] | None = None, probe_interval: float = 3.0,
                 ssh_wait_s: float = 300.0, mirror_interval: float = 0.5,
                 status_interval: float = 5.0, scratch: Path | None = None,
                 link_options: Mapping[str, Any] | None = None,
                 local_pythons: Iterable[str] = (sys.executable,),
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._hosts, self._known_hosts, self._wall = hosts, known_hosts, wall
        self._pool = LinkPool(probe_interval=probe_interval, wait_s=ssh_wait_s,
                              options=link_options, on_moved=self._moved)
        self._ctx: LaunchContext[L] = LaunchContext(
            acquire=self._acquire, release=self._pool.release, host=self._host,
            upload_lock=self._upload_lock, files=files, server=server,
            scratch=scratch or Path(tempfile.gettempdir()), wheel=wheel,
            pythons=tuple(local_pythons), wait_s=ssh_wait_s, mirror_s=mirror_interval,
            retry_s=max(1.0, probe_interval), status_s=status_interval, clock=clock)
        self._launches: dict[str, L] = {}
        self._upload_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- what a subclass says --------------------------------------------------------------

    def _launch(self, st: SSHState, state_file: Path, stdout: Path, stderr: Path,
                exit_file: Path, target: SSHTarget) -> L:
        """The subclass's launch for a state (new, or read again by adopt)."""
        raise NotImplementedError

    def _check(self, spec: ProcessSpec) -> None:
        """More checks of a start's spec, before its host is looked up."""

    def _work(self, la: L) -> None:
        """The launch's thread for a new launch: to its host, started, followed."""
        raise NotImplementedError

    def _follow(self, la: L) -> None:
        """The launch's thread for an adopted launch that runs: followed to its end."""
        raise NotImplementedError

    def _stopped_while(self, st: SSHState) -> str:
        """Why an adopted launch in an :attr:`UNSTARTED` stage fails."""
        raise NotImplementedError

    def _reconnecting(self, st: SSHState) -> str:
        """An adopted running launch's line until its thread says more."""
        return f"reconnecting to {st.host}"

    def _let_go(self, la: L) -> None:
        """More to let go of when a launch is released."""

    def _closing(self) -> None:
        """More to close with the executor, after its launches' threads are told to stop."""

    # -- starting ------------------------------------------------------------------------

    def _state_path(self, exit_file: str | Path) -> Path:
        return Path(exit_file).with_name(self.STATE_FILE)

    def start(self, spec: ProcessSpec) -> Handle:
        if not spec.argv:
            raise ExecutorError("the command is empty")
        if not spec.host:
            raise ExecutorError(self.NO_HOST)
        self._check(spec)
        host = self._host(spec.host)
        if not spec.cwd.is_dir():
            raise ExecutorError(f"the working folder {spec.cwd} does not exist")
        settings = RemoteSettings.parse(spec.remote, spec.cwd)
        for path in (spec.stdout, spec.stderr, spec.exit_file):
            path.parent.mkdir(parents=True, exist_ok=True)
        spec.exit_file.unlink(missing_ok=True)
        run_id = spec.env.get("TRAINDECK_RUN_ID", "")
        key = job.launch_key(run_id or "run", secrets.token_hex(3))
        st = SSHState(host=host.name, key=key, started_at=self._wall(), run_id=run_id,
                      result_patterns=list(settings.results), runner=self.RUNNER)
        la = self._launch(st, self._state_path(spec.exit_file), spec.stdout, spec.stderr,
                          spec.exit_file, target_of(host, self._known_hosts))
        la.spec, la.settings, la.line = spec, settings, f"connecting to {host.name}"
        la.save()
        self._spawn(la, self._work)
        return self._handle(la)

    def _host(self, name: str) -> Host:
        try:
            return self._hosts(name)
        except ExecutorError:
            raise
        except Exception as exc:  # the store's NotFound: its message says what to do
            raise ExecutorError(str(exc)) from None

    def _handle(self, la: L) -> Handle:
        return Handle(pid=la.st.pid or 0, start_time=la.st.started_at, stdout=str(la.stdout),
                      stderr=str(la.stderr), exit_file=str(la.exit_file),
                      extra={**self.EXTRA, "host": la.st.host, "key": la.key,
                             "state_file": str(la.state_file)})

    def _spawn(self, la: L, work: Callable[[L], None]) -> None:
        with self._lock:
            self._launches[la.key] = la
        la.thread = threading.Thread(target=self._guarded, args=(la, work),
                                     name=f"{self.THREAD}-{la.key}", daemon=True)
        la.thread.start()

    def _guarded(self, la: L, work: Callable[[L], None]) -> None:
        try:
            work(la)
        except Exception as exc:
            if la.stop.is_set() and la.cancel is None:
                # The executor is closing (the server stops), not a cancel: the state file
                # stays as it is for the next server's adopt, which says what happened.
                log.info("launch %s on %s left at its stage %s (the executor closed): %s",
                         la.key, la.st.host, la.st.stage, exc)
                return
            if isinstance(exc, Cancelled):
                sig = la.cancel or signals.SIGTERM
                la.fail(f"cancelled before it {self.CANCELLED_BEFORE} on {la.st.host}",
                        code=-sig)
            elif isinstance(exc, ExecutorError):
                la.fail(str(exc))
            else:
                log.exception("launch %s on %s failed", la.key, la.st.host)
                la.fail(f"the launch on {la.st.host} failed unexpectedly: {exc}")

    def _acquire(self, la: L, report: Reporter | None = None) -> SSHLink:
        """The host's shared link, which becomes the launch's (``report``: the wait for
        SSH is its line, and a cancel stops it)."""
        def waiting(seconds: float) -> None:
            if report is not None:
                report.check()
            la.line = (f"waiting for SSH on {la.target.host}:{la.target.port} "
                       f"({seconds:.0f} s)")

        link = self._pool.acquire(la.target, on_wait=waiting)
        la.link = link
        return link

    def _upload_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._upload_locks.setdefault(host, threading.Lock())

    def _moved(self, host: str, old: int, new: int) -> None:
        with self._lock:
            launches = [la for la in self._launches.values()
                        if la.st.host == host and la.st.remote_port == old]
        for la in launches:
            log.warning("the metrics tunnel of launch %s on %s moved from port %s to %s "
                        "(taken); its %s still sends to %s and spools meanwhile",
                        la.key, host, old, new, la.RUNS, old)
            with la.lock:
                la.st.remote_port = new
                la.save()

    # -- the Executor protocol -------------------------------------------------------------

    def _get(self, handle: Handle) -> L | None:
        with self._lock:
            return self._launches.get(str(handle.extra.get("key", "")))

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        la = self._get(handle)
        if la is None:
            st = read_state(self._state_path(handle.exit_file))
            if st is not None and st.stage in ENDED:
                return True, st.exit_code
            return False, None
        with la.lock:
            return la.ended, la.code

    def error(self, handle: Handle) -> str | None:
        """Why the launch could not run, or be followed (``None``: it ran, or runs)."""
        la = self._get(handle)
        return la.error if la is not None else None

    def state(self, handle: Handle) -> SSHState | None:
        """The launch's state file as it is now (for tests and the API)."""
        return read_state(self._state_path(handle.exit_file))

    def signal(self, handle: Handle, sig: int) -> None:
        self._act(handle, "signal", sig)

    def kill(self, handle: Handle) -> None:
        self._act(handle, "kill", signals.SIGKILL)

    def _act(self, handle: Handle, kind: str, sig: int) -> None:
        raise NotImplementedError

    def _known(self, key: str) -> Handle | None:
        """The handle of a launch followed here already (an adopt of it again)."""
        with self._lock:
            la = self._launches.get(key)
            return self._handle(la) if la is not None else None

    def _take_up(self, st: SSHState, state_file: Path, stdout: str, stderr: str,
                 exit_file: str) -> Handle:
        """An adopted launch, as its state says (see the module docstring)."""
        try:
            target = target_of(self._host(st.host), self._known_hosts)
        except ExecutorError:
            target = SSHTarget(st.host, st.host, "?", self._known_hosts)
        la = self._launch(st, state_file, Path(stdout), Path(stderr), Path(exit_file), target)
        if st.stage in self.UNSTARTED:
            with self._lock:
                self._launches[la.key] = la
            la.fail(self._stopped_while(st))
        elif st.stage in ENDED:
            la.ended, la.code, la.error = True, st.exit_code, st.error
            la.line = f"failed: {st.error}" if st.stage == "failed" else "ended"
            with self._lock:
                self._launches[la.key] = la
        else:
            la.line = self._reconnecting(st)
            self._spawn(la, self._follow)
        return self._handle(la)

    def release(self, handle: Handle) -> None:
        with self._lock:
            la = self._launches.pop(str(handle.extra.get("key", "")), None)
        if la is None:
            return
        la.stop.set()
        la.wake.set()
        self._let_go(la)
        link, port = la.link, la.st.remote_port
        if link is not None:
            if port is not None and la.forwarded:
                try:
                    link.cancel_forward(port)
                except (SSHError, OSError, TimeoutError):
                    pass
            la.link = None
            self._pool.release(la.st.host)

    def close(self) -> None:
        """Let go of every launch (they run on; a new executor adopts them) and every link."""
        with self._lock:
            launches, self._launches = list(self._launches.values()), {}
        for la in launches:
            la.stop.set()
            la.wake.set()
        self._closing()
        self._pool.close()
