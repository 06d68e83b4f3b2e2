"""The API contract: pydantic models of every request and response body.

Routes return bytes made by ``traindeck.store.codec`` (fast, and exact for NaN/±Inf) and
name these models as their ``response_model``, so the OpenAPI schema at ``/openapi.json`` is
complete; the tests validate real responses against them. A metric value on the wire is a
JSON number or one of the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (:data:`Value`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from traindeck.store.batch_schema import MAX_NAME, MAX_NOTES, MAX_TAG, MAX_TAGS

#: A float64 as JSON: a number, or the spelling of a non-finite value.
Value = float | Literal["NaN", "Infinity", "-Infinity"]

RunStatus = Literal[
    "queued", "running", "paused", "completed", "failed", "cancelled", "interrupted"
]
CommandStatus = Literal["pending", "delivered", "done", "failed", "expired"]
RunSort = Literal["created_at", "name", "status", "project", "heartbeat_at", "ended_at"]

Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Out):
    code: str = Field(description="machine-readable: not_found, conflict, invalid_input, …")
    message: str


class ErrorBody(_Out):
    error: ErrorDetail


class ConfigErrorOut(_Out):
    """One problem with a launch's config."""

    path: str = Field(description="JSON path of the value at fault: $.optim.lr ($: the whole)")
    message: str


class ConfigRejectedBody(_Out):
    """An error; for a config that does not validate, every problem in ``errors``."""

    error: ErrorDetail
    errors: list[ConfigErrorOut] = Field(
        default_factory=list, description="each problem of the config (absent for other "
                                          "errors, e.g. a body that is not JSON)")


class RunOut(_Out):
    id: str
    project: str
    name: str
    status: RunStatus
    config: dict[str, Any]
    tags: list[str]
    notes: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    heartbeat_timeout: float
    host: str | None
    pid: int | None
    command: str | None
    git_commit: str | None
    git_dirty: bool | None
    env: dict[str, Any]
    commands_offered: list[str]
    summary: dict[str, Any] = Field(description="last/best values; non-finite numbers spelled")
    launch_spec: dict[str, Any] | None
    seq: int
    exit_code: int | None = Field(None, description="exit status of a launched process")
    total_steps: int | None = Field(
        None, description="the steps the run expects (td.init(total_steps=…), "
                          "run.set_total(…), or the launcher's config); null: unknown")
    progress: float | None = Field(
        None, description="the last training step / total_steps, 0-1 (1 once a completed "
                          "run reached its total); null without total_steps")
    steps_per_s: float | None = Field(
        None, description="training steps per second, smoothed over the last ~20 s of "
                          "points; kept after the run ends; null until known")
    eta_s: float | None = Field(
        None, description="seconds left at steps_per_s; null unless running with "
                          "total_steps and a speed")


#: A run table cell: a number (NaN/±Inf spelled), a string, a boolean or null.
CellValue = float | int | bool | str | None


class RunRow(RunOut):
    values: dict[str, CellValue] = Field(
        default_factory=dict,
        description="the value of each column asked for in `columns`, by column id")


class RunList(_Out):
    runs: list[RunRow]
    total: int = Field(description="runs matching the filters, before limit/offset")


class RunColumns(_Out):
    metrics: list[str] = Field(description="metric keys of the runs matching, sorted")
    config: list[str] = Field(description="config keys (dotted leaves) of the runs matching")


class RunGroupOut(_Out):
    value: CellValue = Field(description="the group's value (null: runs without one)")
    count: int
    aggregates: dict[str, dict[str, float | None]] = Field(
        description="per column id: {min, max, mean} over its numeric values (null: none)")


class RunGroups(_Out):
    groups: list[RunGroupOut]


class RunPatch(BaseModel):
    """The fields a user may change (``traindeck.store.batch_schema.EDITABLE``, whose limits
    the batch route applies too). Absent fields are left alone."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)] | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None
    notes: Annotated[str, Field(max_length=MAX_NOTES)] | None = None


class SeriesOut(_Out):
    key: str
    count: int
    first_step: int | None
    last_step: int | None
    last_time: float | None
    last_value: Value | None
    min: float | None
    max: float | None


class MetricKeys(_Out):
    run_id: str
    metrics: list[SeriesOut]


class BucketColumns(_Out):
    """Exact buckets as columns: ``min/max/mean`` over finite values (``null`` where a
    bucket has none), ``nan/pinf/ninf`` count the non-finite ones, ``last`` as logged."""

    first_step: list[int]
    last_step: list[int]
    first_time: list[float]
    last_time: list[float]
    count: list[int]
    min: list[float | None]
    max: list[float | None]
    mean: list[float | None]
    last: list[Value]
    nan: list[int]
    pinf: list[int]
    ninf: list[int]


class BucketsOut(_Out):
    run_id: str
    key: str
    x: Literal["step", "time"]
    count: int = Field(description="points covered by the buckets")
    buckets: BucketColumns


class LatestPoint(_Out):
    step: int
    time: float
    value: Value


class LatestOut(_Out):
    run_id: str
    latest: dict[str, LatestPoint]


class CompareSeries(_Out):
    run_id: str
    buckets: BucketColumns | None = Field(description="null when the run has no such key")
    count: int


class CompareOut(_Out):
    key: str
    x: Literal["step", "time"]
    runs: list[CompareSeries]


class SomeColumns(_Out):
    """:class:`BucketColumns`, holding only the columns a request named (``fields``)."""

    first_step: list[int] | None = None
    last_step: list[int] | None = None
    first_time: list[float] | None = None
    last_time: list[float] | None = None
    count: list[int] | None = None
    min: list[float | None] | None = None
    max: list[float | None] | None = None
    mean: list[float | None] | None = None
    last: list[Value] | None = None
    nan: list[int] | None = None
    pinf: list[int] | None = None
    ninf: list[int] | None = None


class ManySeries(_Out):
    run_id: str
    buckets: SomeColumns | None = Field(description="null when the run has no such key")
    count: int


class ManyKey(_Out):
    key: str
    x: Literal["step", "time"]
    runs: list[ManySeries]


class CompareManyOut(_Out):
    x: Literal["step", "time"]
    results: list[ManyKey] = Field(description="one per key, in the order asked")


class RunKeyIndexes(_Out):
    run_id: str
    keys: list[int] = Field(description="the run's keys as indexes into ``keys``, ascending")


class RunsKeysOut(_Out):
    keys: list[str] = Field(description="every key of the runs, once, sorted")
    runs: list[RunKeyIndexes] = Field(description="one per run, in the order asked")


class EventOut(_Out):
    seq: int
    run_id: str
    time: float
    kind: str
    payload: dict[str, Any]


class EventList(_Out):
    events: list[EventOut]


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    args: dict[str, Any] = Field(default_factory=dict)


class CommandOut(_Out):
    id: str
    run_id: str
    name: str
    args: dict[str, Any]
    status: CommandStatus
    created_at: float
    delivered_at: float | None
    finished_at: float | None
    result: Any
    error: str | None
    requested_by: str | None
    seq: int


class CommandList(_Out):
    commands: list[CommandOut]


class DiskOut(_Out):
    path: str
    total: int
    used: int
    free: int
    percent: float


class SystemStatus(_Out):
    time: float
    hostname: str
    cpu_count: int
    cpu_percent: float
    per_cpu_percent: list[float]
    load_avg: list[float]
    mem_total: int
    mem_used: int
    mem_percent: float
    swap_percent: float
    disk: DiskOut
    boot_time: float


class SystemHistory(_Out):
    run_id: str
    x: Literal["step", "time"]
    series: dict[str, BucketColumns] = Field(description="every sys/* series of the run")


class Health(_Out):
    status: Literal["ok"]


class Version(_Out):
    version: str
    schema_version: int
    api: int = Field(description="version of the REST/WebSocket protocol")
    engine: str = Field(description="the store's engine and its version")
    leader: bool = Field(description="whether this server is the one of those sharing the "
                                     "store that reaps stale runs and evaluates rules")


# -- checkpoints -----------------------------------------------------------------------

CheckpointKind = Literal["regular", "best", "emergency", "final"]
CheckpointSort = Literal["step", "created_at", "size"]


class CheckpointOut(_Out):
    id: str
    run_id: str
    step: int = Field(description="the training step (parsed, never a file name's order)")
    path: str = Field(description="where the file (or folder) is, on the server's host")
    kind: CheckpointKind
    metrics: dict[str, Any] = Field(description="non-finite numbers spelled")
    metadata: dict[str, Any]
    size: int | None = Field(description="bytes, when known")
    sha256: str | None
    created_at: float
    host: str | None
    is_best: bool
    valid: bool | None = Field(description="null until verified")


class CheckpointList(_Out):
    run_id: str
    checkpoints: list[CheckpointOut]


class CheckpointVerified(_Out):
    checkpoint: CheckpointOut = Field(description="the row, with ``valid`` recorded")
    valid: bool
    reason: str = Field(description="why not, when not valid")


class CheckpointDeleted(_Out):
    checkpoint: CheckpointOut = Field(description="the row as it was")
    file_deleted: bool = Field(description="false when the file was already gone")


# -- console lines and media -------------------------------------------------------------

LogStream = Literal["stdout", "stderr"]


class LogLineOut(_Out):
    seq: int = Field(description="the line's number in its run: 1, 2, 3, …")
    time: float
    stream: LogStream
    text: str = Field(description="as printed, secrets redacted by the SDK")


class LogList(_Out):
    lines: list[LogLineOut]
    next_seq: int | None = Field(
        description="the last line's seq (pass it as after_seq to read on); null when no "
                    "line was returned")


class MediaOut(_Out):
    id: int
    key: str
    step: int
    caption: str | None
    kind: Literal["image"]
    created_at: float
    width: int | None = Field(description="pixels, read from the file's header; null when "
                                          "unknown")
    height: int | None
    url: str = Field(description="where the file is served: /api/media/{id}/file")


class MediaList(_Out):
    media: list[MediaOut]
    keys: list[str] = Field(description="every media key of the run")


class MediaCreated(_Out):
    media: MediaOut
    created: bool = Field(description="false when this (run, key, step, filename) was "
                                      "uploaded before (nothing changed)")
