"""The run table's routes: ``/api/runs/columns`` (what columns there are) and
``/api/runs/groups`` (runs grouped, with aggregates). ``GET /api/runs`` itself (``q``,
``sort``, ``columns``) is in ``runs``; the language is ``traindeck.store.run_query``'s.

Mounted before ``runs``: its ``/runs/{run_id}`` would take ``columns`` for a run id.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query
from starlette.responses import Response

from traindeck.store.run_query import (
    RunQuery,
    parse_columns,
    parse_group_by,
    parse_query,
    parse_sort,
)

from ..deps import StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import RunColumns, RunGroups

__all__ = [
    "COLUMNS_HELP", "MAX_COLUMNS_TEXT", "MAX_QUERY", "Q_HELP", "SORT_HELP", "parse_columns",
    "parse_query", "parse_sort", "router",
]

router = APIRouter(prefix="/api", tags=["runs"], responses=ERROR_RESPONSES)

MAX_QUERY: Final = 2000
MAX_COLUMNS_TEXT: Final = 20_000
Q_HELP: Final = (
    "terms, all of which must hold: a plain word (in name or id), status:running[,paused], "
    "tag:x, project:p, name:text, name:~regex, or K<V K<=V K>V K>=V K=V K!=V with K "
    "config:KEY (dotted), metric:KEY[:last|min|max], a built-in (step, duration, progress, "
    "created_at, steps_per_s, eta_s…) or a bare key (a metric if a run has it, else "
    "config); quote with \"…\". A bad query: 422 naming the position")
SORT_HELP: Final = (
    "comma-separated columns, each '-' prefixed for descending: created_at, name, status, "
    "project, heartbeat_at, ended_at, duration, step, progress, eta_s, steps_per_s, "
    "metric:KEY[:last|min|max], config:KEY; nulls last (NaN after numbers); default "
    "-created_at")
COLUMNS_HELP: Final = (
    "comma-separated column ids (as in sort, plus tags): each run gets values {id: value}")


def _scope(q: str | None, project: str | None) -> RunQuery:
    return parse_query(q).with_filters(project=project)


@router.get("/runs/columns", response_model=RunColumns,
            summary="The metric and config keys of runs (the column chooser)")
def run_columns(
    store: StoreDep,
    project: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY, description=Q_HELP)] = None,
) -> Response:
    metrics, config = store.run_columns(_scope(q, project))
    return json_response({"metrics": metrics, "config": config})


@router.get("/runs/groups", response_model=RunGroups,
            summary="Runs grouped by a config key, status, project or tag, with aggregates")
def run_groups(
    store: StoreDep,
    by: Annotated[str, Query(min_length=1, max_length=1000,
                             description="config:KEY, status, project or tag")],
    project: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY, description=Q_HELP)] = None,
    columns: Annotated[str | None, Query(max_length=MAX_COLUMNS_TEXT,
                                         description=COLUMNS_HELP)] = None,
) -> Response:
    groups = store.group_runs(_scope(q, project), parse_group_by(by), parse_columns(columns))
    return json_response({"groups": [
        {"value": g.value, "count": g.count, "aggregates": g.aggregates} for g in groups]})
