"""The JSON Schema of ``POST /api/runs/{run_id}/batch``'s body, for the OpenAPI document.

The route reads its body raw and checks it with ``traindeck.store.batch_wire`` (fast on
64 MiB backlogs, shared with the SDK), so FastAPI cannot see a model. This module writes the
schema from the wire format's own declarations: the batch's fields
(:data:`~traindeck.store.batch_wire.BATCH_FIELDS`), the run fields with their one type each
(:data:`~traindeck.store.batch_wire.RUN_FIELD_TYPES`, whose wording becomes each field's
description), the run statuses, the console streams and the spellings of non-finite
numbers. A field declared there without a schema here fails at import (and in
``tests/unit/test_batch_openapi.py``), so the published schema cannot fall behind.
"""

from __future__ import annotations

from typing import Any, Final

from traindeck.store.batch_schema import RUN_FIELDS_SPEC
from traindeck.store.batch_wire import (
    BATCH_FIELDS,
    MAX_BATCH_ID,
    MAX_METRIC_KEY,
    MAX_RUNS,
    RUN_FIELD_TYPES,
)
from traindeck.store.codec import NONFINITE_NAMES
from traindeck.store.models import LOG_STREAMS, RUN_STATUSES

Schema = dict[str, Any]

_STRING: Final[Schema] = {"type": "string"}
_OPT_STRING: Final[Schema] = {"type": ["string", "null"]}
_OBJECT: Final[Schema] = {"type": "object"}
_STRINGS: Final[Schema] = {"type": "array", "items": _STRING}
_FINITE: Final[Schema] = {"type": "number"}
_NUMBER_OR_NAME: Final[Schema] = {"anyOf": [{"type": "number"},
                                            {"enum": list(NONFINITE_NAMES)}]}

#: The JSON Schema of each run field: from the one table of run fields (store/batch_schema).
RUN_FIELD_SCHEMAS: Final[dict[str, Schema]] = {
    name: dict(spec.json) for name, spec in RUN_FIELDS_SPEC.items()}


def _closed(properties: dict[str, Schema], required: tuple[str, ...] = (),
            description: str | None = None) -> Schema:
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def run_fields(*, required: tuple[str, ...] = (), description: str) -> Schema:
    """The object of run fields (``run`` and ``update``)."""
    properties = {name: {**RUN_FIELD_SCHEMAS[name], "description": spec.what}
                  for name, spec in RUN_FIELD_TYPES.items()}
    return {"anyOf": [_closed(properties, required, description), {"type": "null"}]}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


#: The schema of each batch field (``BATCH_FIELDS``).
BATCH_FIELD_SCHEMAS: Final[dict[str, Schema]] = {
    "batch_id": {"type": "string", "minLength": 1, "maxLength": MAX_BATCH_ID,
                 "description": "unique per batch: a batch id seen before changes nothing"},
    "run": run_fields(required=("project",),
                      description="creates the run if it is missing (an upsert)"),
    "update": run_fields(description="run fields to change"),
    "metrics": _nullable({
        "type": "object",
        "propertyNames": {"minLength": 1, "maxLength": MAX_METRIC_KEY},
        "additionalProperties": _closed({
            "steps": {"type": "array", "items": {"type": "integer"}},
            "times": {"type": "array", "items": {"type": "number"}},
            "values": {"type": "array", "items": _NUMBER_OR_NAME},
        }, ("steps", "times", "values"), "columns of one length"),
        "description": "points by metric name",
    }),
    "summary": _nullable(_OBJECT),
    "heartbeat": _nullable({**_FINITE, "description": "seconds since the epoch"}),
    "events": _nullable({"type": "array", "items": {
        "type": "object", "required": ["kind"],
        "properties": {"kind": {"type": "string", "minLength": 1},
                       "payload": {"type": ["object", "null"]}}}}),
    "command_results": _nullable({"type": "array", "items": {
        "type": "object", "required": ["id"],
        "properties": {"id": _STRING, "ok": {"type": "boolean"}, "result": {},
                       "error": _OPT_STRING}}}),
    "logs": _nullable({"type": "array", "description": "console lines", "items": {
        "type": "array", "minItems": 3, "maxItems": 3,
        "prefixItems": [_FINITE, {"enum": list(LOG_STREAMS)}, _STRING]}}),
    "media": _nullable({"type": "array", "items": {
        "type": "object", "required": ["key", "step", "filename", "data"],
        "properties": {"key": _STRING, "step": {"type": "integer"}, "filename": _STRING,
                       "caption": _OPT_STRING,
                       "data": {"type": "string", "contentEncoding": "base64",
                                "description": "the image file in base64"}}}}),
    "checkpoints": _nullable({"type": "array", "items": {
        "type": "object", "required": ["id", "step", "path", "kind"],
        "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 64},
                       "step": {"type": "integer", "minimum": 0},
                       "path": {"type": "string", "minLength": 1, "maxLength": 4096},
                       "kind": _STRING, "metrics": _OBJECT, "metadata": _OBJECT,
                       "size": {"type": ["integer", "null"]}, "sha256": _OPT_STRING,
                       "host": _OPT_STRING, "is_best": {"type": "boolean"}}}}),
    "checkpoint_best": {"type": ["string", "null"], "minLength": 1, "maxLength": 64,
                        "description": "the id of the run's best checkpoint"},
    "checkpoints_deleted": _nullable({"type": "array", "items": {
        "type": "object", "required": ["id"],
        "properties": {"id": _STRING, "reason": _STRING}}}),
    "status": {"anyOf": [{"enum": list(RUN_STATUSES)}, {"type": "null"}]},
}

#: One batch: every field but ``batch_id`` optional, no others.
BATCH: Final[Schema] = _closed(
    {name: BATCH_FIELD_SCHEMAS[name] for name in sorted(BATCH_FIELDS)}, ("batch_id",),
    "One SDK batch (traindeck.store.batch_wire), applied once by its batch_id.")

#: The body: one batch, or an array of them (a spooled backlog, applied in order).
BODY: Final[Schema] = {"anyOf": [BATCH, {"type": "array", "minItems": 1, "items": BATCH}]}

def _request_body(schema: Schema, description: str) -> Schema:
    """A raw-body route's ``openapi_extra``: its JSON body's schema."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


#: For the route's ``openapi_extra``.
OPENAPI_EXTRA: Final[Schema] = _request_body(
    BODY, "one batch, or an array of batches (a backlog, applied in order in one transaction)")

#: ``POST /api/batches``: the batches of several runs (one training process's runs).
RUNS_BODY: Final[Schema] = {
    "type": "array", "minItems": 1, "maxItems": MAX_RUNS,
    "items": _closed({"run_id": {"type": "string", "minLength": 1, "maxLength": MAX_BATCH_ID},
                      "batches": {"type": "array", "minItems": 1, "items": BATCH}},
                     ("run_id", "batches"), "One run's batches, applied in order."),
}

RUNS_OPENAPI_EXTRA: Final[Schema] = _request_body(
    RUNS_BODY, "several runs' batches (each run at most once); each run is applied or "
               "refused on its own")
