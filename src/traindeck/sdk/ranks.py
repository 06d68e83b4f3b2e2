"""Distributed training: which process this is, and how all of them share one run.

A multi-GPU or multi-node job (``torchrun``, Slurm ``srun``, Lightning's DDP launcher) runs
one process per *rank*. Every rank calls ``init()``; they all log into **one** run:

- **The rank** comes from the environment, the first of: ``RANK`` (torchrun, with
  ``WORLD_SIZE``), ``SLURM_PROCID`` (srun, with ``SLURM_NTASKS``), ``LOCAL_RANK`` (one-node
  launchers such as Lightning's, with ``WORLD_SIZE`` or ``LOCAL_WORLD_SIZE``); else rank 0
  of 1. ``init(rank=...)`` overrides it (``mp.spawn``). A value that is not a number, or a
  rank outside its world, is an error (``ValueError``) rather than a guess.
- **Rank 0 leads**: it creates (or resumes) the run, logs metrics, writes checkpoints,
  acknowledges commands and sets the run's final status. Ranks above 0 *follow*: they wait
  until rank 0 has started the run, then attach to it.
- **The shared id** the ranks agree on, the first of: ``init(id=...)``,
  ``TRAINDECK_RUN_ID`` (the launcher sets it), for ranks above 0 ``TRAINDECK_RANK0_RUN_ID``
  (``<pid>:<run id>``: rank 0's ``init()`` puts it into its own environment, so that the
  processes it starts afterwards, as Lightning's DDP launcher does, find its run; honoured
  only by a direct child of that pid), then, in a job of more than one process, an id
  derived from the job: ``TORCHELASTIC_RUN_ID`` (torchrun's ``--rdzv-id``; ``--standalone``
  makes one; the default ``none`` does not count), else ``SLURM_JOB_ID`` (with
  ``SLURM_STEP_ID``), each with the project. A rank above 0 with none of these cannot know
  which run is its own: ``init()`` says so once and gives it a disabled run.

What each rank records (``rank_backend.py`` applies it to every write): system and GPU load
from every rank under ``sys/rank{r}/`` (in a job of one process the names stay ``sys/…``);
console lines tagged ``[rank{r}]``; a crash on a rank above 0 as an ``error`` event naming
the rank. Commands reach every rank (each rank's handler runs); rank 0 answers them.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from ..store import Command, Run

#: Seconds a rank above 0 waits for rank 0 to start the run before it gives up.
FOLLOW_WAIT: Final = 120.0
#: Seconds between its looks.
FOLLOW_POLL: Final = 0.25
#: The variable rank 0 exports for the ranks it starts itself.
RANK0_RUN_ID: Final = "TRAINDECK_RANK0_RUN_ID"
#: Command states in which a rank above 0 that has just joined still runs a command.
_OPEN: Final = frozenset({"pending", "delivered"})
_TORCHELASTIC_UNSET: Final = frozenset({"", "none"})


@dataclass(frozen=True, slots=True)
class Ranks:
    """This process's place in its job: ``rank`` of ``world_size``, and who said so."""

    rank: int = 0
    world_size: int = 1
    source: str = "default"

    @property
    def distributed(self) -> bool:
        """More than one process logs into the run."""
        return self.world_size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: it creates the run, logs metrics, checkpoints, answers commands."""
        return self.rank == 0

    @property
    def system_prefix(self) -> str:
        """Where this rank's system load goes: ``sys/`` alone, ``sys/rank{r}/`` in a job."""
        return f"sys/rank{self.rank}/" if self.distributed else "sys/"

    @property
    def metric_prefix(self) -> str:
        """What a rank above 0 puts before its own metrics (``log_all_ranks``)."""
        return "" if self.leader else f"rank{self.rank}/"

    @property
    def console_tag(self) -> str:
        """What goes before each captured console line (nothing in a job of one)."""
        return f"[rank{self.rank}] " if self.distributed else ""


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must not be negative")
    return value


def resolve_ranks(env: Mapping[str, str], rank: int | None = None) -> Ranks:
    """This process's rank and world size, by the rules in the module docstring."""
    sources = (("RANK", ("WORLD_SIZE",)), ("SLURM_PROCID", ("SLURM_NTASKS",)),
               ("LOCAL_RANK", ("WORLD_SIZE", "LOCAL_WORLD_SIZE")))
    found: tuple[int, int | None, str] | None = None
    for rank_var, world_vars in sources:
        r = _int(env, rank_var)
        if r is None:
            continue
        world = next((w for w in (_int(env, v) for v in world_vars) if w is not None), None)
        found = (r, world, rank_var)
        break
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValueError(f"rank must be an integer >= 0, got {rank!r}")
        world = found[1] if found is not None else None
        found = (rank, world, "init(rank=)")
    if found is None:
        return Ranks()
    r, world, source = found
    if world is None:
        world = r + 1  # the least it can be
    if world < 1 or r >= world:
        raise ValueError(f"rank {r} (from {source}) is not below the world size {world}")
    return Ranks(r, world, source)


def _label(value: str) -> str:
    """``value`` if it is short and URL-safe, else empty."""
    return value if re.fullmatch(r"[A-Za-z0-9_]{1,24}", value) else ""


def job_run_id(env: Mapping[str, str], project: str) -> str | None:
    """The run id every rank of this job derives alike (torchrun's rendezvous id, else the
    Slurm job and step), or None outside such a job."""
    elastic = env.get("TORCHELASTIC_RUN_ID", "").strip()
    if elastic.lower() not in _TORCHELASTIC_UNSET:
        kind, key, shown = "torchrun", elastic, ""
    elif job := env.get("SLURM_JOB_ID", "").strip():
        step = env.get("SLURM_STEP_ID", "").strip()
        kind, key, shown = "slurm", f"{job}.{step}", _label(job)
    else:
        return None
    digest = hashlib.sha256(f"{project}\0{kind}\0{key}".encode()).hexdigest()[:12]
    return "-".join(p for p in (kind, shown, digest) if p)


def exported_run_id(run_id: str, pid: int) -> str:
    """The value of ``TRAINDECK_RANK0_RUN_ID`` that rank 0 (process ``pid``) exports."""
    return f"{pid}:{run_id}"


def _parent_run_id(env: Mapping[str, str], parent_pid: int) -> str | None:
    pid, _, run_id = env.get(RANK0_RUN_ID, "").strip().partition(":")
    return run_id if run_id and pid == str(parent_pid) else None


def shared_run_id(env: Mapping[str, str], project: str, ranks: Ranks, *,
                  parent_pid: int) -> str | None:
    """The run id this rank attaches to when neither ``id=`` nor ``TRAINDECK_RUN_ID`` is
    given: for ranks above 0 the id exported by their parent process if it is rank 0,
    else, in a job of more than one process, the job's; else None (rank 0 then makes a
    new run)."""
    if not ranks.leader and (exported := _parent_run_id(env, parent_pid)):
        return exported
    if ranks.distributed:
        return job_run_id(env, project)
    return None


def wait_for_leader(read_run: Callable[[], Run | None], *, timeout: float = FOLLOW_WAIT,
                    poll: float = FOLLOW_POLL,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> Run | None:
    """The run once rank 0 has started it (it exists and is no longer ``queued``), or
    None after ``timeout`` seconds. A read that fails is asked again."""
    deadline = clock() + timeout
    while True:
        try:
            record = read_run()
        except Exception:
            record = None
        if record is not None and record.status != "queued":
            return record
        if clock() >= deadline:
            return None
        sleep(poll)


class CommandFollower:
    """Which of a run's commands a rank above 0 has still to run.

    Rank 0 takes commands (``pending → delivered``) and answers them; the other ranks only
    read the run's command list, so they see a command whatever state rank 0 has moved it
    to. The first list sets the baseline: commands already finished then are history and
    never run here; open ones (``pending``, ``delivered``) and every command seen later
    run once, oldest first (a command the store ``expired`` does not run)."""

    def __init__(self) -> None:
        self._seen: set[str] | None = None

    def new(self, listed: Iterable[Command]) -> list[Command]:
        commands = sorted(listed, key=lambda c: (c.created_at, c.id))
        if self._seen is None:
            self._seen = {c.id for c in commands if c.status not in _OPEN}
        seen = self._seen
        out = [c for c in commands if c.id not in seen and c.status != "expired"]
        seen.update(c.id for c in commands)
        return out
