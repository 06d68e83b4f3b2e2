"""``/api/runs/{id}/logs``: the run's captured console lines, with search and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.store.log_rows import MAX_READ

from ..deps import INT64_MAX, StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import LogList

router = APIRouter(prefix="/api", tags=["logs"], responses=ERROR_RESPONSES)


@router.get("/runs/{run_id}/logs", response_model=LogList,
            summary="Console lines: after a seq, before one (paging back), or the last N; "
                    "optionally only those holding q")
async def list_logs(
    run_id: str,
    store: StoreDep,
    after_seq: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_READ)] = 1000,
    q: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    tail: Annotated[int | None, Query(ge=1, le=MAX_READ)] = None,
) -> Response:
    lines = await run_in_threadpool(
        store.read_log_lines, run_id, after_seq=after_seq, before_seq=before_seq,
        limit=limit, q=q, tail=tail)
    return json_response({"lines": [line.to_dict() for line in lines],
                          "next_seq": lines[-1].seq if lines else None})
