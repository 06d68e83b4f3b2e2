"""A real OpenSSH server on 127.0.0.1 for the SSH tests (importable as ``sshd_service``).

:class:`SSHD` runs ``/usr/sbin/sshd`` on a free loopback port, key-only, for an unprivileged
user (``tdssh``, made with ``useradd`` when missing), with its own ed25519 host key and client
key in a temporary folder (mode 711: sshd reads ``authorized_keys`` as that user), and
``Subsystem sftp internal-sftp``; the recipe is ``../shared/notes/real-services.md``.
Everything is stopped by PID, never by name.

Use it from a fixture (the fixture's scope is the test module's choice)::

    @pytest.fixture
    def sshd() -> Iterator[SSHD]:
        with running_sshd() as server:       # skip, or fail under TRAINDECK_REQUIRE_ALL=1
            yield server

    @pytest.fixture
    def sshd_no_tmux() -> Iterator[SSHD]:
        with running_sshd(tmux=False) as server:
            yield server

What a test gets: ``host``, ``port``, ``user``, ``client_key`` (private key file, readable by
root only), ``known_hosts_line`` (the host key as a known_hosts line for ``[host]:port``),
``host_fingerprint`` (``SHA256:…``), ``home`` (the user's home), ``workdir`` (a fresh folder
in it, owned by the user, removed at the end), ``python`` (an interpreter the user can run
that imports ``traindeck`` and its dependencies: this checkout's ``.venv`` python when the
user can reach it, else a small venv in the server's folder built on a system python of the
same version that adds this checkout's site-packages, so nothing under ``/root`` needs new
permissions), ``bin_dir`` (the folder on the sessions' PATH in front of the usual ones).

Controls: :meth:`SSHD.stop` (the listener and, unless ``keep_connections``, every live
connection), :meth:`SSHD.start` (again: same port, same host key: "sshd started late",
"restart"), :meth:`SSHD.drop_connections` (SIGKILL to the per-connection sshd processes, by
PID from the listener's process tree: live sessions die, the listener stays, what the
sessions started runs on, as after a network cut).

``tmux=False``: the sessions' PATH (sshd's ``SetEnv PATH=…``) is a folder of links to every
program in /usr/bin except ``tmux``, then /usr/sbin: ``command -v tmux`` finds nothing there,
so an executor's nohup fallback runs for real (a session could still call ``/usr/bin/tmux``
by its full path; nothing of ours does). With ``tmux=True`` the PATH is ``bin_dir`` then
/usr/local/bin, /usr/bin, /bin, /usr/sbin, /sbin.

``env``: more variables for the sessions (sshd's ``SetEnv``), e.g. ``SLURM_CONF`` for a
"login node" that submits to the Slurm fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil
from support import free_port, missing

SSHD_BIN = Path("/usr/sbin/sshd")
USER = "tdssh"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done


def ensure_user(user: str = USER) -> Path:
    """The unprivileged login user (made when missing, unlocked for key logins with
    ``UsePAM no``); returns its home."""
    try:
        _run(["id", "-u", user])
    except RuntimeError:
        made = subprocess.run(["useradd", "-m", "-s", "/bin/bash", user],
                              capture_output=True, text=True)
        if made.returncode not in (0, 9):  # 9: made meanwhile by another test process
            raise RuntimeError(f"useradd {user}: {made.stderr.strip()}") from None
    _run(["usermod", "-p", "*", user])
    home = Path(_run(["getent", "passwd", user]).stdout.split(":")[5])
    home.mkdir(parents=True, exist_ok=True)
    shutil.chown(home, user, user)
    return home


def _as_user(user: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True,
                          text=True, cwd="/")


def _user_python(user: str, folder: Path) -> Path:
    """An interpreter ``user`` can run that imports traindeck (see the module docstring)."""
    probe = ["-c", "import traindeck, numpy, httpx"]
    own = Path(sys.executable)
    if _as_user(user, [str(own), *probe]).returncode == 0:
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for base in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if _as_user(user, [base, "-c", "pass"]).returncode == 0:
            break
    else:
        raise RuntimeError(f"no {version} that {user} can run; {own} is out of its reach")
    venv = folder / "venv"
    _run([base, "-m", "venv", "--without-pip", str(venv)])
    site = Path(_run([str(venv / "bin" / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "traindeck_checkout.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
    python = venv / "bin" / "python"
    checked = _as_user(user, [str(python), *probe])
    if checked.returncode != 0:
        raise RuntimeError(f"{python} cannot import traindeck as {user}: {checked.stderr}")
    return python


def _path_without_tmux(folder: Path) -> Path:
    """A folder of links to every program in /usr/bin but tmux."""
    folder.mkdir(mode=0o755)
    for entry in os.scandir("/usr/bin"):
        if entry.name != "tmux":
            (folder / entry.name).symlink_to(entry.path)
    return folder


class SSHD:
    """One sshd (see the module docstring). Made by :func:`running_sshd`."""

    def __init__(self, folder: Path, *, user: str = USER, tmux: bool = True,
                 env: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.host = "127.0.0.1"
        self.user = user
        self.home = ensure_user(user)
        self.port = free_port()
        self.log = folder / "sshd.log"
        self._pidfile = folder / "sshd.pid"
        self._config = folder / "sshd_config"
        self._pid: int | None = None
        host_key = folder / "host_ed25519"
        self.client_key = folder / "client_ed25519"
        for key, comment in ((host_key, "traindeck-test-host"), (self.client_key, "td-client")):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
        host_pub = host_key.with_suffix(".pub").read_text().split()
        self.known_hosts_line = f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}"
        self.host_fingerprint = _run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                                      str(host_key)]).stdout.split()[1]
        authorized = folder / f"authorized_keys.{user}"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o644)
        self.bin_dir = folder / "bin"
        if tmux:
            self.bin_dir.mkdir(mode=0o755)
            path = f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        else:
            path = f"{_path_without_tmux(self.bin_dir)}:/usr/sbin:/sbin"
        self.tmux = tmux
        # A tmux server of this sshd's own (its socket in this folder): sessions of one test
        # never join a server another test, or a killed earlier run, left behind.
        self.tmux_dir = folder / "tmux"
        self.tmux_dir.mkdir(mode=0o700)
        shutil.chown(self.tmux_dir, user, user)
        set_env = " ".join(f"{k}={v}" for k, v in {
            "PATH": path, "TMUX_TMPDIR": str(self.tmux_dir), **(env or {})}.items())
        self.python = _user_python(user, folder)
        self.workdir = Path(tempfile.mkdtemp(prefix="work-", dir=self.home))
        shutil.chown(self.workdir, user, user)
        self._config.write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {host_key}",
            f"PidFile {self._pidfile}", f"AuthorizedKeysFile {folder}/authorized_keys.%u",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
            "AllowTcpForwarding yes", "ClientAliveInterval 0", "MaxStartups 50",
            "Subsystem sftp internal-sftp", f"SetEnv {set_env}", "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd refuses to run without it
        _run([str(SSHD_BIN), "-t", "-f", str(self._config)])

    @property
    def running(self) -> bool:
        return self._pid is not None and psutil.pid_exists(self._pid)

    def start(self) -> None:
        """Start the listener (again): same port, same host key; returns once it accepts."""
        if self.running:
            return
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self._pidfile.unlink(missing_ok=True)
        _run([str(SSHD_BIN), "-f", str(self._config), "-E", str(self.log)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._pidfile.exists() and self._pidfile.read_text().strip():
                self._pid = int(self._pidfile.read_text())
                with contextlib.suppress(OSError), socket.create_connection(
                        (self.host, self.port), timeout=1):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start on port {self.port}: {self.log.read_text()}")

    def _connections(self) -> list[psutil.Process]:
        """The per-connection sshd processes: the listener's children (one privileged
        monitor per connection) and theirs (the user's session process, whose children are
        the user's commands, left alone)."""
        found: list[psutil.Process] = []
        if self._pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                monitors = psutil.Process(self._pid).children()
                found.extend(monitors)
                for monitor in monitors:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        found.extend(monitor.children())
        # ... and whatever holds a connection to this port (one accepted by an earlier
        # listener of this sshd, stopped and started again since, is no child of this one)
        pids = {c.pid for c in psutil.net_connections(kind="tcp")
                if c.pid and c.laddr and c.laddr.port == self.port and c.raddr
                and c.status == psutil.CONN_ESTABLISHED and c.pid != os.getpid()}
        known = {p.pid for p in found}
        for pid in pids - known:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
        return found

    def drop_connections(self) -> int:
        """Kill every live SSH connection (SIGKILL by PID); the listener stays. Returns how
        many sshd processes were killed."""
        procs = self._connections()
        self._kill(procs)
        return len(procs)

    def stop(self, *, keep_connections: bool = False) -> None:
        """Stop the listener (SIGTERM, by PID) and, unless ``keep_connections``, every live
        connection."""
        # The listener first: a client that reconnects at once must find nobody there.
        if self._pid is not None:
            connections = self._connections()
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(self._pid)
                proc.terminate()
                try:
                    proc.wait(10)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            self._pid = None
            if not keep_connections:
                # again now that nothing accepts: a connection accepted between the first
                # look and the listener's end is found by the port it holds
                self._kill(connections)
                for _ in range(3):
                    late = self._connections()
                    if not late:
                        break
                    self._kill(late)

    @staticmethod
    def _kill(procs: list[psutil.Process]) -> None:
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)

    def leftovers(self) -> list[psutil.Process]:
        """The user's processes this sshd's sessions left running: its tmux server, and what
        runs in (or names) its workdir or folder."""
        mine = (str(self.workdir), str(self.folder))
        found = []
        for proc in psutil.process_iter(["username", "cmdline"]):
            if proc.info["username"] != self.user:
                continue
            try:
                cwd = proc.cwd()
            except psutil.Error:
                cwd = ""
            line = " ".join(proc.info["cmdline"] or [])
            if cwd.startswith(mine) or any(m in line for m in mine):
                found.append(proc)
        return found

    def close(self) -> None:
        """Stop everything (what its sessions left running too, by PID) and remove the
        folders (the user stays)."""
        self.stop()
        left = self.leftovers()
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(left, timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def available() -> str | None:
    """Why a real sshd cannot run here (``None``: it can)."""
    if not SSHD_BIN.exists():
        return f"{SSHD_BIN} (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "root (sshd for another user needs it)"
    for tool in ("ssh-keygen", "useradd", "runuser"):
        if shutil.which(tool) is None:
            return tool
    return None


@contextlib.contextmanager
def running_sshd(*, tmux: bool = True, start: bool = True,
                 env: Mapping[str, str] | None = None) -> Iterator[SSHD]:
    """An :class:`SSHD`, started unless ``start=False`` (for "sshd started late"), with
    ``env`` set in its sessions,
    stopped and removed at the end. Skips (fails under ``TRAINDECK_REQUIRE_ALL=1``) when sshd
    cannot run here; with ``tmux=True`` tmux is required too."""
    lacking = available()
    if lacking is None and tmux and shutil.which("tmux") is None:
        lacking = "tmux (apt-get install tmux)"
    if lacking is not None:
        missing(f"a real sshd: {lacking}")
    folder = Path(tempfile.mkdtemp(prefix="td-sshd-"))
    folder.chmod(0o711)
    try:
        server = SSHD(folder, tmux=tmux, env=env)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        if start:
            server.start()
        yield server
    finally:
        server.close()
