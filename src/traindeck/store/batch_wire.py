"""The SDK batch wire format: one schema, shared by the SDK (which sends it) and the server
(which checks every request with :func:`parse_body`). No web framework needed.

``POST /api/runs/{run_id}/batch`` takes one JSON object (see docs/api.md)::

    {"batch_id": "3f2a…:17",
     "run": {"project": "mnist", "name": "baseline", "config": {…}, …},   # upsert
     "update": {"config": {…}, "commands_offered": […]},                  # run fields
     "metrics": {"loss": {"steps": [0, 1], "times": [t0, t1], "values": [0.5, "NaN"]}},
     "summary": {…}, "heartbeat": 1732460000.1,
     "events": [{"kind": "signal", "payload": {…}}],
     "command_results": [{"id": "…", "ok": true, "result": {…}, "error": null}],
     "logs": [[1732460000.2, "stdout", "epoch 1 done"]],                   # console lines
     "media": [{"key": "samples", "step": 10, "filename": "10_0.png",
                "caption": "…", "data": "<base64 of the file>"}],
     "checkpoints": [{"id": "…", "step": 1000, "path": "checkpoints/….pth",   # records
                      "kind": "regular", "metrics": {…}, "metadata": {…},
                      "size": 123, "sha256": "…", "host": "gpu1", "is_best": true}],
     "checkpoint_best": "<checkpoint id>",
     "checkpoints_deleted": [{"id": "…", "reason": "retention: keep_last=2"}],
     "status": "completed"}

or an array of such objects (a backlog, applied in order); ``POST /api/batches`` takes
the batches of several runs at once (``[{"run_id": …, "batches": [batch, …]}, …]``: what
one training process with several runs sends). Every field but ``batch_id`` is
optional. Each run field has one type (:data:`RUN_FIELD_TYPES`); anything else is refused
with :class:`~.errors.InvalidInput` naming the field, as every other body is. The types
live in ``batch_schema.py``: the table of run fields (whose editable part ``PATCH`` shares)
and the ``TypedDict`` s the SDK builds its bodies with.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from .batch_schema import (
    RUN_FIELDS_SPEC,
    CheckpointBody,
    finite_number,
    opt_int,
    opt_str,
)
from .codec import NONFINITE_NAMES
from .errors import InvalidInput
from .models import LOG_STREAMS, RUN_STATUSES

#: The fields of a batch object.
BATCH_FIELDS: Final = frozenset({
    "batch_id", "run", "update", "metrics", "summary", "heartbeat", "events",
    "command_results", "logs", "media", "status", "checkpoints", "checkpoint_best",
    "checkpoints_deleted",
})
#: Longest ``batch_id``.
MAX_BATCH_ID: Final = 200
#: Most runs one ``POST /api/batches`` request carries.
MAX_RUNS: Final = 1000
#: Longest metric name.
MAX_METRIC_KEY: Final = 256


#: Run fields a batch may set (``run`` upsert and ``update``): (check, what it must be).
RUN_FIELD_TYPES: Final = RUN_FIELDS_SPEC
RUN_FIELDS: Final = frozenset(RUN_FIELD_TYPES)

_NUMBER_TYPES: Final = frozenset({float, int})
_INT_TYPE: Final = frozenset({int})
Column = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


@dataclass(slots=True)
class MediaItem:
    """An image sent inside a batch (its bytes decoded, not yet checked as an image)."""

    key: str
    step: int
    filename: str
    data: bytes
    caption: str | None = None


@dataclass(slots=True)
class Batch:
    """One checked batch, as plain values."""

    batch_id: str
    run: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    metrics: dict[str, Column] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    heartbeat: float | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    command_results: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[float, str, str]] = field(default_factory=list)
    media: list[MediaItem] = field(default_factory=list)
    checkpoints: list[CheckpointBody] = field(default_factory=list)
    checkpoint_best: str | None = None
    checkpoints_deleted: list[tuple[str, str]] = field(default_factory=list)
    status: str | None = None

    @property
    def only_points(self) -> bool:
        """Only points, summary and heartbeat: neighbours like it can be written as one."""
        return (self.run is None and self.update is None and not self.events
                and not self.command_results and self.status is None and not self.logs
                and not self.media and not self.checkpoints
                and self.checkpoint_best is None and not self.checkpoints_deleted)


def parse_body(data: bytes) -> list[Batch] | Batch:
    """A request's batch (an object) or batches (an array of them), checked."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the batch is not JSON: {exc}") from None
    if isinstance(body, list):
        if not body:
            raise InvalidInput("an array of batches holds at least one")
        return [check_batch(b) for b in body]
    return check_batch(body)


def parse_runs(data: bytes) -> list[tuple[str, list[Any]]]:
    """``POST /api/batches``'s body, ``[{"run_id": …, "batches": [batch, …]}, …]``: the
    runs and their batches as decoded JSON. Only the outer shape is checked here; each
    run's batches are checked apart (:func:`check_batches`), so that one run's bad batch
    refuses that run alone."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(body, list) or not 0 < len(body) <= MAX_RUNS:
        raise InvalidInput(f"the body is an array of 1 to {MAX_RUNS} "
                           '{"run_id", "batches"} objects')
    out: list[tuple[str, list[Any]]] = []
    seen: set[str] = set()
    for i, item in enumerate(body):
        if not isinstance(item, dict) or set(item) != {"run_id", "batches"}:
            raise InvalidInput(f"item {i} is an object of exactly 'run_id' and 'batches'")
        run_id, batches = item["run_id"], item["batches"]
        if not isinstance(run_id, str) or not 0 < len(run_id) <= MAX_BATCH_ID:
            raise InvalidInput(f"item {i}: run_id is a string of 1 to {MAX_BATCH_ID} "
                               "characters")
        if not isinstance(batches, list) or not batches:
            raise InvalidInput(f"item {i}: batches is an array of at least one batch")
        if run_id in seen:
            raise InvalidInput(f"item {i}: run {run_id!r:.80} is named twice (one item a run)")
        seen.add(run_id)
        out.append((run_id, batches))
    return out


def check_batches(batches: list[Any]) -> list[Batch]:
    """One run's batches of a ``POST /api/batches`` body, checked."""
    return [check_batch(b) for b in batches]


def parse_batch(data: bytes) -> Batch:
    """One batch (JSON bytes), checked."""
    batch = parse_body(data)
    if isinstance(batch, list):
        raise InvalidInput("one batch is a JSON object")
    return batch


def check_run_fields(fields: Any, where: str) -> dict[str, Any]:
    """``fields`` if it is an object of known run fields of the right types."""
    if not isinstance(fields, dict):
        raise InvalidInput(f"batch field {where!r} must be an object")
    for name, value in fields.items():
        spec = RUN_FIELD_TYPES.get(name)
        if spec is None:
            raise InvalidInput(f"batch {where!r}: unknown run field {name!r:.80}; one of "
                               f"{', '.join(sorted(RUN_FIELDS))}")
        if where == "run" and name == "name" and value is None:
            continue  # an upserted run without a name is named after its id
        check, what = spec.check, spec.what
        if not check(value):
            raise InvalidInput(f"batch {where!r}: {name!r} must be {what}")
    return fields


def check_batch(body: Any) -> Batch:
    """The batch as plain values, checked; ``InvalidInput`` (422) says what is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("a batch is a JSON object")
    unknown = set(body) - BATCH_FIELDS
    if unknown:
        raise InvalidInput(f"unknown batch fields: {sorted(unknown)}")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID:
        raise InvalidInput(f"batch_id is a string of 1 to {MAX_BATCH_ID} characters")
    out = Batch(batch_id)
    run = body.get("run")
    if run is not None:
        out.run = check_run_fields(run, "run")
        if "project" not in out.run:
            raise InvalidInput("batch 'run' needs a 'project' string")
    update = body.get("update")
    if update is not None:
        out.update = check_run_fields(update, "update")
    metrics = body.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            raise InvalidInput("batch field 'metrics' must be an object")
        out.metrics = (_metrics_at_once(metrics)
                       or {key: _series(key, col) for key, col in metrics.items()})
    summary = body.get("summary")
    if summary is not None:
        if not isinstance(summary, dict):
            raise InvalidInput("batch field 'summary' must be an object")
        out.summary = summary
    hb = body.get("heartbeat")
    if hb is not None:
        if not finite_number(hb):
            raise InvalidInput("heartbeat is a finite number (seconds since the epoch)")
        out.heartbeat = float(hb)
    out.events = _events(body.get("events") or [])
    results = body.get("command_results") or []
    if not isinstance(results, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), str)
            and opt_str(r.get("error")) for r in results):
        raise InvalidInput("command_results is an array of {id, ok, result, error}")
    out.command_results = results
    out.logs = _logs(body.get("logs") or [])
    out.media = _media(body.get("media") or [])
    out.checkpoints = _checkpoints(body.get("checkpoints") or [])
    best = body.get("checkpoint_best")
    if best is not None and not (isinstance(best, str) and 0 < len(best) <= 64):
        raise InvalidInput("checkpoint_best is a checkpoint id (a string)")
    out.checkpoint_best = best
    out.checkpoints_deleted = _checkpoints_deleted(body.get("checkpoints_deleted") or [])
    status = body.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r:.40}; one of {', '.join(RUN_STATUSES)}")
    out.status = status
    return out


_CHECKPOINT_SHAPE: Final = ("checkpoints is an array of {id, step, path, kind, metrics, "
                             "metadata, size, sha256, host, is_best}")


def _checkpoints(raw: Any) -> list[CheckpointBody]:
    if not isinstance(raw, list):
        raise InvalidInput(_CHECKPOINT_SHAPE)
    out = []
    for c in raw:
        if not (isinstance(c, dict) and isinstance(c.get("id"), str)
                and 0 < len(c["id"]) <= 64 and type(c.get("step")) is int and c["step"] >= 0
                and isinstance(c.get("path"), str) and 0 < len(c["path"]) <= 4096
                and isinstance(c.get("kind"), str)
                and isinstance(c.get("metrics", {}), dict)
                and isinstance(c.get("metadata", {}), dict)
                and opt_int(c.get("size")) and opt_str(c.get("sha256"))
                and opt_str(c.get("host")) and isinstance(c.get("is_best", False), bool)):
            raise InvalidInput(_CHECKPOINT_SHAPE)
        out.append(CheckpointBody(
            id=c["id"], step=c["step"], path=c["path"], kind=c["kind"],
            metrics=c.get("metrics") or {}, metadata=c.get("metadata") or {},
            size=c.get("size"), sha256=c.get("sha256"), host=c.get("host"),
            is_best=bool(c.get("is_best", False))))
    return out


def _checkpoints_deleted(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not all(
            isinstance(d, dict) and isinstance(d.get("id"), str)
            and isinstance(d.get("reason", ""), str) for d in raw):
        raise InvalidInput("checkpoints_deleted is an array of {id, reason}")
    return [(d["id"], d.get("reason") or "deleted by the run") for d in raw]


def _metrics_at_once(metrics: dict[str, Any]) -> dict[str, Column] | None:
    """Every key's columns checked and converted together: one type check and one array
    a column kind for the whole batch, instead of three a key (a live batch holds a few
    points of each of many keys, so the per-call costs were most of the work). ``None``
    when anything is off (or the batch holds no points): the key-by-key checks then say
    exactly what."""
    steps: list[Any] = []
    times: list[Any] = []
    values: list[Any] = []
    ends: list[int] = []
    for key, col in metrics.items():
        if not (0 < len(key) <= MAX_METRIC_KEY and col.__class__ is dict and len(col) == 3):
            return None
        s, t, v = col.get("steps"), col.get("times"), col.get("values")
        if not (s.__class__ is t.__class__ is v.__class__ is list
                and len(s) == len(t) == len(v)):
            return None
        steps += s
        times += t
        values += v
        ends.append(len(steps))
    if not steps or not (set(map(type, steps)) <= _INT_TYPE
                         and set(map(type, times)) <= _NUMBER_TYPES
                         and set(map(type, values)) <= _NUMBER_TYPES):
        return None
    try:
        all_steps = np.array(steps, dtype=np.int64)
    except OverflowError:
        return None
    all_times = np.array(times, dtype=np.float64)
    all_values = np.array(values, dtype=np.float64)
    out: dict[str, Column] = {}
    start = 0
    for key, end in zip(metrics, ends, strict=True):
        out[key] = all_steps[start:end], all_times[start:end], all_values[start:end]
        start = end
    return out


def _series(key: str, col: Any) -> Column:
    if not key or len(key) > MAX_METRIC_KEY:
        raise InvalidInput(f"metric names are 1 to {MAX_METRIC_KEY} characters, "
                           f"got {key!r:.80}")
    if not isinstance(col, dict):
        raise InvalidInput(f"metric {key!r}: give {{steps, times, values}}")
    steps = _steps(key, _column(key, "steps", col.get("steps")))
    times = _times(key, _column(key, "times", col.get("times")))
    values = _values(key, _column(key, "values", col.get("values")))
    if not len(steps) == len(times) == len(values):
        raise InvalidInput(f"metric {key!r}: steps, times and values differ in length")
    return steps, times, values


def _column(key: str, name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"metric {key!r}: {name!r} must be an array")
    return value


def _values(key: str, raw: list[Any]) -> npt.NDArray[np.float64]:
    types = set(map(type, raw))
    if types <= _NUMBER_TYPES:
        return np.array(raw, dtype=np.float64)
    if not types <= _NUMBER_TYPES | {str}:
        raise InvalidInput(f"metric {key!r}: values are numbers or 'NaN', 'Infinity', "
                           "'-Infinity'")
    out = np.empty(len(raw), dtype=np.float64)
    for i, v in enumerate(raw):
        if v.__class__ is str:
            try:
                out[i] = NONFINITE_NAMES[v]
            except KeyError:
                raise InvalidInput(f"metric {key!r}: value {v!r:.40} is not a number") from None
        else:
            out[i] = v
    return out


def _steps(key: str, raw: list[Any]) -> npt.NDArray[np.int64]:
    if not set(map(type, raw)) <= {int}:
        raise InvalidInput(f"metric {key!r}: steps must be integers")
    try:
        return np.array(raw, dtype=np.int64)
    except OverflowError:
        raise InvalidInput(f"metric {key!r}: a step does not fit in 64 bits") from None


def _times(key: str, raw: list[Any]) -> npt.NDArray[np.float64]:
    if not set(map(type, raw)) <= _NUMBER_TYPES:
        raise InvalidInput(f"metric {key!r}: times must be numbers")
    return np.array(raw, dtype=np.float64)


def _events(raw: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(raw, list):
        raise InvalidInput("events is an array of {kind, payload}")
    out = []
    for e in raw:
        if not isinstance(e, dict) or not isinstance(e.get("kind"), str) or not e["kind"]:
            raise InvalidInput("events is an array of {kind, payload}")
        payload = e.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise InvalidInput("an event's payload is an object")
        out.append((e["kind"], payload))
    return out


def _logs(raw: Any) -> list[tuple[float, str, str]]:
    if not isinstance(raw, list):
        raise InvalidInput("logs is an array of [time, stream, text]")
    out = []
    for line in raw:
        if (not isinstance(line, list) or len(line) != 3 or not finite_number(line[0])
                or line[1] not in LOG_STREAMS or not isinstance(line[2], str)):
            raise InvalidInput("logs is an array of [time, 'stdout'|'stderr', text]")
        out.append((float(line[0]), line[1], line[2]))
    return out


def _media(raw: Any) -> list[MediaItem]:
    if not isinstance(raw, list):
        raise InvalidInput("media is an array of {key, step, filename, caption, data}")
    out = []
    for m in raw:
        if (not isinstance(m, dict) or not isinstance(m.get("key"), str)
                or type(m.get("step")) is not int or not isinstance(m.get("filename"), str)
                or not opt_str(m.get("caption"))):
            raise InvalidInput("media is an array of {key, step, filename, caption, data}")
        out.append(MediaItem(m["key"], m["step"], m["filename"], decode_data(m.get("data")),
                             m.get("caption")))
    return out


def decode_data(value: Any) -> bytes:
    """The bytes of a media item's ``data`` (base64)."""
    if not isinstance(value, str):
        raise InvalidInput("media 'data' is the file's bytes in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("media 'data' is not valid base64") from None
