"""Bringing one launch to its host, up to the point where its process could start: the steps
both executors on hosts take, on the launch's own thread (the SSH executor then starts the
process under its wrapper, the Slurm executor's part for login nodes submits a job).

Wait for SSH and connect (the host's shared link), find the home folder, upload code and
data as one archive unless the host has that content already, prepare the interpreter
(venv, traindeck, the setup command), make the launch's folder (a copy of the code, a link
to the data), bring its input files (the config, a resume checkpoint: uploaded, or found on
the host already), forward the server's port, and compose the process's environment and
command. Each stage goes to the launch's state file and detail line (:class:`~traindeck.
remote.tracked.Reporter`); each step survives a dropped connection
(:func:`~traindeck.remote.deploy.retried`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from traindeck.launch.executor import ExecutorError, ProcessSpec
from traindeck.remote import deploy, job
from traindeck.remote.context import L, LaunchContext
from traindeck.remote.deploy import retried
from traindeck.remote.ssh import SSHLink
from traindeck.remote.tracked import Reporter, size
from traindeck.runfiles import RunFiles

#: The launch's input files, by the variable that names them.
CONFIG: Final = "TRAINDECK_CONFIG"
CHECKPOINT: Final = "TRAINDECK_RESUME_CHECKPOINT"
#: A job's PATH when the login user's is empty (``--export=NONE`` gives a job none).
_DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Prepared:
    """A launch ready to start on its host: the link, the host's interpreter, and the
    process's environment (``TRAINDECK_URL`` through the forward) and command there."""

    link: SSHLink
    python: str
    env: dict[str, str]
    argv: list[str]


def prepare(la: L, ctx: LaunchContext[L], *, where: str, job_path: bool = False) -> Prepared:
    """Bring ``la`` to its host (see the module docstring); ``where``: how the detail line
    names the host ("the host", "the login node"). ``job_path``: the environment gets a
    ``PATH`` (the interpreter's folder, then the login user's PATH), for a batch job that
    starts with none. Recorded in the state when it returns: the workdir, folder,
    fingerprint, interpreter and forwarded port, and the console files' sizes (the
    mirror's bases)."""
    assert la.spec is not None and la.settings is not None
    spec, settings, st, report = la.spec, la.settings, la.st, Reporter(la)
    report.stage("connecting", f"connecting to {st.host}")
    link = ctx.acquire(la, report)
    w = ctx.wait_s
    home, path = retried(link, w, "finding the home folder",
                         lambda: home_and_path(link) if job_path else (deploy.home_of(link), ""))
    with la.lock:
        st.workdir = deploy.host_path(home, ctx.host(st.host).workdir)
        st.folder = la.dir.folder
        la.save()
    archive, reused = deploy.upload(link, settings, spec.cwd, st.workdir, ctx.scratch, report,
                                    ctx.upload_lock(st.host))
    with la.lock:
        st.fingerprint, st.reused_archive = archive.fingerprint, reused
    report.stage("preparing", "preparing (code and data " + (
        f"already on {where})" if reused else "uploaded)"))
    venv = deploy.host_path(home, settings.venv) if settings.venv else None
    python = retried(link, w, "finding python", lambda: deploy.find_python(
        link, venv, settings.python, settings.env))
    deploy.ensure_traindeck(link, python, st.workdir, ctx.wheel, report, settings.env)
    if settings.setup:
        report.line(f"preparing: running the setup command on {st.host}")
        deploy.run_setup(link, settings.setup, python, archive, la.stdout, settings.env)
    d = la.dir
    made = retried(link, w, "making the launch folder",
                   lambda: link.run(job.prepare_folder(d, archive), timeout=600))
    if made.exit_status != 0:
        raise ExecutorError(f"could not make the launch folder {d.folder} on {st.host}: "
                            f"{made.stderr.strip()[-500:]}")
    uploads, on_host = inputs(spec, link, st.workdir, st.run_id, ctx.files)
    found = retried(link, w, "uploading the config",
                    lambda: deploy.upload_inputs(link, d, uploads))
    found.update(on_host)
    report.check()
    port = retried(link, w, "forwarding the server's port",
                   lambda: link.reverse_forward(0, *ctx.server))
    env = job.remote_env(spec.env, url=f"http://127.0.0.1:{port}", config=found.get(CONFIG),
                         checkpoint=found.get(CHECKPOINT), extra=settings.env,
                         td_dir=job.sdk_dir(st.workdir))
    if job_path:
        env.setdefault("PATH", f"{python.rsplit('/', 1)[0]}:{path}")
    with la.lock:
        st.python, st.remote_port, la.forwarded = python, port, True
        st.stdout_base, st.stderr_base = size(la.stdout), size(la.stderr)
    return Prepared(link, python, env, job.remote_argv(spec.argv, python, ctx.pythons))


def home_and_path(link: SSHLink) -> tuple[str, str]:
    """The login user's home and PATH (a batch job's PATH: ``--export=NONE`` gives it
    none)."""
    done = link.run('printf "%s\\n%s" "$HOME" "$PATH"', timeout=30)
    home, _, path = done.stdout.partition("\n")
    if done.exit_status != 0 or not home.startswith("/"):
        raise ExecutorError(f"could not find the home folder on {link.target.name}")
    return home, path.strip() or _DEFAULT_PATH


def inputs(spec: ProcessSpec, link: SSHLink, workdir: str, run_id: str,
           files: RunFiles) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The launch's input files: those here to upload (variable, local file), and a resume
    checkpoint that is on the host already (variable → its path there: written by an earlier
    launch of the run, under the host's SDK folder, where its path relative to the run's
    folder is the same as here). ``ExecutorError`` for one that is in neither place."""
    uploads: list[tuple[str, Path]] = []
    on_host: dict[str, str] = {}
    for variable in (CONFIG, CHECKPOINT):
        value = spec.env.get(variable)
        if not value:
            continue
        if Path(value).is_file():
            uploads.append((variable, Path(value)))
            continue
        remote = _on_host(Path(value), link, workdir, run_id, files) \
            if variable == CHECKPOINT and run_id else None
        if remote is None:
            raise ExecutorError(f"{variable} names {value}, which is neither here nor on "
                                f"{link.target.name}")
        on_host[variable] = remote
    return uploads, on_host


def _on_host(local: Path, link: SSHLink, workdir: str, run_id: str,
             files: RunFiles) -> str | None:
    """``local`` (a file of the run's folder here) in the host's SDK folder, when it is
    there."""
    try:
        rel = local.relative_to(files.run_dir(run_id))
    except ValueError:
        return None
    remote = f"{job.sdk_dir(workdir)}/runs/{run_id}/{rel.as_posix()}"
    found = link.run(f"test -f {shlex.quote(remote)}", timeout=30)
    return remote if found.exit_status == 0 else None
