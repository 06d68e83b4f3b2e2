"""The MLflow routes in the OpenAPI document: request bodies, query parameters, answers.

The routes read their requests themselves (``wire``: protobuf's JSON mapping, MLflow's
errors), so these schemas are published by hand, from MLflow's ``service.proto``: only the
fields this API reads; int64 fields as integers (a string of digits is taken too, as
protobuf's parser does), doubles as numbers or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

from typing import Any, Final

from .wire import INT64_MAX, INT64_MIN

STR: Final[dict[str, Any]] = {"type": "string"}
INT64: Final[dict[str, Any]] = {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
DOUBLE: Final[dict[str, Any]] = {"anyOf": [
    {"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
KEY_VALUE: Final[dict[str, Any]] = {
    "type": "object", "required": ["key"],
    "properties": {"key": STR, "value": STR}}
STATUS: Final[dict[str, Any]] = {
    "type": "string", "enum": ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]}
METRIC: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowMetric", "required": ["key", "value", "timestamp"],
    "properties": {"key": STR, "value": DOUBLE, "timestamp": INT64, "step": INT64}}
EXPERIMENT: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowExperiment",
    "required": ["experiment_id", "name", "lifecycle_stage"],
    "properties": {"experiment_id": STR, "name": STR, "artifact_location": STR,
                   "lifecycle_stage": STR, "creation_time": {"type": "integer"},
                   "last_update_time": {"type": "integer"},
                   "tags": {"type": "array", "items": KEY_VALUE}}}
RUN_INFO: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowRunInfo",
    "required": ["run_id", "run_uuid", "experiment_id", "status", "start_time"],
    "properties": {"run_id": STR, "run_uuid": STR, "run_name": STR, "experiment_id": STR,
                   "user_id": STR, "status": STATUS, "start_time": {"type": "integer"},
                   "end_time": {"type": "integer"}, "artifact_uri": STR,
                   "lifecycle_stage": STR}}
RUN: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowRun", "required": ["info", "data"],
    "properties": {
        "info": RUN_INFO,
        "data": {"type": "object", "properties": {
            "metrics": {"type": "array", "items": METRIC},
            "params": {"type": "array", "items": KEY_VALUE},
            "tags": {"type": "array", "items": KEY_VALUE}}},
        "inputs": {"type": "object"}}}
EMPTY: Final[dict[str, Any]] = {"type": "object", "title": "MlflowEmpty"}


def obj(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a POST route taking ``schema`` as JSON."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


def query(*params: tuple[str, dict[str, Any], bool]) -> dict[str, Any]:
    """``openapi_extra`` of a GET route: its query parameters (name, schema, required)."""
    return {"parameters": [{"name": n, "in": "query", "required": r, "schema": s}
                           for n, s, r in params]}


def answer(schema: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {"application/json": {"schema": schema}}}}


CREATE_EXPERIMENT: Final = obj(["name"], name=STR, artifact_location=STR,
                                tags=_list(KEY_VALUE))
SEARCH_EXPERIMENTS: Final = obj([], max_results=INT64, page_token=STR, filter=STR,
                                 order_by=_list(STR), view_type=STR)
CREATE_RUN: Final = obj(["experiment_id"], experiment_id=STR, user_id=STR,
                         start_time=INT64, tags=_list(KEY_VALUE), run_name=STR)
UPDATE_RUN: Final = obj(["run_id"], run_id=STR, run_uuid=STR, status=STATUS,
                         end_time=INT64, run_name=STR)
SEARCH_RUNS: Final = obj([], experiment_ids=_list(STR), filter=STR, run_view_type=STR,
                          max_results=INT64, order_by=_list(STR), page_token=STR)
RUN_ID: Final = obj(["run_id"], run_id=STR)
LOG_METRIC: Final = obj(["run_id", "key", "value", "timestamp"], run_id=STR, run_uuid=STR,
                         key=STR, value=DOUBLE, timestamp=INT64, step=INT64)
LOG_PARAM: Final = obj(["run_id", "key", "value"], run_id=STR, run_uuid=STR, key=STR,
                        value=STR)
DELETE_TAG: Final = obj(["run_id", "key"], run_id=STR, key=STR)
LOG_BATCH: Final = obj(["run_id"], run_id=STR, metrics=_list(METRIC),
                        params=_list(KEY_VALUE), tags=_list(KEY_VALUE))
LOG_INPUTS: Final = obj(["run_id"], run_id=STR, datasets=_list({
    "type": "object", "properties": {
        "tags": _list(KEY_VALUE),
        "dataset": obj([], name=STR, digest=STR, source_type=STR, source=STR)}}),
    models=_list({"type": "object"}))

EXPERIMENT_ANSWER: Final = obj(["experiment"], experiment=EXPERIMENT)
EXPERIMENTS_ANSWER: Final = obj(["experiments"], experiments=_list(EXPERIMENT),
                                 next_page_token=STR)
RUN_ANSWER: Final = obj(["run"], run=RUN)
RUNS_ANSWER: Final = obj([], runs=_list(RUN), next_page_token=STR)
HISTORY_ANSWER: Final = obj([], metrics=_list(METRIC), next_page_token=STR)
