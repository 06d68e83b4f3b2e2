"""What happens to one Slurm launch through a login node, on the launch's own thread:
:func:`submit` brings it to the login node and submits it, :func:`follow_job` follows the
job to its end. :class:`~traindeck.remote.slurm_login.SlurmLogins` starts both.

- **submit**: wait for SSH and connect (the host's shared link), upload code and data as one
  archive unless the login node has that content already, prepare the interpreter (venv,
  traindeck, the setup command), make the launch's folder (a copy of the code, a link to the
  data), upload the config and a resume checkpoint, forward the server's port, then hand the
  job to the host's ``SlurmExecutor`` (its runner: the link), which writes the batch script
  and the 0600 env file into the launch's ``.td`` folder and runs ``sbatch`` there. The
  same steps and folders as the ssh executor (:mod:`~traindeck.remote.deploy`,
  :mod:`~traindeck.remote.job`): on a cluster the login node's file system is the compute
  nodes' too, so the job finds them.
- **follow_job**: a round every ``mirror_s`` seconds: send the signals the launcher asked
  for (``scancel`` through the host's executor), copy what is new in the job's output files
  (``.td/stdout.log``, ``.td/stderr.log``, Slurm's ``--output``/``--error``) into the local
  console files (:class:`~traindeck.remote.mirror.LogMirror`), and look at the job's state
  (the host's executor asks ``squeue`` in a thread of its own). Once Slurm reports the job
  ended: the logs are copied to their end, the results downloaded, the exit code written to
  the local exit file, and only then is the launch ended. A dropped connection ends
  nothing: the link reconnects, and a link that gave up is opened again.
"""

from __future__ import annotations

import logging
import shlex
import signal as signals
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec
from traindeck.launch.slurm import SlurmExecutor
from traindeck.remote import deploy, job
from traindeck.remote.deploy import retried
from traindeck.remote.errors import Disconnected, SSHError
from traindeck.remote.mirror import LogMirror
from traindeck.remote.results import ResultFile, download_results, list_results
from traindeck.remote.ssh import SSHLink
from traindeck.remote.tracked import RemoteLaunch, Reporter, append, size
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

log = logging.getLogger(__name__)
_INPUTS = ("TRAINDECK_CONFIG", "TRAINDECK_RESUME_CHECKPOINT")
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


@dataclass(frozen=True)
class WorkEnv:
    """What the launch's thread needs of its executor."""

    acquire: Callable[[LoginLaunch, Reporter | None], SSHLink]
    release: Callable[[str], None]
    host: Callable[[str], Host]
    upload_lock: Callable[[str], threading.Lock]
    files: RunFiles
    server: tuple[str, int]
    scratch: Path
    wheel: Callable[[], Path] | None
    pythons: tuple[str, ...]
    wait_s: float
    mirror_s: float
    retry_s: float


def _home_and_path(link: SSHLink) -> tuple[str, str]:
    """The login user's home and PATH (the job's PATH: ``--export=NONE`` gives it none)."""
    done = link.run('printf "%s\\n%s" "$HOME" "$PATH"', timeout=30)
    home, _, path = done.stdout.partition("\n")
    if done.exit_status != 0 or not home.startswith("/"):
        raise ExecutorError(f"could not find the home folder on {link.target.name}")
    return home, path.strip() or "/usr/local/bin:/usr/bin:/bin"


def submit(la: LoginLaunch, env: WorkEnv) -> None:
    """Bring the launch to its login node and submit its job (see the module docstring)."""
    assert la.spec is not None and la.settings is not None and la.node is not None
    spec, settings, st, report = la.spec, la.settings, la.st, Reporter(la)
    report.stage("connecting", f"connecting to {st.host}")
    link = env.acquire(la, report)
    w = env.wait_s
    home, path = retried(link, w, "finding the home folder", lambda: _home_and_path(link))
    with la.lock:
        st.workdir = deploy.host_path(home, env.host(st.host).workdir)
        st.folder = la.dir.folder
        la.save()
    archive, reused = deploy.upload(link, settings, spec.cwd, st.workdir, env.scratch, report,
                                    env.upload_lock(st.host))
    with la.lock:
        st.fingerprint, st.reused_archive = archive.fingerprint, reused
    report.stage("preparing", "preparing (code and data " + (
        "already on the login node)" if reused else "uploaded)"))
    venv = deploy.host_path(home, settings.venv) if settings.venv else None
    python = retried(link, w, "finding python", lambda: deploy.find_python(
        link, venv, settings.python, settings.env))
    deploy.ensure_traindeck(link, python, st.workdir, env.wheel, report, settings.env)
    if settings.setup:
        report.line(f"preparing: running the setup command on {st.host}")
        deploy.run_setup(link, settings.setup, python, archive, la.stdout, settings.env)
    d = la.dir
    made = retried(link, w, "making the launch folder",
                   lambda: link.run(job.prepare_folder(d, archive), timeout=600))
    if made.exit_status != 0:
        raise ExecutorError(f"could not make the launch folder {d.folder} on {st.host}: "
                            f"{made.stderr.strip()[-500:]}")
    uploads, on_host = _inputs(spec, link, st.workdir, st.run_id, env.files)
    inputs = retried(link, w, "uploading the config",
                     lambda: deploy.upload_inputs(link, d, uploads))
    inputs.update(on_host)
    report.check()
    port = retried(link, w, "forwarding the server's port",
                   lambda: link.reverse_forward(0, *env.server))
    renv = job.remote_env(spec.env, url=f"http://127.0.0.1:{port}",
                          config=inputs.get(_INPUTS[0]), checkpoint=inputs.get(_INPUTS[1]),
                          extra=settings.env, td_dir=job.sdk_dir(st.workdir))
    renv.setdefault("PATH", f"{python.rsplit('/', 1)[0]}:{path}")
    with la.lock:
        st.python, st.remote_port, la.forwarded = python, port, True
        st.stdout_base, st.stderr_base = size(la.stdout), size(la.stderr)
    report.stage("submitting", f"submitting to Slurm on {st.host}")
    report.check()
    handle = la.node.slurm.start(ProcessSpec(
        argv=job.remote_argv(spec.argv, python, env.pythons), cwd=Path(d.code), env=renv,
        stdout=Path(d.file(STDOUT)), stderr=Path(d.file(STDERR)), exit_file=Path(d.file(EXIT)),
        resources=spec.resources))
    with la.lock:
        la.job, st.pid, st.runner, st.stage = handle, handle.pid, "slurm", "queued"
        la.line = f"submitted (job {handle.pid} on {st.host})"
        if la.cancel is not None:  # asked for while it was being submitted
            la.actions.append(("signal", la.cancel))
        elif la.paused:
            la.actions.append(("signal", signals.SIGSTOP))
        la.save()


def _inputs(spec: ProcessSpec, link: SSHLink, workdir: str, run_id: str,
            files: RunFiles) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The launch's input files: those here to upload, and a resume checkpoint that is on
    the login node already (an earlier launch's, under the SDK's folder there)."""
    uploads: list[tuple[str, Path]] = []
    on_host: dict[str, str] = {}
    for variable in _INPUTS:
        value = spec.env.get(variable)
        if not value:
            continue
        if Path(value).is_file():
            uploads.append((variable, Path(value)))
            continue
        remote = None
        if variable == "TRAINDECK_RESUME_CHECKPOINT" and run_id:
            try:
                rel = Path(value).relative_to(files.run_dir(run_id))
            except ValueError:
                rel = None
            if rel is not None:
                remote = f"{job.sdk_dir(workdir)}/runs/{run_id}/{rel.as_posix()}"
                if link.run(f"test -f {shlex.quote(remote)}", timeout=30).exit_status != 0:
                    remote = None
        if remote is None:
            raise ExecutorError(f"{variable} names {value}, which is neither here nor on "
                                f"{link.target.name}")
        on_host[variable] = remote
    return uploads, on_host


def follow_job(la: LoginLaunch, env: WorkEnv) -> None:
    """Follow the submitted job to its end (see the module docstring)."""
    assert la.node is not None
    slurm = la.node.slurm
    mirrors: list[LogMirror] | None = None
    while not la.stop.is_set():
        link = la.link
        if link is None or link.state.startswith(("failed", "closed")):
            link = _relink(la, env)
            if link is None:
                la.stop.wait(env.retry_s)
                continue
        if not link.connected:
            link.wait_connected(env.mirror_s * 4)
            continue
        try:
            if not la.forwarded:
                _forward(la, link, env.server)
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
                while any(m.pump(link) for m in mirrors):
                    pass
                _finish(la, link, code, env)
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
        la.wake.wait(env.mirror_s)
        la.wake.clear()


def _relink(la: LoginLaunch, env: WorkEnv) -> SSHLink | None:
    """A fresh link for a launch whose link gave up (or that has none yet: adopted)."""
    if la.link is not None:
        la.link, la.forwarded = None, False
        env.release(la.st.host)
    try:
        link = env.acquire(la, None)
    except SSHError as exc:
        la.line = f"cannot reach {la.st.host}: {exc}"
        return None
    if la.stop.is_set():
        env.release(la.st.host)
        return None
    return link


def _forward(la: LoginLaunch, link: SSHLink, server: tuple[str, int]) -> None:
    """The launch's reverse forward on a fresh link: its old port when free (the job still
    sends there), else a new one (the job's metrics then wait in its spool: logged)."""
    old = la.st.remote_port or 0
    try:
        port = link.reverse_forward(old, *server)
    except Disconnected:
        raise
    except SSHError:
        port = link.reverse_forward(0, *server)
        log.warning("launch %s on %s: port %s is taken; its metrics tunnel is on %s now, but "
                    "its job still sends to %s", la.key, la.st.host, old, port, old)
    with la.lock:
        la.st.remote_port, la.forwarded = port, True
        la.save()


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


def _finish(la: LoginLaunch, link: SSHLink, code: int | None, env: WorkEnv) -> None:
    """The job ended with ``code``: results home, then the end is known."""
    st = la.st
    if st.python is not None and st.fingerprint is not None and st.folder is not None:
        la.line = "looking for results"
        try:
            retried(link, env.wait_s, "downloading the results",
                    lambda: results(la, link, env.files))
        except ExecutorError as exc:
            append(la.stderr, f"traindeck: the results could not be downloaded: {exc}\n")
    if code is not None:
        la.exit_file.write_text(str(code))
    with la.lock:
        st.stage, st.exit_code = "ended", code
        la.save()
        la.ended, la.code = True, code
        la.line = f"ended (exit {code})" if code is not None else "ended (no exit status)"
    if la.job is not None and la.node is not None:
        la.node.slurm.release(la.job)


def results(la: LoginLaunch, link: SSHLink, files: RunFiles) -> list[ResultFile]:
    """List the launch's result files on the login node and download those not in the run's
    artifacts yet (see :mod:`~traindeck.remote.results`)."""
    st = la.st
    assert st.folder is not None and st.python is not None and st.fingerprint is not None
    original = f"{job.Archive(la.dir.workdir, st.fingerprint).folder}/code"
    dest = files.artifacts(st.run_id) if st.run_id else la.exit_file.parent / "results"
    found = list_results(link, st.python, st.folder, original, st.result_patterns)
    got = download_results(link, st.folder, found, dest)
    with la.lock:
        st.results = [r.to_dict() for r in got]
        la.save()
    return got
