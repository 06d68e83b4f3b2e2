"""One launch on a host as its executor follows it: its state file's contents, its local
console files, its link, and what the launcher asked of it (signals, a cancel before it
started). Shared by both executors on hosts (``ssh_executor``, ``slurm_login``), the steps
that bring a launch there (``staging``) and the loops that follow it (``follow``,
``slurm_login_work``)."""

from __future__ import annotations

import signal as signals
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final

from traindeck.launch.executor import ProcessSpec
from traindeck.remote import job
from traindeck.remote.deploy import Cancelled, RemoteSettings
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.remote.ssh_state import SSHState, write_state

#: Signals that, before the process exists, stop its start.
CANCELLING: Final = frozenset({signals.SIGTERM, signals.SIGINT, signals.SIGHUP,
                               signals.SIGKILL})


@dataclass
class RemoteLaunch:
    """What the executor knows of one launch (``st`` and the flags guarded by ``lock``)."""

    #: What runs on the host and sends the metrics (log lines say it).
    RUNS: ClassVar[str] = "script"
    key: str
    st: SSHState
    state_file: Path
    stdout: Path
    stderr: Path
    exit_file: Path
    target: SSHTarget
    spec: ProcessSpec | None = None
    settings: RemoteSettings | None = None
    #: :meth:`SSHExecutor.detail`'s line.
    line: str = ""
    ended: bool = False
    code: int | None = None
    error: str | None = None
    #: A cancelling signal that came before the process existed.
    cancel: int | None = None
    #: SIGSTOP came before the process existed (and no SIGCONT after it).
    paused: bool = False
    #: Signals for the launch's thread to send: ("signal", sig) or ("kill", SIGKILL).
    actions: list[tuple[str, int]] = field(default_factory=list)
    link: SSHLink | None = None
    #: The reverse forward is set up on ``link``.
    forwarded: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def dir(self) -> job.LaunchDir:
        assert self.st.workdir is not None
        return job.LaunchDir(self.st.workdir, self.key)

    def save(self) -> None:
        write_state(self.state_file, self.st)

    def running_line(self) -> str:
        how = f"tmux {self.st.session}" if self.st.runner == "tmux" else "nohup"
        return f"running ({how})"

    def keep(self, sig: int) -> None:
        """A signal that came before the process existed (under :attr:`lock`): a cancelling
        one stops the start, SIGSTOP/SIGCONT are kept for the process."""
        if sig in CANCELLING:
            self.cancel = sig
        elif sig in (signals.SIGSTOP, signals.SIGCONT):
            self.paused = sig == signals.SIGSTOP

    def queue_kept(self) -> None:
        """The process exists now (under :attr:`lock`): what :meth:`keep` kept is queued
        for it (a cancel, else a pause)."""
        if self.cancel is not None:
            self.actions.append(("signal", self.cancel))
        elif self.paused:
            self.actions.append(("signal", signals.SIGSTOP))

    def fail(self, message: str, code: int | None = None) -> None:
        """The launch ends without running (or without an exit status): the reason goes to
        the console's stderr, the state file, :attr:`error` and :attr:`line`."""
        append(self.stderr, f"traindeck: {message}\n")
        with self.lock:
            self.st.stage, self.st.error, self.st.exit_code = "failed", message, code
            self.save()
            self.ended, self.code, self.error = True, code, message
            self.line = f"failed: {message}"


class Reporter:
    """:class:`~traindeck.remote.deploy.Report` over a launch."""

    def __init__(self, launch: RemoteLaunch) -> None:
        self.la = launch

    def stage(self, stage: str, line: str) -> None:
        with self.la.lock:
            self.la.st.stage, self.la.line = stage, line
            self.la.save()

    def line(self, text: str) -> None:
        self.la.line = text

    def check(self) -> None:
        if self.la.cancel is not None or self.la.stop.is_set():
            raise Cancelled


def deliver(la: RemoteLaunch, link: SSHLink, actions: list[tuple[str, int]]) -> None:
    """Send ``actions`` to the launch's process group on the host (``kill``: SIGKILL to all
    but the wrapper, so that it records the exit)."""
    pgid, pid = la.st.pgid, la.st.pid
    if pgid is None or pid is None:
        return
    for kind, sig in actions:
        if kind == "kill":
            command = job.kill_command(pgid, pid)
        else:
            command = job.signal_command(pgid, signals.Signals(sig).name.removeprefix("SIG"))
        link.run(command, timeout=30)


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(text)
