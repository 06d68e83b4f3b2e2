"""``GET /api/runs/{id}/export``: a run's metrics as a CSV or Parquet file, or as a tar
of a TensorBoard log directory (``<run name>/events.out.tfevents.…``), streamed.

The same export as ``traindeck export`` (``traindeck.export``): long format, raw points
read in step windows or N exact buckets per series, the bytes sent as they are made, so a
run of any length downloads with bounded memory on the server. Everything that can fail
(unknown run: 404; bad format or bucket count, or Parquet without pyarrow: 422) fails
before the first byte; read scope, like every GET.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from traindeck.export import MAX_BUCKETS, parse_keys, prepare

from ..deps import StoreDep
from ..errors import ERROR_RESPONSES
from .checkpoints import content_disposition

router = APIRouter(prefix="/api", tags=["export"], responses=ERROR_RESPONSES)


@router.get(
    "/runs/{run_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {},
                                 "application/x-tar": {}},
                     "description": "the file, streamed (no Content-Length)"}},
    summary="A run's metrics as a CSV or Parquet file (long format, or buckets), or a "
            "tar of TensorBoard event files, streamed",
)
def export_run(
    run_id: str,
    store: StoreDep,
    format: Literal["csv", "parquet", "tensorboard"] = "csv",
    keys: Annotated[list[str] | None, Query(
        max_length=1000,
        description="only these keys: exact keys or globs, repeated or comma-separated")]
    = None,
    key: Annotated[list[str] | None, Query(
        max_length=1000,
        description="only these keys, each taken literally (a key with a comma or a glob "
                    "character in its name); repeatable, added to `keys`")] = None,
    buckets: Annotated[int | None, Query(
        ge=1, le=MAX_BUCKETS, description="at most this many exact buckets per series "
                                          "instead of raw points")] = None,
) -> Response:
    store.get_run(run_id)  # unknown run: 404
    job = prepare(store, [run_id], format, keys=parse_keys(keys, key), buckets=buckets)
    name = run_id + ("-buckets" if buckets is not None else "") + job.suffix
    return StreamingResponse(job.chunks(), media_type=job.media_type, headers={
        "content-disposition": content_disposition(name),
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
    })
