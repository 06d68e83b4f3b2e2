"""A Slurm launch on paper: its resources, checked, and the batch script that runs it.

Resources (a launch's ``"resources"``, :attr:`ProcessSpec.resources`) become ``#SBATCH``
lines; every key is checked (unknown keys, wrong types and a bad time limit are refused with
a message that says what is accepted), so a mistake is reported when the launch is made,
not as a cryptic ``sbatch`` error later:

=========== ======================== =====================================================
key         type                     becomes
=========== ======================== =====================================================
partition   name                     ``--partition`` (none: the cluster's default)
account     name                     ``--account``
nodes       int >= 1                 ``--nodes``
tasks       int >= 1                 ``--ntasks``: processes in all, one per rank
                                     (``srun`` starts them, ``SLURM_PROCID`` their rank)
cpus        int >= 1                 ``--cpus-per-task``
gpus        int >= 0, or "type:n"    ``--gpus`` (for the whole job)
mem         int (MB) or "16G"/"512M" ``--mem`` (per node)
time        minutes, or Slurm's      ``--time``: ``M``, ``M:S``, ``H:M:S``, ``D-H``,
            ``D-H:M:S`` forms        ``D-H:M``, ``D-H:M:S``
=========== ======================== =====================================================

**The environment never goes through Slurm.** The launch's environment holds a write token:
it is written to a private env file (0600) that the script sources and deletes as it starts,
and the job is submitted with ``--export=NONE``, so the token is on no command line, in no
``#SBATCH`` line, not in the script Slurm keeps, nor in what ``scontrol show job`` prints.
``SLURM_EXPORT_ENV=ALL`` is set after sourcing so that ``srun`` hands it to every rank.

**The command is a job step**, started with ``srun`` also for a single task: Slurm then
tracks its processes itself, so a signal (``scancel --signal``) and a SIGKILL reach exactly
them. Run as a plain child of the batch shell instead, a SIGKILL for the batch step reaches
only the shell on clusters that track processes by ancestry (``proctrack/linuxproc``), and
the orphaned command runs on.

The script records the command's exit status in the spec's exit file (negative: killed by
that signal, like the local executor), so the status is known without Slurm's accounting.
It traps SIGTERM (a no-op handler, so the command's own disposition stays the default) to
live on and record how the command ended after a cancel.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from .executor import ExecutorError

#: Slurm names (partitions, accounts): letters, digits and ``_ . - ,`` (a partition list).
_NAME: Final = re.compile(r"^[A-Za-z0-9_.,-]{1,128}\Z")
_MEM: Final = re.compile(r"^[1-9][0-9]{0,12}[KMGT]?\Z")
_GPUS: Final = re.compile(r"^([A-Za-z0-9_.-]{1,64}:)?[0-9]{1,4}\Z")
#: ``[D-]A[:B[:C]]``; which forms are allowed and their ranges are checked in ``_time``.
_TIME: Final = re.compile(r"^(?:([0-9]{1,5})-)?([0-9]{1,7})(?::([0-9]{1,2}))?(?::([0-9]{1,2}))?\Z")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_COUNT: Final = 1_000_000


class ResourcesError(ExecutorError):
    """A launch's resources are not what Slurm can be asked for (the message says why)."""


def _time(value: Any) -> str:
    """A Slurm time limit, checked: ``int`` minutes or one of Slurm's forms."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ResourcesError("resources.time: must be at least 1 minute")
        return str(value)
    text = value.strip() if isinstance(value, str) else ""
    match = _TIME.match(text)
    if match is not None:
        days, *clock = match.groups()
        parts = [int(p) for p in clock if p is not None]
        if days is None:  # M, M:S or H:M:S: all but the first below 60
            ok = all(p < 60 for p in parts[1:])
        else:  # D-H, D-H:M or D-H:M:S: hours below 24, the rest below 60
            ok = parts[0] < 24 and all(p < 60 for p in parts[1:])
        if ok and (sum(parts) > 0 or int(days or 0) > 0):
            return text
    raise ResourcesError(f"resources.time: {value!r} is not a Slurm time limit; use minutes "
                         "(90 or '90'), 'M:S', 'H:M:S', 'D-H', 'D-H:M' or 'D-H:M:S' (minutes "
                         "and seconds below 60, hours below 24 after days)")


def _count(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResourcesError(f"resources.{key}: an integer, not {type(value).__name__}")
    if not low <= value <= _MAX_COUNT:
        raise ResourcesError(f"resources.{key}: must be between {low} and {_MAX_COUNT}")
    return value


def _name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ResourcesError(f"resources.{key}: a Slurm name (letters, digits, '_', '.', '-', "
                             f"',') is expected, got {value!r}")
    return value


def _mem(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return f"{value}M"
    if isinstance(value, str) and _MEM.match(value.strip().upper()):
        return value.strip().upper()
    raise ResourcesError(f"resources.mem: megabytes (an integer) or a size such as '512M' or "
                         f"'16G' is expected, got {value!r}")


def _gpus(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 10_000:
            raise ResourcesError("resources.gpus: must be between 0 and 10000")
        return str(value) if value else None
    if isinstance(value, str) and _GPUS.match(value):
        return value
    raise ResourcesError(f"resources.gpus: a count or 'type:count' (e.g. 'a100:2') is "
                         f"expected, got {value!r}")


@dataclass(frozen=True)
class SlurmResources:
    """What a Slurm launch asks for (``None``: not asked, Slurm's default)."""

    partition: str | None = None
    account: str | None = None
    nodes: int | None = None
    tasks: int | None = None
    cpus: int | None = None
    gpus: str | None = None
    mem: str | None = None
    time: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> SlurmResources:
        """Check a launch's resources (``ResourcesError`` with the reason)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ResourcesError("resources: an object of "
                                 f"{', '.join(f.name for f in fields(cls))} is expected")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise ResourcesError(f"resources: unknown {', '.join(map(repr, unknown))}; "
                                 f"Slurm launches take {', '.join(sorted(known))}")
        given = {k: v for k, v in raw.items() if v is not None}
        return cls(
            partition=_name("partition", given["partition"]) if "partition" in given else None,
            account=_name("account", given["account"]) if "account" in given else None,
            nodes=_count("nodes", given["nodes"], 1) if "nodes" in given else None,
            tasks=_count("tasks", given["tasks"], 1) if "tasks" in given else None,
            cpus=_count("cpus", given["cpus"], 1) if "cpus" in given else None,
            gpus=_gpus(given["gpus"]) if "gpus" in given else None,
            mem=_mem(given["mem"]) if "mem" in given else None,
            time=_time(given["time"]) if "time" in given else None,
        )

    def sbatch_options(self) -> list[str]:
        pairs = [("partition", self.partition), ("account", self.account),
                 ("nodes", self.nodes), ("ntasks", self.tasks),
                 ("cpus-per-task", self.cpus), ("gpus", self.gpus), ("mem", self.mem),
                 ("time", self.time)]
        return [f"--{opt}={value}" for opt, value in pairs if value is not None]


@dataclass(frozen=True)
class BatchJob:
    """Everything the batch script names: the command, its folder, where its output and exit
    status go, the env file it sources, and the job's name."""

    argv: Sequence[str]
    cwd: str
    stdout: str
    stderr: str
    exit_file: str
    env_file: str
    job_name: str


def _directive_value(key: str, value: str) -> str:
    """A path or name for an ``#SBATCH`` line (quoted when it has spaces; no newlines)."""
    if any(c in value for c in "\n\r\"\0"):
        raise ExecutorError(f"the {key} {value!r} cannot be given to Slurm (a newline or a "
                            "double quote in it)")
    return f'"{value}"' if any(c.isspace() for c in value) else value


def render_script(job: BatchJob, resources: SlurmResources) -> str:
    """The batch script (see the module's doc): no secret in it, only the env file's path."""
    if not job.argv:
        raise ExecutorError("the command is empty")
    directives = [
        f"--job-name={_directive_value('job name', job.job_name)}",
        f"--chdir={_directive_value('working folder', job.cwd)}",
        f"--output={_directive_value('stdout file', job.stdout)}",
        f"--error={_directive_value('stderr file', job.stderr)}",
        "--open-mode=append",  # the console is append-only (a restart appends)
        "--export=NONE",  # the environment comes from the env file, never through Slurm
        "--no-requeue",  # a requeued job would start over without its (deleted) env file
        *resources.sbatch_options(),
    ]
    command = f"srun --export=ALL --kill-on-bad-exit=1 {shlex.join(job.argv)}"
    exit_file = shlex.quote(job.exit_file)
    env_file = shlex.quote(job.env_file)
    return "\n".join([
        "#!/bin/bash",
        *(f"#SBATCH {d}" for d in directives),
        "# Generated by traindeck: runs the command, records its exit status.",
        "trap 'true' TERM INT HUP  # live on to record the status after a cancel",
        f"if [ ! -r {env_file} ]; then",
        f"  echo 'traindeck: the environment file is missing' >&2; echo 127 > {exit_file}",
        "  exit 127",
        "fi",
        f". {env_file}",
        f"rm -f {env_file}",
        "export SLURM_EXPORT_ENV=ALL",
        command,
        "code=$?",
        "rec=$code",
        'if [ "$code" -gt 128 ] && [ "$code" -lt 193 ]; then rec=$((128 - code)); fi',
        f'printf "%s" "$rec" > {exit_file}.tmp && mv -f {exit_file}.tmp {exit_file}',
        'exit "$code"',
        "",
    ])


def render_env_file(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines for the shell to source. Names a shell cannot export
    are left out, and so are ``SLURM_*`` variables of the submitting side (the job gets its
    own from Slurm)."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())
             if _ENV_NAME.match(name) and not name.startswith("SLURM_")]
    return "\n".join(lines) + "\n"
