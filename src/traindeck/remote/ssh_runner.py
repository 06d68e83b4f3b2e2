"""A :class:`~traindeck.launch.runner.CommandRunner` over SSH: the Slurm executor's
``sbatch``/``squeue``/``scontrol``/``scancel`` (and the files it writes) run on a cluster's
login node through that host's shared :class:`~traindeck.remote.ssh.SSHLink`.

The argv is quoted into one command line (``shlex.join``) for the remote user's shell, so the
login node's own environment (its PATH, its ``SLURM_CONF``) applies, as when the user logs
in. ``input`` goes to the command's stdin: what :func:`~traindeck.launch.runner.
write_private` writes (an env file with a token) is never on a command line.

The link is asked for each time (``link()``): it may be replaced after it gave up. Any SSH
trouble (no link, the connection down or dropped during the command, a time out) is a
:class:`~traindeck.launch.runner.RunnerError`: to the Slurm executor, "Slurm is not
answering", never an end of a job.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from traindeck.launch.runner import CommandResult, RunnerError
from traindeck.remote.errors import SSHError
from traindeck.remote.ssh import SSHLink


class SSHRunner:
    """Runs commands on the host ``name`` through ``link()`` (``None``: not connected now)."""

    def __init__(self, name: str, link: Callable[[], SSHLink | None]) -> None:
        self.name = name
        self._link = link

    def run(self, argv: Sequence[str], *, input: str | None = None,
            timeout: float = 60.0) -> CommandResult:
        if not argv:
            raise RunnerError("the command is empty")
        link = self._link()
        if link is None:
            raise RunnerError(f"not connected to {self.name}")
        try:
            done = link.run(shlex.join(argv), input=input, timeout=timeout)
        except SSHError as exc:
            raise RunnerError(str(exc)) from None
        if done.exit_status == 127 and "not found" in done.stderr:
            raise RunnerError(f"{argv[0]!r} is not installed on {self.name} (not found on "
                              "its PATH for a non-interactive login)")
        return CommandResult(done.exit_status, done.stdout, done.stderr)
