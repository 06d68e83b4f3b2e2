"""``/api/2.0/mlflow/…``: the routes the ``mlflow`` client calls for tracking.

Each route reads its request (``wire``), runs one call of ``Experiments`` or ``Runs`` in a
worker thread, and answers MLflow's response message, or MLflow's error shape
(``errors``). Any other path under the prefix is ``ENDPOINT_NOT_FOUND``. Auth is the rest
of the API's: the client sends ``MLFLOW_TRACKING_TOKEN`` as ``Authorization: Bearer``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.store import StoreError

from ..deps import FilesDep, StoreDep, json_response
from . import openapi as oa
from .errors import ERROR_RESPONSES, MlflowError, from_store_error, mlflow_error_response, respond
from .experiments import Experiments
from .runs import Runs
from .wire import Fields, json_body, query_fields

PREFIX = "/api/2.0/mlflow"
router = APIRouter(prefix=PREFIX, tags=["mlflow"], responses=ERROR_RESPONSES)


async def _lock(request: Request) -> threading.Lock:
    """The app's lock for read-modify-writes of a run's config (made on first use; on the
    event loop, so never twice)."""
    state = request.app.state
    lock: threading.Lock | None = getattr(state, "mlflow_lock", None)
    if lock is None:
        lock = state.mlflow_lock = threading.Lock()
    return lock


async def _runs(store: StoreDep, files: FilesDep,
                lock: Annotated[threading.Lock, Depends(_lock)]) -> Runs:
    return Runs(store, files, lock)


async def _experiments(store: StoreDep) -> Experiments:
    return Experiments(store)


RunsDep = Annotated[Runs, Depends(_runs)]
ExperimentsDep = Annotated[Experiments, Depends(_experiments)]


async def _answer(request: Request, call: Callable[[Fields], dict[str, Any]]) -> Response:
    try:
        raw = (query_fields(request.query_params) if request.method == "GET"
               else json_body(await request.body()))
        return json_response(await run_in_threadpool(call, Fields(raw)))
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))


_RUN_ID = ("run_id", oa.STR, False)
_RUN_UUID = ("run_uuid", oa.STR, False)


# -- experiments ------------------------------------------------------------------------


@router.post("/experiments/create", summary="MLflow CreateExperiment: a new project",
             openapi_extra=oa.body(oa.CREATE_EXPERIMENT),
             responses=oa.answer(oa.obj(["experiment_id"], experiment_id=oa.STR),
                                 "{experiment_id}"))
async def mlflow_create_experiment(request: Request, exps: ExperimentsDep) -> Response:
    return await _answer(request, exps.create)


@router.get("/experiments/get", summary="MLflow GetExperiment: a project by number",
            openapi_extra=oa.query(("experiment_id", oa.STR, True)),
            responses=oa.answer(oa.EXPERIMENT_ANSWER, "{experiment}"))
async def mlflow_get_experiment(request: Request, exps: ExperimentsDep) -> Response:
    return await _answer(request, exps.get)


@router.get("/experiments/get-by-name", summary="MLflow GetExperimentByName",
            openapi_extra=oa.query(("experiment_name", oa.STR, True)),
            responses=oa.answer(oa.EXPERIMENT_ANSWER, "{experiment}"))
async def mlflow_get_experiment_by_name(request: Request, exps: ExperimentsDep) -> Response:
    return await _answer(request, exps.get_by_name)


@router.post("/experiments/search", summary="MLflow SearchExperiments",
             openapi_extra=oa.body(oa.SEARCH_EXPERIMENTS),
             responses=oa.answer(oa.EXPERIMENTS_ANSWER, "{experiments, next_page_token}"))
async def mlflow_search_experiments(request: Request, exps: ExperimentsDep) -> Response:
    return await _answer(request, exps.search)


# -- runs -------------------------------------------------------------------------------


@router.post("/runs/create", summary="MLflow CreateRun: a run in a project",
             openapi_extra=oa.body(oa.CREATE_RUN),
             responses=oa.answer(oa.RUN_ANSWER, "{run}"))
async def mlflow_create_run(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.create)


@router.get("/runs/get", summary="MLflow GetRun",
            openapi_extra=oa.query(_RUN_ID, _RUN_UUID),
            responses=oa.answer(oa.RUN_ANSWER, "{run}"))
async def mlflow_get_run(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.get)


@router.post("/runs/update", summary="MLflow UpdateRun: status, end time, name",
             openapi_extra=oa.body(oa.UPDATE_RUN),
             responses=oa.answer(oa.obj(["run_info"], run_info=oa.RUN_INFO), "{run_info}"))
async def mlflow_update_run(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.update)


@router.post("/runs/search", summary="MLflow SearchRuns: filter and order runs",
             openapi_extra=oa.body(oa.SEARCH_RUNS),
             responses=oa.answer(oa.RUNS_ANSWER, "{runs, next_page_token}"))
async def mlflow_search_runs(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.search)


@router.post("/runs/delete", summary="MLflow DeleteRun (deleted for good)",
             openapi_extra=oa.body(oa.RUN_ID), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_delete_run(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.delete)


@router.post("/runs/log-metric", summary="MLflow LogMetric: one point",
             openapi_extra=oa.body(oa.LOG_METRIC), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_metric(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.log_metric)


@router.post("/runs/log-batch", summary="MLflow LogBatch: points, params and tags",
             openapi_extra=oa.body(oa.LOG_BATCH), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_batch(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.log_batch)


@router.post("/runs/log-parameter", summary="MLflow LogParam: one config key",
             openapi_extra=oa.body(oa.LOG_PARAM), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_param(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.log_param)


@router.post("/runs/set-tag", summary="MLflow SetTag",
             openapi_extra=oa.body(oa.LOG_PARAM), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_set_tag(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.set_tag)


@router.post("/runs/delete-tag", summary="MLflow DeleteTag",
             openapi_extra=oa.body(oa.DELETE_TAG), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_delete_tag(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.delete_tag)


@router.post("/runs/log-inputs", summary="MLflow LogInputs: datasets (as an event)",
             openapi_extra=oa.body(oa.LOG_INPUTS), responses=oa.answer(oa.EMPTY, "{}"))
async def mlflow_log_inputs(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.log_inputs)


@router.get("/metrics/get-history", summary="MLflow GetMetricHistory: a series' points",
            openapi_extra=oa.query(_RUN_ID, _RUN_UUID, ("metric_key", oa.STR, True),
                                   ("max_results", oa.INT64, False),
                                   ("page_token", oa.STR, False)),
            responses=oa.answer(oa.HISTORY_ANSWER, "{metrics, next_page_token}"))
async def mlflow_metric_history(request: Request, runs: RunsDep) -> Response:
    return await _answer(request, runs.metric_history)


@router.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def mlflow_unknown(path: str, request: Request) -> Response:
    return mlflow_error_response(
        404, "ENDPOINT_NOT_FOUND",
        f"traindeck does not implement MLflow's {request.method} {PREFIX}/{path:.200} "
        "(see docs/integrations.md, MLflow tracking API)")
