"""The Slurm executor: a launch is a batch job, submitted with ``sbatch``.

- **Start**: the launch's resources are checked (:class:`SlurmResources`), a batch script
  and a private env file are written next to the exit file (both 0600; see
  :mod:`traindeck.launch.slurm_script` for why the environment never goes through Slurm),
  and the script is submitted with ``sbatch --parsable``. The handle's ``pid`` is the job id
  (also ``extra["job_id"]``); ``start_time`` is when it was submitted.
- **State**: a background thread asks ``squeue`` about every job this executor follows, in
  one call, at most every ``refresh_s`` seconds; :meth:`poll` and :meth:`detail` return the
  latest answer at once (the launcher polls every 0.1 s). A job is queued (``PENDING``, with
  Slurm's reason in :meth:`detail`), then running, then ended; once Slurm reports it ended
  (or forgets it) its exit status comes from the exit file the script wrote, else from
  ``scontrol show job``'s ``ExitCode``. When Slurm does not answer, nothing ends: the last
  state stays and :meth:`detail` says Slurm is not answering.
- **Signals**: ``scancel --signal=NAME`` to the job's steps: the command's processes (it
  runs as an ``srun`` step, see :mod:`~traindeck.launch.slurm_script`), not the batch shell
  nor ``srun``, which live on to relay the output and record the status (SIGSTOP shows as
  the job state ``STOPPED``). When that fails for a cancelling signal (no step yet: the job
  just started) it goes to the batch shell and ``srun`` instead (``--full``). A pending job has no
  process: SIGTERM/SIGINT/SIGHUP cancel it (``scancel``), SIGSTOP holds it and SIGCONT
  releases it (``scontrol uhold/release``). :meth:`kill` sends SIGKILL to each step, then
  ``scancel``s the job.
- **Restart**: :meth:`adopt` finds the job again by its id and checks that Slurm's job of
  that id writes to the handle's stdout file (ids are reused after a controller reset).

Every command runs through a :class:`~traindeck.launch.runner.CommandRunner`: this machine
(:class:`~traindeck.launch.runner.LocalRunner`), or a login node over SSH
(:class:`traindeck.remote.ssh_runner.SSHRunner`). The spec's paths are used as they are on
the submitting side (a shared file system).

**A login node** (a launch naming ``host``): the executor hands the launch to ``login``, an
executor for launches through login nodes (:class:`traindeck.remote.slurm_login.
SlurmLogins`: code and data uploaded to the host, the job submitted there by a
``SlurmExecutor`` whose runner is that host's SSH link, its output mirrored into the local
console files), and every later call for that launch's handle (``extra["login"]``) too.
Without ``login`` (no asyncssh) a host is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
import signal as signals
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Final

from .executor import (
    Executor,
    ExecutorError,
    Handle,
    ProcessSpec,
    RequestChecked,
    detail_of,
    error_of,
    started_of,
)
from .runner import CommandRunner, LocalRunner, read_text, write_private
from .slurm_script import BatchJob, SlurmResources, render_env_file, render_script

log = logging.getLogger(__name__)

#: Job states after which nothing of the job runs any more.
ENDED_STATES: Final = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"})
#: What a pending job's reason means, for :meth:`SlurmExecutor.detail`.
REASONS: Final = {
    "Resources": "waiting for free resources",
    "Priority": "other jobs come first",
    "Dependency": "waiting for another job",
    "BeginTime": "not before its start time",
    "JobHeldUser": "held",
    "JobHeldAdmin": "held by an administrator",
    "PartitionConfig": "the partition cannot give what it asks for (check its resources)",
    "PartitionNodeLimit": "more nodes than the partition allows",
    "PartitionTimeLimit": "a longer time than the partition allows",
    "ReqNodeNotAvail": "the nodes it needs are not available",
}
_PAUSED_STATES: Final = frozenset({"STOPPED", "SUSPENDED"})
_CANCEL_SIGNALS: Final = frozenset({signals.SIGTERM, signals.SIGINT, signals.SIGHUP})
_INVALID_JOB: Final = "Invalid job id"
_MIN_GAP: Final = 0.2
_KILL_TRIES: Final = 4
_NO_LOGIN_NODE: Final = ("submitting to Slurm through a login node ({host}) needs traindeck's "
                         "[ssh] extra (pip install 'traindeck[ssh]'); leave the host out to "
                         "submit with sbatch on the server's machine")
_KILL_RETRY_S: Final = 0.25


@dataclass
class _Job:
    """What is known of one followed job (guarded by the executor's lock)."""

    job_id: str
    exit_file: str
    state: str | None = None
    reason: str | None = None
    nodes: str | None = None
    ended: bool = False
    code: int | None = None
    trouble: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _field(text: str, key: str) -> str | None:
    """The value of ``key`` in ``scontrol -o show job`` output (values may hold spaces)."""
    match = re.search(rf"(?:^|\s){re.escape(key)}=(.*?)(?=\s[A-Za-z_:/]+=|$)", text.strip())
    return match.group(1) if match else None


def _exit_code(scontrol: str) -> int | None:
    """``ExitCode=X:Y`` as one status: ``-Y`` when a signal ended it, else ``X`` (a shell's
    ``128+N``, a step killed by signal N, as ``-N``, the way the batch script records it)."""
    value = _field(scontrol, "ExitCode")
    if value is None or ":" not in value:
        return None
    status, _, sig = value.partition(":")
    try:
        code, signum = int(status), int(sig)
    except ValueError:
        return None
    if signum:
        return -signum
    return 128 - code if 128 < code < 193 else code


class SlurmExecutor:
    """Launches as Slurm batch jobs (see the module's doc)."""

    name = "slurm"
    #: ``sbatch`` runs on this machine unless a launch names a host (a login node).
    needs_host = False
    #: The resources a launch may ask for (``/api/executors``).
    resource_keys: tuple[str, ...] = tuple(
        f.name for f in dataclasses.fields(SlurmResources))

    def __init__(self, runner: CommandRunner | None = None, *, refresh_s: float = 1.0,
                 timeout_s: float = 30.0, login: Executor | None = None) -> None:
        self._runner: CommandRunner = runner if runner is not None else LocalRunner()
        self._login = login
        self._refresh_s = refresh_s
        self._timeout = timeout_s
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- starting ---------------------------------------------------------------------------

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None:
        """Before anything is made: the resources are ones Slurm can be asked for
        (:class:`~traindeck.launch.slurm_script.ResourcesError` saying which is wrong), and
        a login node only where there is a ``login`` executor (which checks it too)."""
        SlurmResources.parse(resources)
        if host:
            if self._login is None:
                raise ExecutorError(_NO_LOGIN_NODE.format(host=host))
            if isinstance(self._login, RequestChecked):
                self._login.check_request(resources, host)

    def _login_of(self, handle: Handle | Mapping[str, Any]) -> Executor | None:
        """The ``login`` executor when ``handle`` (or a handle's state) is one of its
        launches, else ``None``."""
        extra = handle.extra if isinstance(handle, Handle) else handle.get("extra")
        if self._login is None or not isinstance(extra, Mapping) or not extra.get("login"):
            return None
        return self._login

    def start(self, spec: ProcessSpec) -> Handle:
        resources = SlurmResources.parse(spec.resources)
        if spec.host:
            if self._login is None:
                raise ExecutorError(_NO_LOGIN_NODE.format(host=spec.host))
            return self._login.start(spec)
        if not spec.argv:
            raise ExecutorError("the command is empty")
        folder = PurePosixPath(spec.exit_file).parent
        script, env_file = str(folder / "slurm.sh"), str(folder / "slurm.env")
        run_id = spec.env.get("TRAINDECK_RUN_ID")
        job = BatchJob(argv=[str(a) for a in spec.argv], cwd=str(spec.cwd),
                       stdout=str(spec.stdout), stderr=str(spec.stderr),
                       exit_file=str(spec.exit_file), env_file=env_file,
                       job_name=f"td-{run_id}" if run_id else "traindeck")
        text = render_script(job, resources)
        self._prepare(job)
        write_private(self._runner, env_file, render_env_file(spec.env), timeout=self._timeout)
        write_private(self._runner, script, text, timeout=self._timeout)
        done = self._runner.run(["sbatch", "--parsable", script], timeout=self._timeout)
        job_id = done.stdout.strip().split(";")[0]
        if done.exit_status != 0 or not job_id.isdigit():
            self._runner.run(["rm", "-f", env_file], timeout=self._timeout)
            raise ExecutorError(f"sbatch refused the job: "
                                f"{done.stderr.strip() or done.stdout.strip() or done.exit_status}")
        extra = {"job_id": job_id, "script": script}
        handle = Handle(pid=int(job_id), start_time=time.time(), stdout=job.stdout,
                        stderr=job.stderr, exit_file=job.exit_file, extra=extra)
        self._follow(handle)
        return handle

    def _prepare(self, job: BatchJob) -> None:
        """Check the working folder; create the output files (private, kept: a restart
        appends); remove an exit file left by an earlier start."""
        q = shlex.quote
        folders = " ".join(q(str(PurePosixPath(p).parent))
                           for p in (job.stdout, job.stderr, job.exit_file))
        missing = q(f"the working folder {job.cwd} does not exist")
        script = (f"[ -d {q(job.cwd)} ] || {{ echo {missing} >&2; exit 3; }}; "
                  f"umask 077 && mkdir -p {folders} && touch {q(job.stdout)} {q(job.stderr)} "
                  f"&& rm -f {q(job.exit_file)}")
        done = self._runner.run(["sh", "-c", script], timeout=self._timeout)
        if done.exit_status != 0:
            raise ExecutorError(done.stderr.strip() or "cannot prepare the job's files")

    # -- following --------------------------------------------------------------------------

    def _follow(self, handle: Handle, *, ended: bool = False, code: int | None = None) -> _Job:
        job_id = str(handle.extra.get("job_id") or handle.pid)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                job = _Job(job_id=job_id, exit_file=handle.exit_file, ended=ended, code=code)
                self._jobs[job_id] = job
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="traindeck-slurm")
                self._thread.start()
        self._wake.set()
        return job

    def _job(self, handle: Handle, *, follow: bool = True) -> _Job:
        """The followed job of ``handle``; one not followed (released) is followed again
        when ``follow``, else looked at once (its state unknown)."""
        job_id = str(handle.extra.get("job_id") or handle.pid)
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        return self._follow(handle) if follow else _Job(job_id, handle.exit_file)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._refresh()
            except Exception:  # never let the follower die: it is the only one
                log.exception("refreshing Slurm job states failed")
            self._wake.wait(self._refresh_s)
            self._wake.clear()
            self._stop.wait(_MIN_GAP)

    def _refresh(self) -> None:
        with self._lock:
            ids = [j.job_id for j in self._jobs.values() if not j.ended]
        if not ids:
            return
        try:
            done = self._runner.run(["squeue", "-h", "-t", "all", "-j", ",".join(ids),
                                     "-o", "%i|%T|%r|%N"], timeout=self._timeout)
        except ExecutorError as exc:
            self._trouble(ids, str(exc))
            return
        if done.exit_status != 0 and _INVALID_JOB not in done.stderr:
            self._trouble(ids, done.stderr.strip() or f"squeue exited {done.exit_status}")
            return
        seen: dict[str, tuple[str, str, str]] = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4:
                seen[parts[0]] = (parts[1], parts[2], parts[3])
        finished = []
        with self._lock:
            for job_id in ids:
                job = self._jobs.get(job_id)
                if job is None:
                    continue
                job.trouble = None
                if job_id in seen:
                    job.state, job.reason, job.nodes = seen[job_id]
                if job_id not in seen or job.state in ENDED_STATES:
                    finished.append(job)
        for job in finished:
            code = self._final_code(job)
            with self._lock:
                job.ended, job.code = True, code

    def _trouble(self, ids: list[str], why: str) -> None:
        with self._lock:
            for job_id in ids:
                if job_id in self._jobs:
                    self._jobs[job_id].trouble = why

    def _final_code(self, job: _Job) -> int | None:
        """How an ended job ended: the script's exit file, else Slurm's ``ExitCode``."""
        try:
            text = read_text(self._runner, job.exit_file, timeout=self._timeout)
            if text is not None and text.strip().lstrip("-").isdigit():
                return int(text.strip())
            done = self._runner.run(["scontrol", "-o", "show", "job", job.job_id],
                                    timeout=self._timeout)
        except ExecutorError:
            return None
        if done.exit_status != 0:
            return None
        code = _exit_code(done.stdout)
        if code == 0 and _field(done.stdout, "JobState") == "CANCELLED":
            return None  # cancelled before its command ran: no status to report
        return code

    # -- the Executor interface -------------------------------------------------------------

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        if (login := self._login_of(handle)) is not None:
            return login.poll(handle)
        job = self._job(handle)
        with self._lock:
            return job.ended, job.code

    def group_alive(self, handle: Handle) -> bool:
        return not self.poll(handle)[0]

    def started(self, handle: Handle) -> bool:
        """Whether the job left Slurm's queue (it runs, or ran)."""
        if (login := self._login_of(handle)) is not None:
            return started_of(login, handle)
        job = self._job(handle)
        with self._lock:
            return job.ended or (job.state is not None and job.state != "PENDING")

    def detail(self, handle: Handle) -> str | None:
        """Where the job stands: "pending: Resources (waiting for free resources)",
        "running on node1", "paused", "Slurm is not answering: …"; ``None`` before the
        first answer."""
        if (login := self._login_of(handle)) is not None:
            return detail_of(login, handle)
        job = self._job(handle)
        with self._lock:
            state, reason, nodes, trouble = job.state, job.reason, job.nodes, job.trouble
            ended = job.ended
        if trouble and not ended:
            return f"Slurm is not answering: {trouble}"
        if state is None:
            return None if not ended else "ended (no longer known to Slurm)"
        if state == "PENDING":
            gloss = REASONS.get(reason or "")
            return f"pending: {reason}" + (f" ({gloss})" if gloss else "")
        if state == "RUNNING":
            return f"running on {nodes}" if nodes else "running"
        if state in _PAUSED_STATES:
            return f"paused ({state.lower()})"
        return state.lower().replace("_", " ")

    def error(self, handle: Handle) -> str | None:
        """Why a launch through a login node could not be submitted (``None`` here: a
        local ``sbatch`` that refuses raises from :meth:`start`)."""
        login = self._login_of(handle)
        return error_of(login, handle) if login is not None else None

    def signal(self, handle: Handle, sig: int) -> None:
        if (login := self._login_of(handle)) is not None:
            login.signal(handle, sig)
            return
        job = self._job(handle, follow=False)
        with self._lock:
            ended, state = job.ended, job.state
        if state in (None, "PENDING"):  # the cache may be a moment old: ask
            state = self._state_now(job.job_id) or state
        if ended or state in ENDED_STATES:
            return
        if sig == signals.SIGKILL:
            self.kill(handle)
            return
        if state == "PENDING":
            if sig in _CANCEL_SIGNALS:
                self._quietly(["scancel", job.job_id])
            elif sig == signals.SIGSTOP:
                self._quietly(["scontrol", "uhold", job.job_id])
            elif sig == signals.SIGCONT:
                self._quietly(["scontrol", "release", job.job_id])
            return
        name = f"--signal={signals.Signals(sig).name.removeprefix('SIG')}"
        trouble = self._quietly(["scancel", name, job.job_id])
        if trouble and sig in _CANCEL_SIGNALS:
            trouble = self._quietly(["scancel", name, "--full", job.job_id])
            if trouble and ("pending" in trouble or "altered" in trouble):
                self._quietly(["scancel", job.job_id])  # it was still queued after all

    def kill(self, handle: Handle) -> None:
        """SIGKILL now to the command's processes (its steps), then ``scancel`` for what is
        left (the batch shell; a job still queued). Not ``scancel --signal=KILL`` alone:
        Slurm takes that as a cancel (SIGTERM, then SIGKILL only after its ``KillWait``)."""
        if (login := self._login_of(handle)) is not None:
            login.kill(handle)
            return
        job = self._job(handle, follow=False)
        for attempt in range(_KILL_TRIES):
            steps = self._steps(job.job_id)
            # A step that is still starting is listed but "invalid" for a moment: try again.
            if not steps or self._quietly(["scancel", "--signal=KILL", *steps]) is None:
                break
            if attempt < _KILL_TRIES - 1:
                time.sleep(_KILL_RETRY_S)
        self._quietly(["scancel", job.job_id])

    def _state_now(self, job_id: str) -> str | None:
        """The job's state as Slurm has it now (``None``: no answer)."""
        try:
            done = self._runner.run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"],
                                    timeout=self._timeout)
        except ExecutorError:
            return None
        return done.stdout.strip() or None if done.exit_status == 0 else None

    def _steps(self, job_id: str) -> list[str]:
        """The job's running steps (``ID.0``…), the batch step left out."""
        try:
            listed = self._runner.run(["squeue", "-h", "-s", "-j", job_id, "-o", "%i"],
                                      timeout=self._timeout)
        except ExecutorError:
            return []
        ids = (s.strip() for s in listed.stdout.split())
        return [s for s in ids if s.startswith(f"{job_id}.") and s.partition(".")[2].isdigit()]

    def _quietly(self, argv: list[str]) -> str | None:
        """Run a control command; its error text (``None``: it worked). A job that has just
        ended makes these fail, which is no error for the caller."""
        try:
            done = self._runner.run(argv, timeout=self._timeout)
        except ExecutorError as exc:
            log.warning("%s failed: %s", argv[0], exc)
            return str(exc)
        finally:
            self._wake.set()
        if done.exit_status != 0:
            log.debug("%s exited %d: %s", argv[0], done.exit_status, done.stderr.strip())
            return done.stderr.strip() or str(done.exit_status)
        return None

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        if (login := self._login_of(state)) is not None:
            return login.adopt(state)
        handle = Handle.from_state(state)
        if handle is None:
            return None
        job_id = str(handle.extra.get("job_id") or handle.pid)
        try:
            done = self._runner.run(["scontrol", "-o", "show", "job", job_id],
                                    timeout=self._timeout)
        except ExecutorError:
            self._follow(handle)  # Slurm is away, not the job: follow it and see
            return handle
        if done.exit_status == 0 and _field(done.stdout, "StdOut") == handle.stdout:
            self._follow(handle)
            return handle
        if done.exit_status != 0 and _INVALID_JOB not in done.stderr:
            self._follow(handle)
            return handle
        # Forgotten by Slurm (or the id now names another job): ended, if it recorded how.
        try:
            text = read_text(self._runner, handle.exit_file, timeout=self._timeout)
        except ExecutorError:
            text = None
        if text is None or not text.strip().lstrip("-").isdigit():
            return None
        self._follow(handle, ended=True, code=int(text.strip()))
        return handle

    def release(self, handle: Handle) -> None:
        if (login := self._login_of(handle)) is not None:
            login.release(handle)
            return
        with self._lock:
            self._jobs.pop(str(handle.extra.get("job_id") or handle.pid), None)

    def close(self) -> None:
        """Stop following (the jobs run on: they are Slurm's)."""
        if self._login is not None:
            self._login.close()
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._timeout + 5)
