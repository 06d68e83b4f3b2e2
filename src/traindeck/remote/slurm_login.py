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

What it shares with the SSH executor (the launches' threads, links, start, adopt, release)
is :class:`~traindeck.remote.launches.HostLaunches`; what is its own is here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Final

from traindeck.launch.executor import Handle, ProcessSpec
from traindeck.launch.slurm import SlurmExecutor
from traindeck.launch.slurm_script import SlurmResources
from traindeck.remote.launches import HostLaunches
from traindeck.remote.slurm_login_work import LoginLaunch, LoginNode, follow_job, submit
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.remote.ssh_runner import SSHRunner
from traindeck.remote.ssh_state import SSHState, read_state
from traindeck.remote.tracked import Reporter
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

STATE_FILE: Final = "slurm-login.json"
#: Stages before the job exists in Slurm's queue.
UNSUBMITTED: Final = frozenset({"connecting", "uploading", "preparing", "submitting"})


class SlurmLogins(HostLaunches[LoginLaunch]):
    """Slurm launches through login nodes (see the module docstring; the constructor's
    arguments are :class:`~traindeck.remote.launches.HostLaunches`', and the host's
    ``SlurmExecutor``'s ``refresh_s`` and ``timeout_s``)."""

    #: It is the Slurm executor's part for login nodes (an :class:`Executor` of its own).
    name = "slurm"
    STATE_FILE = STATE_FILE
    UNSTARTED = UNSUBMITTED
    NO_HOST = "a launch through a login node names its host"
    THREAD = "slurm-login"
    CANCELLED_BEFORE = "was submitted"
    RUNNER = "slurm"
    EXTRA: ClassVar[Mapping[str, Any]] = {"login": True}

    def __init__(self, *, hosts: Callable[[str], Host], known_hosts: Path,
                 server: tuple[str, int], files: RunFiles,
                 wheel: Callable[[], Path] | None = None, probe_interval: float = 3.0,
                 ssh_wait_s: float = 300.0, mirror_interval: float = 0.5,
                 refresh_s: float = 1.0, timeout_s: float = 30.0, scratch: Path | None = None,
                 link_options: Mapping[str, Any] | None = None,
                 local_pythons: Iterable[str] = (sys.executable,),
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(hosts=hosts, known_hosts=known_hosts, server=server, files=files,
                         wheel=wheel, probe_interval=probe_interval, ssh_wait_s=ssh_wait_s,
                         mirror_interval=mirror_interval, scratch=scratch,
                         link_options=link_options, local_pythons=local_pythons, wall=wall)
        self._refresh_s, self._timeout_s = refresh_s, timeout_s
        self._nodes: dict[str, LoginNode] = {}

    # -- starting ------------------------------------------------------------------------

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None:
        """Before anything is made: the resources are Slurm's, and the host is known."""
        SlurmResources.parse(resources)
        if host:
            self._host(host)

    def _check(self, spec: ProcessSpec) -> None:
        SlurmResources.parse(spec.resources)

    def _launch(self, st: SSHState, state_file: Path, stdout: Path, stderr: Path,
                exit_file: Path, target: SSHTarget) -> LoginLaunch:
        return LoginLaunch(st.key, st, state_file, stdout, stderr, exit_file, target,
                           node=self._node(st.host))

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

    def _work(self, la: LoginLaunch) -> None:
        submit(la, self._ctx)
        follow_job(la, self._ctx)

    def _follow(self, la: LoginLaunch) -> None:
        follow_job(la, self._ctx)

    def _acquire(self, la: LoginLaunch, report: Reporter | None = None) -> SSHLink:
        link = super()._acquire(la, report)
        if la.node is not None:
            la.node.link = link
        return link

    def _stopped_while(self, st: SSHState) -> str:
        maybe = (f"; if squeue on {st.host} shows a job named td-{st.run_id}, cancel it "
                 "(scancel)") if st.stage == "submitting" else ""
        return (f"the server stopped while this launch was {st.stage} (before its job "
                f"was known to be submitted on {st.host}); launch it again{maybe}")

    def _reconnecting(self, st: SSHState) -> str:
        return f"reconnecting to {st.host} (job {st.pid})"

    # -- the Executor protocol -------------------------------------------------------------

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
                la.keep(sig)
            else:
                la.actions.append((kind, sig))
        la.wake.set()

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        exit_file, stdout, stderr = (state.get(k) for k in ("exit_file", "stdout", "stderr"))
        if not (isinstance(exit_file, str) and isinstance(stdout, str)
                and isinstance(stderr, str)):
            return None
        st = read_state(self._state_path(exit_file))
        extra = state.get("extra")
        if st is None or (isinstance(extra, Mapping) and extra.get("key") not in (None, st.key)):
            return None  # no record, or an earlier start's
        if (known := self._known(st.key)) is not None:
            return known
        return self._take_up(st, self._state_path(exit_file), stdout, stderr, exit_file)

    def _let_go(self, la: LoginLaunch) -> None:
        if la.job is not None and la.node is not None:
            la.node.slurm.release(la.job)

    def _closing(self) -> None:
        """Every login node's follower too."""
        with self._lock:
            nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            node.slurm.close()
