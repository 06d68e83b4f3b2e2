"""The executors a server offers its launcher: ``local`` and ``slurm`` (``sbatch`` on this
machine) always; ``ssh`` when asyncssh is installed (the ``[ssh]`` extra)."""

from __future__ import annotations

import logging
from pathlib import Path

from traindeck.launch.executor import Executor
from traindeck.launch.local import LocalExecutor
from traindeck.launch.runner import LocalRunner
from traindeck.launch.slurm import SlurmExecutor
from traindeck.runfiles import RunFiles
from traindeck.store import Store

from .settings import Settings

log = logging.getLogger("traindeck.server")

#: Addresses a server listens on that a reverse forward reaches through loopback.
_ANY = frozenset({"0.0.0.0", "::", "", "localhost"})


def build_executors(settings: Settings, store: Store, files: RunFiles,
                    known_hosts: Path) -> dict[str, Executor]:
    executors: dict[str, Executor] = {"local": LocalExecutor(),
                                      # sbatch on this machine; it says so when missing
                                      "slurm": SlurmExecutor(LocalRunner(
                                          dict(settings.slurm_env)))}
    try:
        from traindeck.remote.slurm_login import SlurmLogins
        from traindeck.remote.ssh_executor import SSHExecutor
        from traindeck.remote.wheel import server_wheel
    except ImportError as exc:  # no asyncssh: local (and Slurm on this machine) only
        log.info("no ssh executor (pip install 'traindeck[ssh]'): %s", exc)
    else:
        host = "127.0.0.1" if settings.host in _ANY else settings.host
        server = (host, settings.port)
        wheel = server_wheel(Path(store.files_root) / "wheels",
                             None if settings.ssh_wheel is None else Path(settings.ssh_wheel))
        executors["ssh"] = SSHExecutor(hosts=store.get_host, known_hosts=known_hosts,
                                       server=server, files=files, wheel=wheel)
        # A Slurm launch naming a host submits on that login node over SSH.
        executors["slurm"] = SlurmExecutor(
            LocalRunner(dict(settings.slurm_env)),
            login=SlurmLogins(hosts=store.get_host, known_hosts=known_hosts, server=server,
                              files=files, wheel=wheel))
    return executors
