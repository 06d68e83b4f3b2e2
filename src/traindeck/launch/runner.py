"""Where an executor's commands run: a small seam between "run this command line" and the
machine it runs on.

The Slurm executor runs ``sbatch``/``squeue``/``scontrol``/``scancel`` (and writes its
files) only through a :class:`CommandRunner`, so the same executor drives Slurm on this
machine (:class:`LocalRunner`) or on a cluster's login node over SSH (a runner that hands
``shlex.join(argv)`` to :meth:`traindeck.remote.ssh.SSHLink.run`, whose ``RunResult`` has
the same fields as :class:`CommandResult`).

A runner raises :class:`RunnerError` (an ``ExecutorError``) when the command could not be
run at all (missing program, time out, connection down); a command that ran and failed is
a :class:`CommandResult` with a non-zero status. Command lines never go into messages or
logs: they may carry paths a user considers private.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from .executor import ExecutorError


class CommandResult(NamedTuple):
    """A finished command: its exit status (negative: killed by that signal), its stdout
    and stderr (UTF-8, undecodable bytes replaced)."""

    exit_status: int
    stdout: str
    stderr: str


class RunnerError(ExecutorError):
    """The command could not be run (not found, timed out, the host is away)."""


class CommandRunner(Protocol):
    """Runs one command line to its end and returns what it printed."""

    def run(self, argv: Sequence[str], *, input: str | None = None,
            timeout: float = 60.0) -> CommandResult:
        """Run ``argv`` (no shell unless ``argv`` asks for one) with ``input`` on stdin;
        :class:`RunnerError` when it cannot be run or outlives ``timeout`` seconds."""
        ...


class LocalRunner:
    """Commands on this machine, as child processes, with this process's environment plus
    ``extra_env`` (e.g. ``SLURM_CONF``), and ``umask`` for the files they create."""

    def __init__(self, extra_env: Mapping[str, str] | None = None, *, umask: int = 0o077) -> None:
        self._env = {**os.environ, **(extra_env or {})}
        self._umask = umask

    def run(self, argv: Sequence[str], *, input: str | None = None,
            timeout: float = 60.0) -> CommandResult:
        if not argv:
            raise RunnerError("the command is empty")
        try:
            done = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                                  errors="replace", timeout=timeout, env=self._env,
                                  umask=self._umask, check=False,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except FileNotFoundError:
            raise RunnerError(f"{argv[0]!r} is not installed here (not found on PATH)") from None
        except PermissionError:
            raise RunnerError(f"{argv[0]!r} cannot be run here (permission denied)") from None
        except subprocess.TimeoutExpired:
            raise RunnerError(f"{argv[0]!r} did not finish within {timeout:.0f} s") from None
        return CommandResult(done.returncode, done.stdout, done.stderr)


def write_private(runner: CommandRunner, path: str, text: str, *, timeout: float = 30.0) -> None:
    """Write ``text`` to ``path`` through ``runner`` (so also on a remote host), readable by
    its owner only (0600, its folder made 0700 when missing), replacing it atomically."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.tmp"
    script = (f"umask 077 && mkdir -p {shlex.quote(folder)} && cat > {shlex.quote(tmp)} && "
              f"chmod 600 {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
    done = runner.run(["sh", "-c", script], input=text, timeout=timeout)
    if done.exit_status != 0:
        raise RunnerError(f"cannot write {path}: {done.stderr.strip() or done.exit_status}")


def read_text(runner: CommandRunner, path: str, *, timeout: float = 30.0) -> str | None:
    """The text of ``path`` through ``runner``; ``None`` when it cannot be read."""
    done = runner.run(["cat", "--", path], timeout=timeout)
    return done.stdout if done.exit_status == 0 else None
