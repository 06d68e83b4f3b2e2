"""``/api/2.0/mlflow/logged-models/…``: MLflow 3's logged models, which traindeck does not
keep.

The client searches them when it reads a run's files through a ``runs:/`` URI
(``mlflow.artifacts.download_artifacts``, ``load_text``…, to add a model's files to the
run's): the search answers that there are none, so those reads see the run's own
artifacts. Creating one (what ``mlflow.<flavour>.log_model`` does first in MLflow 3)
answers ``ENDPOINT_NOT_FOUND``, as every other logged-model route; log a model's folder
with ``mlflow.log_artifacts`` instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..deps import json_response
from . import openapi as oa
from .errors import ERROR_RESPONSES, MlflowError, respond
from .mapping import experiment_id
from .wire import Fields, json_body

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], responses=ERROR_RESPONSES)

SEARCH_LOGGED_MODELS = oa.obj([], experiment_ids={"type": "array", "items": oa.STR},
                              filter=oa.STR, max_results=oa.INT64, page_token=oa.STR)


@router.post("/logged-models/search",
             summary="MLflow SearchLoggedModels: none (traindeck keeps no logged models)",
             openapi_extra=oa.body(SEARCH_LOGGED_MODELS),
             responses=oa.answer(oa.obj([], models={"type": "array",
                                                    "items": {"type": "object"}},
                                        next_page_token=oa.STR), "{models}"))
async def mlflow_search_logged_models(request: Request) -> Response:
    try:
        f = Fields(json_body(await request.body()))
        for raw in f.strings("experiment_ids"):
            experiment_id(raw)
        f.string("filter")
        f.int64("max_results")
        f.string("page_token")
    except MlflowError as exc:
        return respond(exc)
    return json_response({"models": []})
