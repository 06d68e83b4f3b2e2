"""The executor interface: how the launcher starts, watches, signals and finds again the
process of a launch, wherever it runs (DESIGN §8: local today; SSH and Slurm implement the
same methods).

A :class:`Handle` is all an executor needs to reach a process again, also from a new server
process after a restart: it is stored in the launch row (``Handle.to_state``) and read back
with :meth:`Executor.adopt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ProcessSpec:
    """What to start: ``argv`` in ``cwd`` with ``env`` (the whole environment), its
    stdout and stderr written to ``stdout``/``stderr`` (files), its exit status to
    ``exit_file``. ``resources``: what the launch asks of the executor (Slurm: partition,
    nodes, tasks, cpus, gpus, mem, time, account; checked by the executor that takes them,
    ignored by the local one)."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    stdout: Path
    stderr: Path
    exit_file: Path
    resources: Mapping[str, Any] = field(default_factory=dict)
    #: The host the launch names (``traindeck hosts``): the SSH executor's machine, or the
    #: Slurm login node; ``None``: this machine.
    host: str | None = None
    #: The template's ``remote:`` settings (datasets, excludes, result patterns, venv, setup
    #: command), for executors that run elsewhere.
    remote: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handle:
    """A started process: its pid (also its process group's id), when it started (to tell
    it from a later process that reuses the pid), and where its output and exit go."""

    pid: int
    start_time: float
    stdout: str
    stderr: str
    exit_file: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "stdout": self.stdout,
                "stderr": self.stderr, "exit_file": self.exit_file, "extra": dict(self.extra)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Handle | None:
        """The handle a launch row's state holds; ``None`` when it holds none."""
        try:
            return cls(pid=int(state["pid"]), start_time=float(state["start_time"]),
                       stdout=str(state["stdout"]), stderr=str(state["stderr"]),
                       exit_file=str(state["exit_file"]), extra=dict(state.get("extra", {})))
        except (KeyError, TypeError, ValueError):
            return None


class ExecutorError(Exception):
    """The executor could not do what was asked (the command is missing, the host is
    away…); the message says why, for the launch's ``error``."""


class Executor(Protocol):
    """Starts and controls launched processes. Methods may be called from any thread.

    An executor may also have ``detail(handle) -> str | None`` (:class:`Detailed`), a short
    line saying what the process is waiting for; :func:`detail_of` asks for it.
    """

    name: str

    def start(self, spec: ProcessSpec) -> Handle:
        """Start the process in a process group (and session) of its own. ``ExecutorError``
        if it cannot be started."""

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        """``(ended, exit code)``: whether the process has ended, and its exit status when
        known (negative: killed by that signal; ``None``: ended, status unknown)."""

    def group_alive(self, handle: Handle) -> bool:
        """Whether any process of the launch's process group is left."""

    def signal(self, handle: Handle, sig: int) -> None:
        """Send ``sig`` to the whole process group (a no-op when it is gone)."""

    def kill(self, handle: Handle) -> None:
        """End the whole group now (SIGKILL), leaving no zombie behind where possible."""

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        """The handle of a process started before a restart, when that same process (pid
        and start time match) is still there; ``None`` when it is gone."""

    def release(self, handle: Handle) -> None:
        """Forget the process (it ended and was reported)."""

    def close(self) -> None:
        """Let go of every process (the server stops; they run on)."""


@runtime_checkable
class Detailed(Protocol):
    """The optional part of :class:`Executor`: a short human line on where a launch stands
    ("pending: Resources", "waiting for SSH on host:22 (12 s)"), ``None`` when there is
    nothing to add to its status."""

    def detail(self, handle: Handle) -> str | None: ...


@runtime_checkable
class RequestChecked(Protocol):
    """The optional part of :class:`Executor` that checks a launch request before anything
    is made (unknown or badly typed resources, a host it cannot use): ``ExecutorError``
    saying what is wrong."""

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None: ...


@runtime_checkable
class Staged(Protocol):
    """The optional part of :class:`Executor` whose start takes a while (a Slurm queue, an
    SSH host coming up, an upload): ``False`` until the process itself runs. Until then
    the launch is ``starting`` and its run ``queued``."""

    def started(self, handle: Handle) -> bool: ...


def started_of(executor: Executor, handle: Handle) -> bool:
    """``executor.started(handle)`` when the executor has it, else ``True``."""
    return executor.started(handle) if isinstance(executor, Staged) else True


@runtime_checkable
class Explained(Protocol):
    """The optional part of :class:`Executor` that says why a launch ended without an exit
    status (its start failed on the way: the host key is unknown, the upload failed…)."""

    def error(self, handle: Handle) -> str | None: ...


def error_of(executor: Executor, handle: Handle) -> str | None:
    """``executor.error(handle)`` when the executor has it, else ``None``."""
    return executor.error(handle) if isinstance(executor, Explained) else None


def detail_of(executor: Executor, handle: Handle) -> str | None:
    """``executor.detail(handle)`` when the executor has it, else ``None``."""
    return executor.detail(handle) if isinstance(executor, Detailed) else None
