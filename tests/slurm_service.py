"""A real one-node Slurm on 127.0.0.1 for tests (importable as ``slurm_service``).

``slurmctld`` and ``slurmd`` are started from a ``slurm.conf`` (their state, pid and log files
in a temp folder), on free ports, with ``AuthType=auth/none``
(no munged to run: a loopback-only test cluster), and stopped by their PIDs. The node
claims at least 4 CPUs whatever this machine has (``SlurmdParameters=config_overrides``),
so two-rank jobs and a job filling the node work on a 2-core runner too. Starting it takes
about a second: share one per session (:func:`slurm_session`).

Commands reach it through ``SLURM_CONF`` (:attr:`SlurmService.env`, or
:meth:`SlurmService.runner`). The config file and slurmd's spool (where a job's script
lives while it runs) are in a folder of their own that every user can reach (``public``:
mode 0711, the config 0644; it holds no secret), so that a job another user submits (the
sshd fixture's ``tdssh``, on a "login node") runs as that user and finds both; state, pid
and log files stay in the private ``folder``.

A machine without Slurm, or a user other than root (slurmd runs jobs as their users), skips,
or fails under ``TRAINDECK_REQUIRE_ALL=1`` (``support.missing``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port, missing, wait_for

from traindeck.launch.runner import LocalRunner

#: Where Debian puts the daemons (often not on a user's PATH).
SBIN = "/usr/sbin:/usr/bin:/sbin:/bin"
PROGRAMS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
PARTITION = "debug"
NODE_CPUS_AT_LEAST = 4


def _program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN)


def _mem_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return max(1024, int(line.split()[1]) // 1024 - 2048)
    except OSError:
        pass
    return 4096


def _conf(folder: Path, public: Path, cpus: int, ctld_port: int, slurmd_port: int) -> str:
    return "\n".join([
        "ClusterName=traindeck",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "AuthType=auth/none",
        "CredType=cred/none",
        f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={public}/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SlurmdParameters=config_overrides",
        "MpiDefault=none",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "MinJobAge=300",
        "KillWait=5",
        f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_mem_mb()} "
        "State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours (the daemons are not our children, but be safe)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class SlurmService:
    """A running one-node Slurm: its config file, partition and node size."""

    folder: Path
    conf: Path
    partition: str
    cpus: int
    #: The config and spool, reachable by every user (removed by :meth:`stop`).
    public: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a Slurm command needs in its environment to reach this cluster."""
        path = os.environ.get("PATH", "")
        return {"SLURM_CONF": str(self.conf), "PATH": f"{path}:{SBIN}" if path else SBIN}

    def runner(self) -> LocalRunner:
        """A command runner that talks to this cluster."""
        return LocalRunner(self.env)

    def command(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a Slurm command against this cluster (for tests' own checks)."""
        return subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              timeout=60, env={**os.environ, **self.env})

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            try:
                text = (self.folder / name).read_text(errors="replace").splitlines()
            except OSError:
                continue
            out.append(f"--- {name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    @classmethod
    def start(cls, folder: Path) -> SlurmService:
        """Start slurmctld and slurmd in ``folder`` and wait for the node to be idle."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "state").mkdir(exist_ok=True)
        public = Path(tempfile.mkdtemp(prefix="td-slurm-"))
        public.chmod(0o711)
        (public / "spool").mkdir(mode=0o755)
        cpus = max(os.cpu_count() or 1, NODE_CPUS_AT_LEAST)
        conf = public / "slurm.conf"
        conf.write_text(_conf(folder, public, cpus, free_port(), free_port()))
        conf.chmod(0o644)
        service = cls(folder=folder, conf=conf, partition=PARTITION, cpus=cpus, public=public)
        env = {**os.environ, **service.env}
        for daemon in (["slurmctld", "-f", str(conf), "-i"],
                       ["slurmd", "-f", str(conf), "-N", "localhost"]):
            done = subprocess.run([_program(daemon[0]) or daemon[0], *daemon[1:]], env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                service.stop()
                raise RuntimeError(f"{daemon[0]} did not start: {done.stderr}\n"
                                   f"{service.log_tail()}")

        def idle() -> bool:
            return service.command("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"

        try:
            wait_for(idle, 60, "the Slurm node to be idle", interval=0.1)
        except AssertionError:
            tail = service.log_tail()
            service.stop()
            raise AssertionError(f"the Slurm node never became idle\n{tail}") from None
        return service

    def cancel_all(self) -> None:
        """Cancel every job of this cluster (whoever submitted it) and wait until none
        runs."""
        ids = self.command("squeue", "-h", "-o", "%i").stdout.split()
        if ids:
            self.command("scancel", "--full", "--signal=KILL", *ids)
            self.command("scancel", *ids)

        def quiet() -> bool:
            out = self.command("squeue", "-h", "-o", "%T").stdout.split()
            return not any(s in ("RUNNING", "COMPLETING", "STOPPED", "SUSPENDED") for s in out)

        try:
            wait_for(quiet, 30, "Slurm's jobs to end", interval=0.1)
        except AssertionError:
            pass
        for pid in self.job_pids():  # what Slurm's cancel left (it waits KillWait)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def job_pids(self) -> list[int]:
        """The processes of this node's jobs, as slurmd's steps know them."""
        listed = self.command("scontrol", "listpids").stdout.splitlines()[1:]
        return [int(line.split()[0]) for line in listed if line.split()[:1] != ["-1"]
                and line.split() and line.split()[0].isdigit()]

    def stop(self) -> None:
        """End the jobs, then both daemons, by their PIDs."""
        if _pid(self.folder / "slurmctld.pid") is not None:
            self.cancel_all()
        for name in ("slurmd.pid", "slurmctld.pid"):
            pid = _pid(self.folder / name)
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self.public is not None:
            shutil.rmtree(self.public, ignore_errors=True)


def slurm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmService]:
    """The body of a session fixture: a started Slurm, stopped at the end; skips (or fails
    under ``TRAINDECK_REQUIRE_ALL=1``) when Slurm cannot run here.

    In a conftest: ``@pytest.fixture(scope="session")`` ``def slurm(tmp_path_factory):
    yield from slurm_session(tmp_path_factory)``."""
    absent = [p for p in PROGRAMS if _program(p) is None]
    if absent:
        missing(f"Slurm ({', '.join(absent)}; apt-get install slurmctld slurmd slurm-client)")
    if os.geteuid() != 0:
        missing("root, to run slurmd (it starts jobs as their users)")
    service = SlurmService.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield service
    finally:
        service.stop()
