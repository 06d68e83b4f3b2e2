"""``/api/runs/{id}/events``: the run's event log, by sequence number."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from ..deps import INT64_MAX, StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import EventList

router = APIRouter(prefix="/api", tags=["events"], responses=ERROR_RESPONSES)


@router.get("/runs/{run_id}/events", response_model=EventList,
            summary="Events after a sequence number, oldest first")
def list_events(
    run_id: str,
    store: StoreDep,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    kind: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    events = store.list_events(run_id, after_seq=after_seq, limit=limit, kind=kind)
    return json_response({"events": [e.to_dict() for e in events]})
