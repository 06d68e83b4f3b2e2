"""Plain records the store hands out. They carry no connection and can cross threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

RunStatus = Literal[
    "queued", "running", "paused", "completed", "failed", "cancelled", "interrupted"
]
RUN_STATUSES: Final[tuple[str, ...]] = (
    "queued", "running", "paused", "completed", "failed", "cancelled", "interrupted",
)
#: Statuses a run never leaves by itself (only an explicit resume reopens it).
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(
    {"completed", "failed", "cancelled", "interrupted"}
)
#: Statuses that mean "a process should be heartbeating".
LIVE_STATUSES: Final[frozenset[str]] = frozenset({"running", "paused"})

CommandStatus = Literal["pending", "delivered", "done", "failed", "expired"]
COMMAND_STATUSES: Final[tuple[str, ...]] = ("pending", "delivered", "done", "failed", "expired")
#: Allowed command transitions: the state machine of DESIGN §3.
COMMAND_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"delivered", "expired", "failed"}),
    "delivered": frozenset({"done", "failed", "expired"}),
    "done": frozenset(),
    "failed": frozenset(),
    "expired": frozenset(),
}


@dataclass(slots=True)
class Run:
    id: str
    project: str
    name: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    heartbeat_timeout: float = 60.0
    host: str | None = None
    pid: int | None = None
    command: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    env: dict[str, Any] = field(default_factory=dict)
    commands_offered: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    launch_spec: dict[str, Any] | None = None
    seq: int = 0
    #: The exit status of the process the launcher started (``None``: not launched, or
    #: still running).
    exit_code: int | None = None
    #: The steps the run expects (the SDK's ``total_steps``, ``set_total``, or the
    #: launcher's config); ``None``: unknown.
    total_steps: int | None = None
    #: What the server's progress tracker last computed (``server/progress.py``): the last
    #: step over ``total_steps`` (0-1), the smoothed steps per second, and the seconds left.
    progress: float | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "status": self.status,
            "config": self.config,
            "tags": self.tags,
            "notes": self.notes,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_timeout": self.heartbeat_timeout,
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "env": self.env,
            "commands_offered": self.commands_offered,
            "summary": self.summary,
            "launch_spec": self.launch_spec,
            "seq": self.seq,
            "exit_code": self.exit_code,
            "total_steps": self.total_steps,
            "progress": self.progress,
            "steps_per_s": self.steps_per_s,
            "eta_s": self.eta_s,
        }


@dataclass(slots=True, frozen=True)
class RunProgress:
    """What the server's progress tracker writes on a run (``Store.set_progress``)."""

    run_id: str
    progress: float | None
    steps_per_s: float | None
    eta_s: float | None


@dataclass(slots=True, frozen=True)
class Event:
    seq: int
    run_id: str
    time: float
    kind: str
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "time": self.time,
            "kind": self.kind,
            "payload": self.payload,
        }


@dataclass(slots=True, frozen=True)
class Command:
    id: str
    run_id: str
    name: str
    args: dict[str, Any]
    status: str
    created_at: float
    delivered_at: float | None
    finished_at: float | None
    result: Any
    error: str | None
    requested_by: str | None
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "name": self.name,
            "args": self.args,
            "status": self.status,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": self.error,
            "requested_by": self.requested_by,
            "seq": self.seq,
        }


@dataclass(slots=True, frozen=True)
class CompactResult:
    """What ``compact_metrics`` did: chunks re-packed, chunk groups made or grown, and
    groups made before whose chunks' sub-block units were gathered into the group's row."""

    chunks_repacked: int
    groups_made: int
    groups_updated: int = 0


@dataclass(slots=True, frozen=True)
class MetricWrite:
    """One run's part of ``Store.write_metrics_many``: points ``{key: (steps, times,
    values)}``, the summary to set (or merge) and the heartbeat, as ``write_metrics``
    takes them."""

    run_id: str
    series: Mapping[str, tuple[Any, Any, Any]]
    summary: Mapping[str, Any] | None = None
    heartbeat: float | None = None


@dataclass(slots=True, frozen=True)
class SeriesInfo:
    """One metric series of a run: its key, its size and its newest point."""

    run_id: str
    key: str
    count: int
    first_step: int | None
    last_step: int | None
    last_time: float | None
    last_value: float | None
    min: float | None
    max: float | None
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "last_time": self.last_time,
            "last_value": self.last_value,
            "min": self.min,
            "max": self.max,
        }


@dataclass(slots=True, frozen=True)
class SeriesChange:
    """A series the change feed reports: which one, and its newest point (not its size or
    range, which would cost a read of its chunks at every tick of every follower).

    ``written`` counts every point ever written to the series (rewrites and backfills
    included). A follower that saw it at ``n`` with newest step ``s`` and now sees ``n + 1``
    with a newer step knows that the newest point is the only point above ``s``."""

    run_id: str
    key: str
    last_step: int | None
    last_time: float | None
    last_value: float | None
    seq: int
    written: int = 0


@dataclass(slots=True, frozen=True)
class Changes:
    """What changed in the store after a sequence number (the live server's feed)."""

    seq: int
    runs: list[Run]
    series: list[SeriesChange]
    events: list[Event]
    commands: list[Command]
    deleted_runs: list[str]
    #: Runs with new console lines: run id → its last line's ``seq``.
    logs: dict[str, int] = field(default_factory=dict)


CHECKPOINT_KINDS: Final[tuple[str, ...]] = ("regular", "best", "emergency", "final")


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """A checkpoint file (or folder) a run saved, with what is known about it."""

    id: str
    run_id: str
    step: int
    path: str
    kind: str
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    size: int | None
    sha256: str | None
    created_at: float
    host: str | None
    is_best: bool
    valid: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "step": self.step,
            "path": self.path,
            "kind": self.kind,
            "metrics": self.metrics,
            "metadata": self.metadata,
            "size": self.size,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "host": self.host,
            "is_best": self.is_best,
            "valid": self.valid,
        }


LOG_STREAMS: Final[tuple[str, ...]] = ("stdout", "stderr")


@dataclass(slots=True, frozen=True)
class LogLine:
    """One captured console line (already redacted by the SDK)."""

    seq: int
    time: float
    stream: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "stream": self.stream, "text": self.text}


@dataclass(slots=True, frozen=True)
class Media:
    """An image (later audio, text) a run logged at (key, step). ``path`` is relative to
    the run's folder (``<store folder>/runs/<run id>/``)."""

    id: int
    run_id: str
    key: str
    step: int
    kind: str
    path: str
    caption: str | None
    created_at: float
    width: int | None
    height: int | None
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "key": self.key, "step": self.step,
            "kind": self.kind, "path": self.path, "caption": self.caption,
            "created_at": self.created_at, "width": self.width, "height": self.height,
            "size": self.size,
        }


LaunchStatus = Literal[
    "queued", "starting", "running", "paused", "cancelling", "completed", "failed", "cancelled"
]
LAUNCH_STATUSES: Final[tuple[str, ...]] = (
    "queued", "starting", "running", "paused", "cancelling", "completed", "failed", "cancelled",
)
#: Launch statuses with a process that may still be alive (the launcher watches them;
#: ``starting``: the executor was asked to start it, and may have).
ACTIVE_LAUNCH_STATUSES: Final[frozenset[str]] = frozenset(
    {"starting", "running", "paused", "cancelling"})
#: Launch statuses that never change again.
ENDED_LAUNCH_STATUSES: Final[frozenset[str]] = frozenset({"completed", "failed", "cancelled"})


@dataclass(slots=True, frozen=True)
class Launch:
    """A run the launcher starts (and restarts): what to run (``spec``: template,
    overrides, preset, resources, retry, grace period…), which executor runs it and what
    that executor needs to find the process again after a restart (``state``)."""

    id: str
    run_id: str | None
    status: str
    spec: dict[str, Any]
    executor: str
    state: dict[str, Any]
    pid: int | None
    exit_code: int | None
    restarts: int
    error: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id, "run_id": self.run_id, "status": self.status,
            "template": spec.get("template"), "overrides": spec.get("overrides", []),
            "preset": spec.get("preset"), "executor": self.executor,
            "resources": spec.get("resources", {}), "retry": spec.get("retry", {}),
            "grace_s": spec.get("grace_s"), "pid": self.pid, "exit_code": self.exit_code,
            "restarts": self.restarts, "error": self.error, "created_at": self.created_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "host": spec.get("host"), "detail": self.state.get("detail"),
        }


@dataclass(slots=True, frozen=True)
class Host:
    """A machine launches can run on over SSH (``traindeck hosts add``): who to log in as,
    where, with which key (``None``: the ssh-agent), and the folder launches work in. No
    password is ever kept."""

    name: str
    user: str
    address: str
    port: int
    key_path: str | None
    workdir: str
    created_at: float
    #: What ``hosts check`` last found (``None``: never checked).
    checked_at: float | None = None
    check_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "user": self.user, "address": self.address,
                "port": self.port, "key_path": self.key_path, "workdir": self.workdir,
                "created_at": self.created_at, "checked_at": self.checked_at,
                "check_error": self.check_error}


@dataclass(slots=True, frozen=True)
class Project:
    """A project's stable number (what MLflow calls an experiment id): made with the
    project's first run, or on its own. Project ``0`` is ``default``."""

    id: int
    name: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at}
