"""What happens to one Slurm launch through a login node, on the launch's own thread:
:func:`submit` brings it to the login node and submits it, :func:`follow_job` follows the
job to its end. :class:`~traindeck.remote.slurm_login.SlurmLogins` starts both.

- **submit**: wait for SSH and connect (the host's shared link), upload code and data as one
  archive unless the login node has that content already, prepare the interpreter (venv,
  traindeck, the setup command), make the launch's folder (a copy of the code, a link to the
  data), upload the config and a resume checkpoint, forward the server's port, then hand the
  job to the host's ``SlurmExecutor`` (its runner: the link), which writes the batch script
  and the 0600 env file into the launch's ``.td`` folder and runs ``sbatch`` there. The
  same steps and folders as the ssh executor (:mod:`~traindeck.remote.staging`,
  :mod:`~traindeck.remote.job`): on a cluster the login node's file system is the compute
  nodes' too, so the job finds them.
- **follow_job**: a round every ``mirror_s`` seconds: send the signals the launcher asked
  for (``scancel`` through the host's executor), copy what is new in the job's output files
  (``.td/stdout.log``, ``.td/stderr.log``, Slurm's ``--output``/``--error``) into the local
  console files (:class:`~traindeck.remote.mirror.LogMirror`), and look at the job's state
  (the host's executor asks ``squeue`` in a thread of its own). Once Slurm reports the job
  ended: the logs are copied to their end, the results downloaded, the exit code written to
  the local exit file, and only then is the launch ended. A dropped connection ends
  nothing: the link reconnects, and a link that gave up is opened again (the pieces the
  SSH executor's loop uses too: :mod:`~traindeck.remote.follow`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from traindeck.launch.executor import Handle, ProcessSpec
from traindeck.launch.slurm import SlurmExecutor
from traindeck.remote.context import LaunchContext
from traindeck.remote.errors import Disconnected, SSHError
from traindeck.remote.follow import connected_link, finish, forward
from traindeck.remote.mirror import LogMirror, drain
from traindeck.remote.ssh import SSHLink
from traindeck.remote.staging import prepare
from traindeck.remote.tracked import RemoteLaunch, Reporter

log = logging.getLogger(__name__)
#: The job's files in the launch's ``.td`` folder on the login node.
STDOUT, STDERR, EXIT = "stdout.log", "stderr.log", "exit"


@dataclass
class LoginNode:
    """One login node: its link (the launches' shared one, ``None`` before the first) and
    the Slurm executor that submits and follows jobs there through it."""

    name: str
    slurm: SlurmExecutor
    link: SSHLink | None = None


@dataclass
class LoginLaunch(RemoteLaunch):
    """A launch through a login node: :class:`RemoteLaunch` (its state file holds the job
    id as ``pid``, ``runner`` ``"slurm"``) with its node and the job's handle there."""

    RUNS: ClassVar[str] = "job"
    node: LoginNode | None = None
    #: The job as the host's executor knows it (``None``: not submitted, or not found
    #: again yet after a restart).
    job: Handle | None = None

    def job_handle(self) -> Handle:
        """The job's handle on the login node, from the state (its id and remote files)."""
        assert self.st.pid is not None
        d = self.dir
        return Handle(pid=self.st.pid, start_time=self.st.started_at,
                      stdout=d.file(STDOUT), stderr=d.file(STDERR), exit_file=d.file(EXIT),
                      extra={"job_id": str(self.st.pid)})


def submit(la: LoginLaunch, ctx: LaunchContext[LoginLaunch]) -> None:
    """Bring the launch to its login node and submit its job (see the module docstring)."""
    assert la.spec is not None and la.node is not None
    ready = prepare(la, ctx, where="the login node", job_path=True)
    d, st, report = la.dir, la.st, Reporter(la)
    report.stage("submitting", f"submitting to Slurm on {st.host}")
    report.check()
    handle = la.node.slurm.start(ProcessSpec(
        argv=ready.argv, cwd=Path(d.code), env=ready.env, stdout=Path(d.file(STDOUT)),
        stderr=Path(d.file(STDERR)), exit_file=Path(d.file(EXIT)),
        resources=la.spec.resources))
    with la.lock:
        la.job, st.pid, st.runner, st.stage = handle, handle.pid, "slurm", "queued"
        la.queue_kept()  # asked for while it was being submitted
        la.save()
        la.line = f"submitted (job {handle.pid} on {st.host})"  # once the file says so


def follow_job(la: LoginLaunch, ctx: LaunchContext[LoginLaunch]) -> None:
    """Follow the submitted job to its end (see the module docstring)."""
    assert la.node is not None
    slurm = la.node.slurm
    mirrors: list[LogMirror] | None = None
    while not la.stop.is_set():
        link = connected_link(la, ctx, None)
        if link is None:
            continue
        try:
            if not la.forwarded:
                forward(la, link, ctx.server)
            if la.job is None:
                found = slurm.adopt(la.job_handle().to_state())
                if found is None:
                    la.fail(f"job {la.st.pid} is no longer known to Slurm on {la.st.host} "
                            "and left no exit status")
                    return
                la.job = found
            _send_queued(la, slurm)
            if mirrors is None:
                d = la.dir
                mirrors = [LogMirror(d.file(STDOUT), la.stdout, la.st.stdout_base),
                           LogMirror(d.file(STDERR), la.stderr, la.st.stderr_base)]
            ended, code = slurm.poll(la.job)
            for m in mirrors:
                m.pump(link)
            if ended:
                drain(mirrors, link)
                finish(la, link, code, ctx, progress=False)
                if la.job is not None:
                    slurm.release(la.job)
                return
            if la.st.stage == "queued" and slurm.started(la.job):
                with la.lock:
                    la.st.stage = "running"
                    la.save()
            la.line = slurm.detail(la.job) or f"submitted (job {la.st.pid} on {la.st.host})"
        except Disconnected:
            pass
        except SSHError as exc:
            log.warning("following launch %s on %s: %s", la.key, la.st.host, exc)
        la.wake.wait(ctx.mirror_s)
        la.wake.clear()


def _send_queued(la: LoginLaunch, slurm: SlurmExecutor) -> None:
    """The signals the launcher asked for, to the job (``scancel`` on the login node)."""
    assert la.job is not None
    with la.lock:
        actions, la.actions = la.actions, []
    for kind, sig in actions:
        if kind == "kill":
            slurm.kill(la.job)
        else:
            slurm.signal(la.job, sig)
