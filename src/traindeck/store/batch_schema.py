"""The batch wire format's schema, as types: what the SDK builds and the server checks.

Two things live here, for both sides:

- :data:`RUN_FIELDS_SPEC`, the one table of run fields a batch (``run`` upsert, ``update``)
  may set, each with its check and what it must be. The fields a user may also change over
  ``PATCH /api/runs/{id}`` (:data:`EDITABLE`: name, tags, notes) take their limits from
  the same constants, which ``server/schemas.py``'s ``RunPatch`` uses too, so a value the
  batch route accepts is one PATCH accepts.
- :class:`BatchBody` and its parts, ``TypedDict`` s of one batch object as the SDK sends it
  (``sdk/remote.py`` builds every body through them, so mypy checks the SDK against the
  schema ``batch_wire.check_batch`` validates). They cost nothing at run time: a
  ``TypedDict`` is a plain dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, TypedDict

import numpy.typing as npt

# -- the run fields --------------------------------------------------------------------

#: Longest run name, tag and notes; most tags on a run.
MAX_NAME: Final = 200
MAX_TAG: Final = 100
MAX_TAGS: Final = 100
MAX_NOTES: Final = 100_000
MAX_PROJECT: Final = 200


def _str(v: Any) -> bool:
    return isinstance(v, str)


def opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def finite_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def opt_int(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _opt_bool(v: Any) -> bool:
    return v is None or isinstance(v, bool)


def _object(v: Any) -> bool:
    return isinstance(v, dict)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def valid_name(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_NAME


def valid_tags(v: Any) -> bool:
    return (isinstance(v, list) and len(v) <= MAX_TAGS
            and all(isinstance(x, str) and 0 < len(x) <= MAX_TAG for x in v))


def valid_notes(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_NOTES


class FieldSpec(NamedTuple):
    """How a run field is checked, what it must be (for the error message), and the same
    as JSON Schema (for the OpenAPI document)."""

    check: Callable[[Any], bool]
    what: str
    json: Mapping[str, Any]


_OPT_STRING: Final = {"type": ["string", "null"]}
_OBJECT_JSON: Final = {"type": "object"}
_STRINGS_JSON: Final = {"type": "array", "items": {"type": "string"}}


#: The run fields a user may change (``PATCH``), and how.
EDITABLE: Final[Mapping[str, FieldSpec]] = {
    "name": FieldSpec(valid_name, f"a string of 1 to {MAX_NAME} characters",
                      {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_NAME}),
    "tags": FieldSpec(valid_tags, f"an array of at most {MAX_TAGS} strings of 1 to "
                                  f"{MAX_TAG} characters",
                      {"type": "array", "maxItems": MAX_TAGS,
                       "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG}}),
    "notes": FieldSpec(valid_notes, f"a string of at most {MAX_NOTES} characters",
                       {"type": "string", "maxLength": MAX_NOTES}),
}

#: Run fields a batch may set (``run`` upsert and ``update``). In ``run``, ``name`` may also
#: be null (the run is named after its id). Never ``launch_spec``: only the launcher (in the
#: server) writes it, since resuming a run runs the command it names.
RUN_FIELDS_SPEC: Final[Mapping[str, FieldSpec]] = {
    "project": FieldSpec(lambda v: isinstance(v, str) and 0 < len(v) <= MAX_PROJECT,
                         f"a string of 1 to {MAX_PROJECT} characters",
                         {"type": "string", "minLength": 1, "maxLength": MAX_PROJECT}),
    **EDITABLE,
    "config": FieldSpec(_object, "an object", _OBJECT_JSON),
    "started_at": FieldSpec(finite_number, "a finite number", {"type": "number"}),
    "heartbeat_timeout": FieldSpec(lambda v: finite_number(v) and v > 0,
                                   "a positive number (seconds)",
                                   {"type": "number", "exclusiveMinimum": 0}),
    "host": FieldSpec(opt_str, "a string or null", _OPT_STRING),
    "pid": FieldSpec(opt_int, "an integer or null", {"type": ["integer", "null"]}),
    "command": FieldSpec(opt_str, "a string or null", _OPT_STRING),
    "git_commit": FieldSpec(opt_str, "a string or null", _OPT_STRING),
    "git_dirty": FieldSpec(_opt_bool, "true, false or null", {"type": ["boolean", "null"]}),
    "env": FieldSpec(_object, "an object", _OBJECT_JSON),
    "commands_offered": FieldSpec(_strings, "an array of strings", _STRINGS_JSON),
    "total_steps": FieldSpec(lambda v: v is None or (opt_int(v) and 0 < v < 2**63),
                             "a positive integer or null",
                             {"type": ["integer", "null"], "minimum": 1}),
}


class RunFields(TypedDict, total=False):
    """Run fields in a batch's ``run`` (upsert) or ``update``; see :data:`RUN_FIELDS_SPEC`."""

    project: str
    name: str | None
    config: dict[str, Any]
    tags: list[str]
    notes: str
    started_at: float
    heartbeat_timeout: float
    host: str | None
    pid: int | None
    command: str | None
    git_commit: str | None
    git_dirty: bool | None
    env: dict[str, Any]
    commands_offered: list[str]
    total_steps: int | None


# -- the parts of a batch ----------------------------------------------------------------

#: A column of one metric: a JSON array (int64 steps, float64 times and values; a
#: non-finite value spelled "NaN", "Infinity", "-Infinity"). The SDK hands numpy arrays to
#: the JSON encoder as they are (no per-point Python work), or a list where a value is
#: non-finite.
WireColumn = npt.NDArray[Any] | list[Any]


class MetricColumns(TypedDict):
    steps: WireColumn
    times: WireColumn
    values: WireColumn


class EventBody(TypedDict):
    kind: str
    payload: dict[str, Any]


class CommandResultBody(TypedDict):
    id: str
    ok: bool
    result: Any
    error: str | None


class MediaBody(TypedDict):
    key: str
    step: int
    filename: str
    caption: str | None
    data: str  # the file's bytes, base64


class CheckpointBody(TypedDict):
    id: str
    step: int
    path: str
    kind: str
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    size: int | None
    sha256: str | None
    host: str | None
    is_best: bool


class DeletedBody(TypedDict):
    id: str
    reason: str


class BatchBody(TypedDict, total=False):
    """One batch object (see ``batch_wire``); ``batch_id`` is added when it is spooled."""

    batch_id: str
    run: RunFields
    update: RunFields
    metrics: dict[str, MetricColumns]
    summary: dict[str, Any]
    heartbeat: float
    events: list[EventBody]
    command_results: list[CommandResultBody]
    logs: list[list[float | str]]  # [time, "stdout" | "stderr", text]
    media: list[MediaBody]
    checkpoints: list[CheckpointBody]
    checkpoint_best: str
    checkpoints_deleted: list[DeletedBody]
    status: str
