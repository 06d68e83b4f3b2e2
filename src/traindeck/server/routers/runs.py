"""``/api/runs``: list (filters, sort, paging), read, edit (name, tags, notes), delete.

Deleting a run deletes its folder of files (checkpoints, media, artifacts, console) with
it; checkpoint files recorded outside that folder are left where they are.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from traindeck.store import RUN_STATUSES, Conflict, InvalidInput

from ..deps import FilesDep, StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES, error_response
from ..schemas import RunList, RunOut, RunPatch
from .run_table import (
    COLUMNS_HELP,
    MAX_COLUMNS_TEXT,
    MAX_QUERY,
    Q_HELP,
    SORT_HELP,
    parse_columns,
    parse_query,
    parse_sort,
)

router = APIRouter(prefix="/api", tags=["runs"], responses=ERROR_RESPONSES)


def parse_statuses(status: str | None) -> list[str] | None:
    if status is None:
        return None
    wanted = [s.strip() for s in status.split(",") if s.strip()]
    bad = [s for s in wanted if s not in RUN_STATUSES]
    if bad or not wanted:
        raise InvalidInput(
            f"unknown status {', '.join(bad) or status!r}; one of {', '.join(RUN_STATUSES)}")
    return wanted


@router.get("/runs", response_model=RunList, summary="List runs")
def list_runs(
    store: StoreDep,
    project: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(
        description="one status or several, comma-separated (running,paused)")] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY, description=Q_HELP)] = None,
    sort: Annotated[str | None, Query(max_length=MAX_QUERY, description=SORT_HELP)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query(
        description="direction of a single unprefixed sort column (default: asc; "
                    "no sort at all: newest first)")] = None,
    columns: Annotated[str | None, Query(max_length=MAX_COLUMNS_TEXT,
                                         description=COLUMNS_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    query = parse_query(q).with_filters(project=project, status=parse_statuses(status),
                                        tag=tag)
    page = store.query_runs(query, sort=parse_sort(sort, order),
                            columns=parse_columns(columns), limit=limit, offset=offset)
    return json_response({"runs": [{**r.to_dict(), "values": v}
                                    for r, v in zip(page.runs, page.values, strict=True)],
                          "total": page.total})


@router.get("/projects", response_model=list[str], summary="Project names")
def list_projects(store: StoreDep) -> Response:
    return json_response(store.projects())


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run")
def get_run(run_id: str, store: StoreDep) -> Response:
    return json_response(store.get_run(run_id).to_dict())


@router.patch("/runs/{run_id}", response_model=RunOut, summary="Edit name, tags or notes")
def patch_run(run_id: str, patch: RunPatch, store: StoreDep) -> Response:
    fields = patch.model_dump(exclude_unset=True)
    for name in ("name", "tags", "notes"):
        if name in fields and fields[name] is None:
            raise InvalidInput(f"{name} cannot be null")
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not fields["name"]:
            raise InvalidInput("name cannot be blank")
    if "tags" in fields:
        fields["tags"] = list(dict.fromkeys(t.strip() for t in fields["tags"] if t.strip()))
    if not fields:
        return json_response(store.get_run(run_id).to_dict())
    return json_response(store.update_run(run_id, **fields).to_dict())


@router.delete("/runs/{run_id}", status_code=204, response_class=Response,
               responses=CONFLICT_RESPONSE,
               summary="Delete a run that is not live, with its folder of files")
def delete_run(run_id: str, store: StoreDep, files: FilesDep) -> Response:
    run = store.get_run(run_id)
    if run.status in ("running", "paused"):
        raise Conflict(f"run {run_id!r} is {run.status}; stop it before deleting it")
    # Files first: when they cannot all go (permissions, a busy file system), the run stays
    # listed with what is left of its folder, and the same DELETE can be tried again.
    try:
        files.remove_run(run.id)
    except OSError as exc:
        return error_response(
            409, "conflict",
            f"run {run.id!r} was kept: its folder {files.run_dir(run.id)} could not be "
            f"deleted ({exc.strerror or exc}); fix that and delete the run again")
    store.delete_run(run.id)
    return Response(status_code=204)
