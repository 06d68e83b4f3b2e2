"""The steps that bring one launch to a host before it runs: code and data uploaded once per
content (``upload``), the environment prepared (``prepare``), the process started under its
wrapper (``start_process``). The SSH executor runs them on its own thread and shows each
through a :class:`Report` (its detail line and state file).

Every step may be repeated after a dropped connection (:func:`retried`): each is made so
that doing it twice does no harm (extraction, folder copy and start check markers first).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

from traindeck.launch.executor import ExecutorError
from traindeck.redact import redact
from traindeck.remote import job
from traindeck.remote.archive import ArchiveError, extract_command, fingerprint, pack
from traindeck.remote.errors import Disconnected
from traindeck.remote.ssh import SSHLink

T = TypeVar("T")
#: How long a started wrapper may take to write its pid file.
PID_WAIT_S = 30.0


class Cancelled(Exception):
    """The launch was cancelled before its process started."""


class Report(Protocol):
    def stage(self, stage: str, line: str) -> None:
        """A new stage (recorded in the state file) and its detail line."""

    def line(self, text: str) -> None:
        """A new detail line within the stage (progress)."""

    def check(self) -> None:
        """Raise :class:`Cancelled` when the launch was cancelled."""


@dataclass(frozen=True)
class RemoteSettings:
    """The template's ``remote:`` settings, checked: ``datasets`` (name → local folder, or
    a list of folders named after themselves; relative to the template folder), ``exclude``
    (gitignore-style patterns), ``results`` (extra result patterns), ``python`` (the host's
    interpreter, a name on its PATH or a path; default ``python3``, else ``python``),
    ``venv`` (a path on the host, relative to the user's home unless absolute; made with
    ``python`` when missing), ``setup`` (a shell command run once per archive in its code
    folder), ``env`` (variables set for everything traindeck runs on the host for the
    launch: the checks, traindeck's install, the setup command and the command itself, so
    that ``PIP_INDEX_URL``, ``PIP_NO_INDEX`` or a proxy there apply to the install too)."""

    datasets: dict[str, Path] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    results: tuple[str, ...] = ()
    venv: str | None = None
    setup: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], base: Path) -> RemoteSettings:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ExecutorError(f"remote.{key} must be a list of strings")
            return tuple(value)

        datasets_raw = raw.get("datasets") or {}
        if isinstance(datasets_raw, list):
            datasets_raw = {Path(str(p)).name: p for p in datasets_raw}
        if not isinstance(datasets_raw, dict):
            raise ExecutorError("remote.datasets must map names to folders (or list folders)")
        datasets: dict[str, Path] = {}
        for name, folder in datasets_raw.items():
            parts = PurePosixPath(str(name)).parts
            if not parts or any(p in ("..", ".", "/") for p in parts) or "\\" in str(name):
                raise ExecutorError(f"remote.datasets: {name!r} is not a dataset name")
            path = (base / str(folder)).expanduser()
            if not path.is_dir():
                raise ExecutorError(f"remote.datasets: {name!r}: {path} is not a folder")
            datasets[str(name)] = path
        env = raw.get("env") or {}
        if not isinstance(env, dict):
            raise ExecutorError("remote.env must map names to values")
        try:
            job.env_file({str(k): str(v) for k, v in env.items()})
        except ValueError as exc:
            raise ExecutorError(f"remote.env: {exc}") from None
        venv, setup, python = raw.get("venv"), raw.get("setup"), raw.get("python")
        for key, value in (("venv", venv), ("setup", setup), ("python", python)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ExecutorError(f"remote.{key} must be a non-empty string")
        return cls(datasets, strings("exclude"), strings("results"),
                   venv, setup, {str(k): str(v) for k, v in env.items()}, python)


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|KEY|CREDENTIAL|AUTH", re.I)


def _secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of ``env`` whose names say they are secret (blanked in messages)."""
    return [v for k, v in env.items() if v and _SECRET_NAME.search(k)]


def with_env(command: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """``command`` to run with ``env`` exported first, and the stdin that carries it: the
    values go through stdin (``eval "$(cat)"``), never on a command line, where the host's
    other users could read them in ``ps`` (``remote.env`` may hold a hub token). The
    command's own stdin is then empty, as it is without ``env``."""
    if not env:
        return command, None
    return f'eval "$(cat)"; {command}', job.env_file(env)


def retried(link: SSHLink, wait_s: float, what: str, op: Callable[[], T]) -> T:
    """``op()``, again after the link is back when the connection drops meanwhile;
    :class:`ExecutorError` when it stays down for ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return op()
        except Disconnected:
            if not link.wait_connected(max(0.0, deadline - time.monotonic())):
                raise ExecutorError(
                    f"the connection to {link.target.name} dropped while {what}, and it did "
                    f"not come back within {wait_s:.0f} s ({link.state})") from None


def host_path(home: str, path: str) -> str:
    """``path`` on the host: absolute as it is, else under the user's home (``~/`` too)."""
    if path.startswith("~/"):
        path = path[2:]
    return path.rstrip("/") if path.startswith("/") else f"{home.rstrip('/')}/{path}"


def home_of(link: SSHLink) -> str:
    done = link.run('printf %s "$HOME"', timeout=30)
    home = done.stdout.strip()
    if done.exit_status != 0 or not home.startswith("/"):
        raise ExecutorError(f"could not find the home folder on {link.target.name}")
    return home


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f}" if n >= 10e6 else f"{n / 1e6:.1f}"


def _percent(verb: str, done: int, total: int) -> str:
    pct = 100 * done // total if total else 100
    return f"{verb} {pct}% ({_mb(done)}/{_mb(total)} MB)"


def upload(link: SSHLink, settings: RemoteSettings, code: Path, workdir: str, scratch: Path,
           report: Report, lock: threading.Lock) -> tuple[job.Archive, bool]:
    """The archive of ``code`` + datasets on the host, uploaded and extracted unless the
    host has its fingerprint's folder already; ``(archive, reused)``."""
    sources: dict[str, Path] = {"code": code,
                                **{f"data/{n}": p for n, p in settings.datasets.items()}}
    report.stage("uploading", "checking code and data")
    try:
        archive = job.Archive(workdir, fingerprint(sources, settings.exclude))
    except (ArchiveError, OSError) as exc:
        raise ExecutorError(f"cannot pack the code and data: {exc}") from None
    name = link.target.name
    with lock:  # two launches of the same content to one host: one upload
        report.check()
        there = retried(link, 60, "checking the upload", lambda: link.run(
            f"test -d {shlex.quote(archive.folder)}/code", timeout=30))
        if there.exit_status == 0:
            return archive, True
        folder = Path(tempfile.mkdtemp(prefix="td-upload-", dir=scratch))
        try:
            def packing(done: int, total: int) -> None:
                report.check()
                report.line(_percent("packing", done, total))

            try:
                packed = pack(sources, folder / "upload.tar.gz", excludes=settings.exclude,
                              progress=packing)
            except (ArchiveError, OSError) as exc:
                raise ExecutorError(f"cannot pack the code and data: {exc}") from None
            archive = job.Archive(workdir, packed.fingerprint)  # changed since? its own

            def sending(done: int, total: int) -> None:
                report.check()
                report.line(_percent("uploading", done, total))

            def send() -> None:
                link.run(f"mkdir -p {shlex.quote(archive.root)}", timeout=30)
                link.put(packed.path, archive.file, progress=sending)

            retried(link, 300, "uploading", send)
            report.line("unpacking on the host")
            done = retried(link, 300, "unpacking", lambda: link.run(
                extract_command(archive.file, archive.folder, packed.sha256,
                                remove_archive=True), timeout=3600))
            if done.exit_status != 0:
                raise ExecutorError(f"the upload could not be unpacked on {name}: "
                                    f"{done.stderr.strip()[-500:]}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return archive, False


def find_python(link: SSHLink, venv: str | None, python: str | None = None,
                env: Mapping[str, str] = {}) -> str:
    """The host's interpreter for the launch: ``venv``'s (made with ``python`` when
    missing), else ``python`` (default: ``python3``, or ``python``, on the host's PATH), as
    an absolute path; ``env`` (``remote.env``) is set meanwhile."""
    name = link.target.name
    if python is None:
        first = "p=$(command -v python3 || command -v python) || exit 5"
        missing = "neither python3 nor python is on its PATH"
    else:
        first = f"p=$(command -v {shlex.quote(python)}) || exit 5"
        missing = f"remote.python {python} is not there"
    if venv is None:
        command = f'{first}; echo "$p"'
    else:
        v = shlex.quote(venv)
        command = (f'if [ ! -x {v}/bin/python ]; then {first}; "$p" -m venv {v} >&2 || exit 6; '
                   f"fi; echo {v}/bin/python")
    command, stdin = with_env(command, env)
    done = link.run(command, input=stdin, timeout=600)
    if done.exit_status == 5:
        raise ExecutorError(f"no python on {name} ({missing}): install python3 there, or "
                            "name an interpreter with remote.python or a venv with "
                            "remote.venv")
    if done.exit_status != 0:
        raise ExecutorError(f"could not make the venv {venv} on {name}: "
                            f"{done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


#: What a host's python must import to count as having traindeck (``import traindeck``
#: alone also succeeds for a stray ``traindeck/`` folder, a namespace package).
_HAS_TRAINDECK = "from traindeck import init"


def ensure_traindeck(link: SSHLink, python: str, workdir: str,
                     wheel: Callable[[], Path] | None, report: Report,
                     env: Mapping[str, str] = {}) -> None:
    """Install traindeck (the server's own wheel, uploaded) for ``python`` when it cannot
    import it, with ``env`` (``remote.env``) set for the check and for pip (its
    ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``… apply: a host without a route
    to an index installs from what it has). pip never prompts."""
    name, py = link.target.name, shlex.quote(python)
    check, stdin = with_env(f"{py} -c {shlex.quote(_HAS_TRAINDECK)}", env)
    if link.run(check, input=stdin, timeout=120).exit_status == 0:
        return
    if wheel is None:
        raise ExecutorError(
            f"{python} on {name} cannot import traindeck, and this server has no wheel of it "
            "to install: install traindeck there, or name a venv that has it (remote.venv)")
    local = wheel()
    remote = f"{workdir}/wheels/{local.name}"
    report.line(f"installing traindeck ({local.name}) on {name}")
    link.run(f"mkdir -p {shlex.quote(workdir)}/wheels", timeout=30)
    link.put(local, remote)
    install, stdin = with_env(f"{py} -m pip install --quiet --no-input "
                              f"--disable-pip-version-check {shlex.quote(remote)}", env)
    done = link.run(install, input=stdin, timeout=1800)
    if done.exit_status != 0:
        said = redact((done.stderr or done.stdout).strip()[-800:], _secret_values(env))
        raise ExecutorError(f"could not install traindeck for {python} on {name}: {said}")


def run_setup(link: SSHLink, setup: str, python: str, archive: job.Archive,
              console: Path, env: Mapping[str, str] = {}) -> bool:
    """The template's setup command, once per archive, interpreter and ``env``, in the
    archive's code folder with the interpreter's folder first on PATH and ``env``
    (``remote.env``) set; its output is appended to the local console file (the launcher
    stores and redacts it). Whether it ran (``False``: it had run for this content). A
    failing setup raises with its exit status and its output's last line."""
    key = "\0".join([python, setup, *(f"{k}={v}" for k, v in sorted(env.items()))])
    marker = shlex.quote(archive.setup_marker(hashlib.sha256(key.encode()).hexdigest()[:16]))
    if link.run(f"test -e {marker}", timeout=30).exit_status == 0:
        return False
    bindir = shlex.quote(python.rsplit("/", 1)[0])
    command, stdin = with_env(f"cd {shlex.quote(archive.folder)}/code && PATH={bindir}:$PATH "
                              f"sh -c {shlex.quote(setup)} 2>&1", env)
    done = link.run(command, input=stdin, timeout=3600)
    with console.open("a", encoding="utf-8") as out:
        out.write(f"traindeck: the setup command on {link.target.name} (exit "
                  f"{done.exit_status}):\n{done.stdout}")
        if done.stdout and not done.stdout.endswith("\n"):
            out.write("\n")
    if done.exit_status != 0:
        last = redact((done.stdout.strip().splitlines() or [""])[-1][-300:], _secret_values(env))
        raise ExecutorError(f"the template's setup command failed on {link.target.name} "
                            f"(exit {done.exit_status})" + (f": {last}" if last else "") +
                            "; its output is in the console")
    link.run(f": > {marker}", timeout=30)
    return True


def upload_inputs(link: SSHLink, d: job.LaunchDir,
                  files: Iterable[tuple[str, Path]]) -> dict[str, str]:
    """Upload the launch's own input files (env variable → local file: the config, a resume
    checkpoint) into its ``.td`` folder; their paths on the host by variable."""
    out: dict[str, str] = {}
    for variable, local in files:
        remote = d.file(f"inputs/{variable.lower()}/{local.name}")
        link.run(f"mkdir -p {shlex.quote(remote.rsplit('/', 1)[0])}", timeout=30)
        link.put(local, remote)
        out[variable] = remote
    return out


def start_process(link: SSHLink, d: job.LaunchDir, python: str, env: Mapping[str, str],
                  argv: list[str], report: Report) -> tuple[str, int, int]:
    """Write the env file and wrapper, start it (tmux, else nohup); ``(runner, pid, pgid)``
    once the wrapper wrote its pid file."""
    if link.run(f"test -s {shlex.quote(d.file('launched'))}", timeout=30).exit_status != 0:
        for name, text in (("env", job.env_file(env)), ("run.sh", job.wrapper(d, argv))):
            done = link.run(job.write_private(d.file(name)), input=text, timeout=30)
            if done.exit_status != 0:
                raise ExecutorError(f"could not write the launch's {name} file on "
                                    f"{link.target.name}: {done.stderr.strip()[-300:]}")
    report.check()
    done = link.run(job.start_command(d, python), timeout=60)
    runner = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.exit_status != 0 or runner not in ("tmux", "nohup"):
        raise ExecutorError(f"could not start the process on {link.target.name}: "
                            f"{done.stderr.strip()[-500:] or done.exit_status}")
    deadline = time.monotonic() + PID_WAIT_S
    while True:
        try:
            parts = link.read_from(d.file("pid"), 0, 100).decode().split()
            if len(parts) == 2:
                return runner, int(parts[0]), int(parts[1])
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise ExecutorError(f"the process on {link.target.name} did not start within "
                                f"{PID_WAIT_S:.0f} s (its wrapper wrote no pid)")
        time.sleep(0.1)
