"""Slurm launches through a cluster's login node: the part of the Slurm executor for a
launch that names a ``host`` (a ``traindeck hosts`` record). :class:`~traindeck.launch.
slurm.SlurmExecutor` hands such launches (and every later call for their handles) to a
:class:`SlurmLogins`.

- **One link and one Slurm executor per login node.** The host's SSH link is shared by its
  launches (:class:`~traindeck.remote.links.LinkPool`: waits for the port, connects with
  retries, reconnects with backoff). ``sbatch``/``squeue``/``scontrol``/``scancel`` run
  there through a :class:`~traindeck.launch.slurm.SlurmExecutor` whose runner is that link
  (:class:`~traindeck.remote.ssh_runner.SSHRunner`): one ``squeue`` per refresh for all of
  the host's jobs, Slurm's pending reason, signals to the job's steps, exit status from the
  job's exit file or Slurm, exactly as on this machine.
- **start** returns at once; the launch's own thread brings code and data to the login node
  and submits the job, then follows it (:mod:`~traindeck.remote.slurm_login_work`).
  :meth:`detail` says where it stands: "waiting for SSH on login:22 (12 s)", "uploading
  45% (12/26 MB)", "preparing …", then Slurm's "pending: Resources (…)", "running on
  node1"; :meth:`started` is ``False`` until Slurm runs the job; a start that failed ends
  the launch with no exit status and the reason in :meth:`error` (and the console).
- **The batch script, its env file (0600, read and deleted by the script: the token is on
  no command line and not in ``scontrol`` output), the job's ``--output``/``--error`` and
  exit file** live in the launch's folder on the login node (``WORKDIR/launches/<key>/.td``);
  the output is mirrored into the local console files, so the launcher's console capture
  works as for any launch.
- **Metrics** come home through a reverse forward of the server's port on the login node's
  loopback (``TRAINDECK_URL=http://127.0.0.1:<port>`` in the job's environment). A job on
  the login node itself (a one-node cluster, or a login node that is also a compute node)
  reaches it; a job on another compute node does not: its SDK spools to disk
  (``TRAINDECK_DIR`` is on the shared file system) and the run shows its console and exit
  but no live metrics.
- **State**: ``slurm-login.json`` beside the local exit file (an
  :class:`~traindeck.remote.ssh_state.SSHState`: host, launch folder, job id as ``pid``,
  forwarded port, console bases, stage ``connecting`` → ``uploading`` → ``preparing`` →
  ``submitting`` → ``queued`` → ``running`` → ``ended``/``failed``). :meth:`adopt` (a new
  server) reads it, reconnects and follows the job again; a launch whose server stopped
  before its job was submitted is failed with what to do.
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
from typing import Any, Final

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec
from traindeck.launch.slurm import SlurmExecutor
from traindeck.launch.slurm_script import SlurmResources
from traindeck.remote import job
from traindeck.remote.deploy import Cancelled, RemoteSettings
from traindeck.remote.errors import SSHError
from traindeck.remote.links import LinkPool, target_of
from traindeck.remote.slurm_login_work import (
    LoginLaunch,
    LoginNode,
    WorkEnv,
    follow_job,
    submit,
)
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.remote.ssh_runner import SSHRunner
from traindeck.remote.ssh_state import SSHState, read_state
from traindeck.remote.tracked import Reporter
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

log = logging.getLogger(__name__)
STATE_FILE: Final = "slurm-login.json"
#: Stages before the job exists in Slurm's queue.
UNSUBMITTED: Final = frozenset({"connecting", "uploading", "preparing", "submitting"})
_CANCELLING: Final = frozenset({signals.SIGTERM, signals.SIGINT, signals.SIGHUP,
                                signals.SIGKILL})


def state_path(exit_file: str | Path) -> Path:
    return Path(exit_file).with_name(STATE_FILE)


class SlurmLogins:
    """Slurm launches through login nodes (see the module docstring). ``hosts``: the
    store's ``get_host``; ``known_hosts``: traindeck's known_hosts file; ``server``: the
    address the reverse forwards lead to (the server's own); ``files``: where runs'
    artifacts go; ``wheel``: a traindeck wheel to install where it is missing."""

    #: It is the Slurm executor's part for login nodes (an :class:`Executor` of its own).
    name = "slurm"

    def __init__(self, *, hosts: Callable[[str], Host], known_hosts: Path,
                 server: tuple[str, int], files: RunFiles,
                 wheel: Callable[[], Path] | None = None, probe_interval: float = 3.0,
                 ssh_wait_s: float = 300.0, mirror_interval: float = 0.5,
                 refresh_s: float = 1.0, timeout_s: float = 30.0, scratch: Path | None = None,
                 link_options: Mapping[str, Any] | None = None,
                 local_pythons: Iterable[str] = (sys.executable,),
                 wall: Callable[[], float] = time.time) -> None:
        self._hosts, self._known_hosts = hosts, known_hosts
        self._refresh_s, self._timeout_s, self._wall = refresh_s, timeout_s, wall
        self._pool = LinkPool(probe_interval=probe_interval, wait_s=ssh_wait_s,
                              options=link_options, on_moved=self._moved)
        self._env = WorkEnv(acquire=self._acquire, release=self._pool.release, host=self._host,
                            upload_lock=self._upload_lock, files=files, server=server,
                            scratch=scratch or Path(tempfile.gettempdir()), wheel=wheel,
                            pythons=tuple(local_pythons), wait_s=ssh_wait_s,
                            mirror_s=mirror_interval, retry_s=max(1.0, probe_interval))
        self._nodes: dict[str, LoginNode] = {}
        self._launches: dict[str, LoginLaunch] = {}
        self._upload_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- starting ------------------------------------------------------------------------

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None:
        """Before anything is made: the resources are Slurm's, and the host is known."""
        SlurmResources.parse(resources)
        if host:
            self._host(host)

    def start(self, spec: ProcessSpec) -> Handle:
        if not spec.argv:
            raise ExecutorError("the command is empty")
        if not spec.host:
            raise ExecutorError("a launch through a login node names its host")
        SlurmResources.parse(spec.resources)
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
                      result_patterns=list(settings.results), runner="slurm")
        la = LoginLaunch(key, st, state_path(spec.exit_file), spec.stdout, spec.stderr,
                         spec.exit_file, target_of(host, self._known_hosts), spec=spec,
                         settings=settings, line=f"connecting to {host.name}",
                         node=self._node(host.name))
        la.save()
        self._spawn(la, self._submit_and_follow)
        return self._handle(la)

    def _host(self, name: str) -> Host:
        try:
            return self._hosts(name)
        except ExecutorError:
            raise
        except Exception as exc:  # the store's NotFound: its message says what to do
            raise ExecutorError(str(exc)) from None

    def _node(self, name: str) -> LoginNode:
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                holder: list[LoginNode] = []
                runner = SSHRunner(name, lambda: holder[0].link if holder else None)
                node = LoginNode(name, SlurmExecutor(runner, refresh_s=self._refresh_s,
                                                     timeout_s=self._timeout_s))
                holder.append(node)
                self._nodes[name] = node
            return node

    def _handle(self, la: LoginLaunch) -> Handle:
        return Handle(pid=la.st.pid or 0, start_time=la.st.started_at, stdout=str(la.stdout),
                      stderr=str(la.stderr), exit_file=str(la.exit_file),
                      extra={"login": True, "host": la.st.host, "key": la.key,
                             "state_file": str(la.state_file)})

    def _spawn(self, la: LoginLaunch, work: Callable[[LoginLaunch], None]) -> None:
        with self._lock:
            self._launches[la.key] = la
        la.thread = threading.Thread(target=self._guarded, args=(la, work),
                                     name=f"slurm-login-{la.key}", daemon=True)
        la.thread.start()

    def _guarded(self, la: LoginLaunch, work: Callable[[LoginLaunch], None]) -> None:
        try:
            work(la)
        except Exception as exc:
            if la.stop.is_set() and la.cancel is None:
                # The executor closes (the server stops), no cancel: the state file stays
                # as it is for the next server's adopt, which says what happened.
                log.info("launch %s on %s left at its stage %s (the executor closed): %s",
                         la.key, la.st.host, la.st.stage, exc)
                return
            if isinstance(exc, Cancelled):
                sig = la.cancel or signals.SIGTERM
                la.fail(f"cancelled before it was submitted on {la.st.host}", code=-sig)
            elif isinstance(exc, ExecutorError):
                la.fail(str(exc))
            else:
                log.exception("launch %s on %s failed", la.key, la.st.host)
                la.fail(f"the launch on {la.st.host} failed unexpectedly: {exc}")

    def _submit_and_follow(self, la: LoginLaunch) -> None:
        submit(la, self._env)
        follow_job(la, self._env)

    def _acquire(self, la: LoginLaunch, report: Reporter | None) -> SSHLink:
        def waiting(seconds: float) -> None:
            if report is not None:
                report.check()
            la.line = (f"waiting for SSH on {la.target.host}:{la.target.port} "
                       f"({seconds:.0f} s)")

        link = self._pool.acquire(la.target, on_wait=waiting)
        la.link = link
        if la.node is not None:
            la.node.link = link
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
                        "(taken); its job still sends to %s and spools meanwhile",
                        la.key, host, old, new, old)
            with la.lock:
                la.st.remote_port = new
                la.save()

    # -- the Executor protocol -------------------------------------------------------------

    def _get(self, handle: Handle) -> LoginLaunch | None:
        with self._lock:
            return self._launches.get(str(handle.extra.get("key", "")))

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        la = self._get(handle)
        if la is None:
            st = read_state(state_path(handle.exit_file))
            if st is not None and st.stage in ("ended", "failed"):
                return True, st.exit_code
            return False, None
        with la.lock:
            return la.ended, la.code

    def group_alive(self, handle: Handle) -> bool:
        return not self.poll(handle)[0]

    def detail(self, handle: Handle) -> str | None:
        """Where the launch stands (see the module docstring); a connection that is down is
        said after Slurm's last known state."""
        la = self._get(handle)
        if la is None:
            return None
        link = la.link
        if not la.ended and la.job is not None and link is not None and not link.connected:
            return f"{la.line}; {link.state}"
        return la.line

    def started(self, handle: Handle) -> bool:
        """Whether Slurm runs (or ran) the job: past waiting for SSH, uploading, preparing
        and Slurm's queue."""
        la = self._get(handle)
        if la is None or la.ended:
            return True
        return la.st.stage == "running"

    def error(self, handle: Handle) -> str | None:
        """Why the launch could not be submitted or followed (``None``: it ran, or runs)."""
        la = self._get(handle)
        return la.error if la is not None else None

    def state(self, handle: Handle) -> SSHState | None:
        """The launch's state file as it is now (for tests and the API)."""
        return read_state(state_path(handle.exit_file))

    def signal(self, handle: Handle, sig: int) -> None:
        self._act(handle, "signal", sig)

    def kill(self, handle: Handle) -> None:
        self._act(handle, "kill", signals.SIGKILL)

    def _act(self, handle: Handle, kind: str, sig: int) -> None:
        """Queue a signal for the launch's thread (never blocks on the login node). Before
        the job is submitted a cancelling signal stops the start, SIGSTOP/SIGCONT are kept
        for the job (held in the queue, released)."""
        la = self._get(handle)
        if la is None:
            return
        with la.lock:
            if la.ended:
                return
            if la.st.pid is None:
                if sig in _CANCELLING:
                    la.cancel = sig
                elif sig in (signals.SIGSTOP, signals.SIGCONT):
                    la.paused = sig == signals.SIGSTOP
            else:
                la.actions.append((kind, sig))
        la.wake.set()

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        exit_file, stdout, stderr = (state.get(k) for k in ("exit_file", "stdout", "stderr"))
        if not (isinstance(exit_file, str) and isinstance(stdout, str)
                and isinstance(stderr, str)):
            return None
        st = read_state(state_path(exit_file))
        extra = state.get("extra")
        if st is None or (isinstance(extra, Mapping) and extra.get("key") not in (None, st.key)):
            return None  # no record, or an earlier start's
        with self._lock:
            if st.key in self._launches:
                return self._handle(self._launches[st.key])
        try:
            target = target_of(self._host(st.host), self._known_hosts)
        except ExecutorError:
            target = SSHTarget(st.host, st.host, "?", self._known_hosts)
        la = LoginLaunch(st.key, st, state_path(exit_file), Path(stdout), Path(stderr),
                         Path(exit_file), target, node=self._node(st.host))
        if st.stage in UNSUBMITTED:
            with self._lock:
                self._launches[la.key] = la
            maybe = (f"; if squeue on {st.host} shows a job named td-{st.run_id}, cancel it "
                     "(scancel)") if st.stage == "submitting" else ""
            la.fail(f"the server stopped while this launch was {st.stage} (before its job "
                    f"was known to be submitted on {st.host}); launch it again{maybe}")
        elif st.stage in ("ended", "failed"):
            la.ended, la.code, la.error = True, st.exit_code, st.error
            la.line = f"failed: {st.error}" if st.stage == "failed" else "ended"
            with self._lock:
                self._launches[la.key] = la
        else:
            la.line = f"reconnecting to {st.host} (job {st.pid})"
            self._spawn(la, lambda launch: follow_job(launch, self._env))
        return self._handle(la)

    def release(self, handle: Handle) -> None:
        with self._lock:
            la = self._launches.pop(str(handle.extra.get("key", "")), None)
        if la is None:
            return
        la.stop.set()
        la.wake.set()
        if la.job is not None and la.node is not None:
            la.node.slurm.release(la.job)
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
        """Let go of every launch (the jobs run on; a new executor adopts them), every
        login node's follower and every link."""
        with self._lock:
            launches, self._launches = list(self._launches.values()), {}
            nodes, self._nodes = list(self._nodes.values()), {}
        for la in launches:
            la.stop.set()
            la.wake.set()
        for node in nodes:
            node.slurm.close()
        self._pool.close()
