"""``/api/2.0/mlflow/logged-models/…`` and ``runs/outputs``: MLflow 3's logged models, the
routes ``mlflow.<flavour>.log_model`` and autologging call (``logged_models`` says how a
model is kept), and the search the client runs when it reads a ``runs:/<run>/<name>``
URI (which finds the run's model of that name).

Not served: a model's artifact listing through ``…/artifacts/directories`` (the client
lists a model's files through the artifacts service instead) and model metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.store import StoreError

from ..deps import FilesDep, StoreDep, json_response
from . import openapi as oa
from .errors import ERROR_RESPONSES, ERROR_SCHEMA, MlflowError, from_store_error, respond
from .logged_models import STATUS_IN, LoggedModels
from .wire import Fields, json_body, query_fields

#: A path no route matches (one with a line break, which no path parameter takes) is the
#: server's plain 404; any other 404 is MLflow's.
_NOT_FOUND: Final[dict[str, Any]] = {
    "description": "RESOURCE_DOES_NOT_EXIST: unknown model or run (a path with a line break "
                   "matches no route: the server's own 404)",
    "content": {"application/json": {"schema": {"anyOf": [ERROR_SCHEMA, {
        "type": "object", "required": ["error"], "properties": {"error": oa.obj(
            ["code", "message"], code=oa.STR, message=oa.STR)}}]}}}}

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"],
                   responses={**ERROR_RESPONSES, 404: _NOT_FOUND})

_PAIRS: Final = {"type": "array", "items": oa.KEY_VALUE}
MODEL: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowLoggedModel", "required": ["info", "data"],
    "properties": {
        "info": oa.obj(
            ["model_id", "experiment_id", "name", "artifact_uri", "status", "source_run_id"],
            model_id=oa.STR, experiment_id=oa.STR, name=oa.STR,
            creation_timestamp_ms={"type": "integer"},
            last_updated_timestamp_ms={"type": "integer"}, artifact_uri=oa.STR,
            status={"type": "string", "enum": list(STATUS_IN)}, model_type=oa.STR,
            source_run_id=oa.STR, tags=_PAIRS),
        "data": oa.obj([], params=_PAIRS, metrics={"type": "array", "items": oa.METRIC})}}
MODEL_ANSWER: Final = oa.answer(oa.obj(["model"], model=MODEL), "{model}")
CREATE: Final = oa.obj(["experiment_id"], experiment_id=oa.STR, name=oa.STR,
                       model_type=oa.STR, source_run_id=oa.STR, params=_PAIRS, tags=_PAIRS)
FINALIZE: Final = oa.obj(["status"], model_id=oa.STR, status={"anyOf": [
    {"type": "string", "enum": list(STATUS_IN)}, {"type": "integer", "enum": [1, 2, 3]}]})
SEARCH: Final = oa.obj(
    [], experiment_ids={"type": "array", "items": oa.STR}, filter=oa.STR,
    datasets={"type": "array", "items": oa.obj(["dataset_name"], dataset_name=oa.STR,
                                                dataset_digest=oa.STR)},
    max_results=oa.INT64, page_token=oa.STR,
    order_by={"type": "array", "items": oa.obj(
        ["field_name"], field_name=oa.STR, ascending={"type": "boolean"},
        dataset_name=oa.STR, dataset_digest=oa.STR)})
OUTPUTS: Final = oa.obj(["run_id"], run_id=oa.STR, models={"type": "array", "items": oa.obj(
    ["model_id"], model_id=oa.STR, step=oa.INT64)})


async def _models(store: StoreDep, files: FilesDep) -> LoggedModels:
    return LoggedModels(store, files)


ModelsDep = Annotated[LoggedModels, Depends(_models)]


async def _answer(request: Request, call: Callable[[Fields], dict[str, Any]]) -> Response:
    try:
        raw = (query_fields(request.query_params) if request.method in ("GET", "DELETE")
               else json_body(await request.body()))
        return json_response(await run_in_threadpool(call, Fields(raw)))
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))


@router.post("/logged-models/search",
             summary="MLflow SearchLoggedModels: the models of experiments",
             openapi_extra=oa.body(SEARCH),
             responses=oa.answer(oa.obj([], models={"type": "array", "items": MODEL},
                                        next_page_token=oa.STR), "{models, next_page_token}"))
async def mlflow_search_logged_models(request: Request, models: ModelsDep) -> Response:
    return await _answer(request, models.search)


@router.post("/logged-models", summary="MLflow CreateLoggedModel: a pending model of a run",
             openapi_extra=oa.body(CREATE), responses=MODEL_ANSWER)
async def mlflow_create_logged_model(request: Request, models: ModelsDep) -> Response:
    return await _answer(request, models.create)


@router.get("/logged-models/{model_id}", summary="MLflow GetLoggedModel",
            openapi_extra=oa.query(("allow_deleted", {"type": "boolean"}, False)),
            responses=MODEL_ANSWER)
async def mlflow_get_logged_model(model_id: str, request: Request,
                                  models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.get(model_id, f))


@router.patch("/logged-models/{model_id}",
              summary="MLflow FinalizeLoggedModel: ready, or its upload failed",
              openapi_extra=oa.body(FINALIZE), responses=MODEL_ANSWER)
async def mlflow_finalize_logged_model(model_id: str, request: Request,
                                       models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.finalize(model_id, f))


@router.delete("/logged-models/{model_id}",
               summary="MLflow DeleteLoggedModel: the model and its files, for good",
               responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_delete_logged_model(model_id: str, request: Request,
                                     models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.delete(model_id, f))


@router.post("/logged-models/{model_id}/params", summary="MLflow LogLoggedModelParams",
             openapi_extra=oa.body(oa.obj([], model_id=oa.STR, params=_PAIRS)),
             responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_logged_model_params(model_id: str, request: Request,
                                         models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.log_params(model_id, f))


@router.patch("/logged-models/{model_id}/tags", summary="MLflow SetLoggedModelTags",
              openapi_extra=oa.body(oa.obj([], tags=_PAIRS)),
              responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_set_logged_model_tags(model_id: str, request: Request,
                                       models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.set_tags(model_id, f))


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}",
               summary="MLflow DeleteLoggedModelTag", responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_delete_logged_model_tag(model_id: str, tag_key: str, request: Request,
                                         models: ModelsDep) -> Response:
    return await _answer(request, lambda f: models.delete_tag(model_id, tag_key))


@router.post("/runs/outputs", summary="MLflow LogOutputs: a run's models",
             openapi_extra=oa.body(OUTPUTS), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_outputs(request: Request, models: ModelsDep) -> Response:
    return await _answer(request, models.log_outputs)
