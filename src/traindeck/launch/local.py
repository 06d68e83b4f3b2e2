"""The local executor: launched processes on this machine.

Each launch runs under a tiny wrapper (``python -S -c _WRAPPER``, stdlib only) that starts
the command, waits for it and writes its exit status to a file, so that the status is
known even when the server that started it was restarted in between (a process can only
``wait`` for its own children). The wrapper is the process group's leader, in a session
of its own; it ignores SIGTERM and SIGINT, which reach the whole group, so that it lives
to record how the command ended. Its stdout and stderr are files, inherited at the file
descriptor level by the command and everything it starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import psutil

from .executor import ExecutorError, Handle, ProcessSpec

#: How close a process's start time must be to the recorded one to be the same process.
START_TIME_SLACK: Final = 1.0

_WRAPPER: Final = r"""
import os, signal, sys, time
exit_file = sys.argv[1]
argv = sys.argv[2:]
try:  # a child subreaper: what the command leaves behind is reparented here and reaped
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, ("traindeck: cannot run %r: %s\n" % (argv[0], exc)).encode())
        os._exit(127)
signal.signal(signal.SIGTERM, lambda *a: None)
signal.signal(signal.SIGINT, lambda *a: None)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
tmp = exit_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(code))
os.replace(tmp, exit_file)
# Reap what ended with the command (a killed group) for a moment; what still runs is left.
deadline = time.monotonic() + 0.5
while True:
    try:
        done, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if done == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
sys.exit(code if code >= 0 else 128 - code)
"""


def _read_exit(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


class LocalExecutor:
    """Processes on this machine (see the module's doc)."""

    name = "local"

    def __init__(self, python: str = sys.executable) -> None:
        self._python = python
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, spec: ProcessSpec) -> Handle:
        if not spec.argv:
            raise ExecutorError("the command is empty")
        for path in (spec.stdout, spec.stderr, spec.exit_file):
            path.parent.mkdir(parents=True, exist_ok=True)
        spec.exit_file.unlink(missing_ok=True)
        if not spec.cwd.is_dir():
            raise ExecutorError(f"the working folder {spec.cwd} does not exist")
        try:
            with open(spec.stdout, "ab") as out, open(spec.stderr, "ab") as err:
                proc = subprocess.Popen(
                    [self._python, "-S", "-c", _WRAPPER, str(spec.exit_file), *spec.argv],
                    cwd=spec.cwd, env=dict(spec.env), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=err, start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ExecutorError(f"cannot start {spec.argv[0]!r}: {exc}") from exc
        try:
            start_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            start_time = 0.0
        with self._lock:
            self._children[proc.pid] = proc
        return Handle(pid=proc.pid, start_time=start_time, stdout=str(spec.stdout),
                      stderr=str(spec.stderr), exit_file=str(spec.exit_file))

    def _same_process(self, handle: Handle) -> bool:
        return _state_of(handle) == "running"

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        with self._lock:
            child = self._children.get(handle.pid)
        if child is not None:
            code = child.poll()
            if code is None:
                return False, None
            recorded = _read_exit(handle.exit_file)
            return True, recorded if recorded is not None else code
        state = _state_of(handle)
        if state == "running":
            return False, None
        if state == "zombie":
            # Ended, but not reaped: a child of this process started by an earlier launcher
            # (a server restarted in this process). Reaped here, after it is seen ended and
            # known to be this launch's process: reaping first and looking second left a
            # zombie when it ended in between, and a zombie keeps its group alive.
            try:
                os.waitpid(handle.pid, os.WNOHANG)
            except ChildProcessError:
                pass
        return True, _read_exit(handle.exit_file)

    def group_alive(self, handle: Handle) -> bool:
        self.poll(handle)  # reaps our own child, so that a zombie does not count
        try:
            os.killpg(handle.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def signal(self, handle: Handle, sig: int) -> None:
        with self._lock:
            ours = handle.pid in self._children
        if not ours and not self._same_process(handle):
            return  # the pid may belong to someone else by now
        try:
            os.killpg(handle.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, handle: Handle) -> None:
        """SIGKILL to every process of the group but its leader, the wrapper: it reaps them
        (a child subreaper), records the exit and ends, so no zombie is left behind."""
        members = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != handle.pid and os.getpgid(proc.pid) == handle.pid:
                    members.append(proc.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not members:  # nothing but the wrapper (or not ours any more): the whole group
            self.signal(handle, signal.SIGKILL)

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        handle = Handle.from_state(state)
        if handle is None:
            return _find_started(state)
        return handle if self._same_process(handle) or _read_exit(handle.exit_file) is not None \
            else None

    def close(self) -> None:
        """Let go of the processes still running (they outlive this server, and the next
        one adopts them): no "still running" warning when their ``Popen`` is dropped."""
        with self._lock:
            children, self._children = list(self._children.values()), {}
        for child in children:
            if child.poll() is None:
                child.returncode = 0  # detached, not ended: only silences Popen.__del__

    def release(self, handle: Handle) -> None:
        with self._lock:
            child = self._children.pop(handle.pid, None)
        if child is not None:
            child.poll()


def _state_of(handle: Handle) -> Literal["running", "zombie", "gone"]:
    """Whether ``handle``'s process runs, has ended but is not reaped, or is gone (a pid
    now held by another process, told apart by its start time, is gone)."""
    try:
        proc = psutil.Process(handle.pid)
        if abs(proc.create_time() - handle.start_time) > START_TIME_SLACK:
            return "gone"
        return "zombie" if proc.status() == psutil.STATUS_ZOMBIE else "running"
    except psutil.Error:
        return "gone"


def _find_started(state: Mapping[str, Any]) -> Handle | None:
    """The wrapper a server started but did not get to record (it stopped in between):
    found by the exit file on its command line, which names one launch's start."""
    exit_file, stdout, stderr = (state.get(k) for k in ("exit_file", "stdout", "stderr"))
    if not (isinstance(exit_file, str) and isinstance(stdout, str) and isinstance(stderr, str)):
        return None
    for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
        cmdline = proc.info.get("cmdline") or []
        # [python, -S, -c, _WRAPPER, exit_file, *argv]
        if len(cmdline) > 4 and cmdline[1:3] == ["-S", "-c"] and cmdline[3] == _WRAPPER \
                and cmdline[4] == exit_file and proc.pid > 0:
            return Handle(pid=proc.pid, start_time=float(proc.info["create_time"] or 0.0),
                          stdout=stdout, stderr=stderr, exit_file=exit_file)
    return None


def processes_of(handle: Handle) -> list[psutil.Process]:
    """The processes of a launch's group still alive (for resource use and tests)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == handle.pid:
                out.append(proc)
        except (ProcessLookupError, PermissionError):
            continue
    return out
