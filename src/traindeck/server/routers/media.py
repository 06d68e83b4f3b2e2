"""Media: ``/api/runs/{id}/media`` (list, upload) and ``/api/media/{id}/file`` (the file).

Files live under the run's folder, ``<files root>/runs/<id>/media/<key>/`` (see
``traindeck.store.uploads``, which checks and keeps an upload exactly once: sending it
again returns the first row and changes nothing). A file over the 32 MiB limit answers
413. Serving resolves the path (``..`` and links), refuses anything outside the run's
folder, and opens the checked real path without following links (``files.py``), so a link
swapped in after the check is not followed.
"""

from __future__ import annotations

import os
import stat
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from traindeck.store import Media, NotFound
from traindeck.store.images import IMAGE_TYPES
from traindeck.store.uploads import MAX_MEDIA_BYTES, save_media

from ..deps import INT64_MAX, INT64_MIN, FilesDep, StoreDep, json_response
from ..errors import ERROR_RESPONSES, UNAVAILABLE_RESPONSE
from ..files import open_no_links, read_chunks
from ..schemas import MediaCreated, MediaList

router = APIRouter(prefix="/api", tags=["media"],
                   responses={**ERROR_RESPONSES, **UNAVAILABLE_RESPONSE})

__all__ = ["MAX_MEDIA_BYTES", "media_out", "router"]


def media_out(m: Media) -> dict[str, Any]:
    return {"id": m.id, "key": m.key, "step": m.step, "caption": m.caption, "kind": m.kind,
            "created_at": m.created_at, "width": m.width, "height": m.height,
            "url": f"/api/media/{m.id}/file"}


@router.get("/runs/{run_id}/media", response_model=MediaList,
            summary="The run's media (images), by key and step")
async def list_media(
    run_id: str,
    store: StoreDep,
    key: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    step_min: Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)] = None,
    step_max: Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    def read() -> dict[str, Any]:
        media = store.list_media(run_id, key=key, step_min=step_min, step_max=step_max,
                                 limit=limit)
        return {"media": [media_out(m) for m in media], "keys": store.media_keys(run_id)}

    return json_response(await run_in_threadpool(read))


@router.post("/runs/{run_id}/media", response_model=MediaCreated, status_code=201,
             responses={200: {"model": MediaCreated,
                              "description": "uploaded before: nothing changed"}},
             summary="Upload an image (raw body); idempotent by run, key, step, filename")
async def upload_media(
    run_id: str,
    request: Request,
    store: StoreDep,
    files: FilesDep,
    key: Annotated[str, Query(min_length=1, max_length=128)],
    step: Annotated[int, Query(ge=INT64_MIN, le=INT64_MAX)],
    filename: Annotated[str, Query(min_length=1, max_length=100)],
    caption: Annotated[str | None, Query(max_length=10_000)] = None,
) -> Response:
    data = await request.body()
    media, created = await run_in_threadpool(
        lambda: save_media(store, files, run_id, key=key, step=step, filename=filename,
                           data=data, caption=caption))
    return json_response({"media": media_out(media), "created": created},
                         status_code=201 if created else 200)


@router.get(
    "/media/{media_id}/file",
    response_class=Response,
    responses={200: {"content": {t: {} for t in sorted(set(IMAGE_TYPES.values()))},
                     "description": "the image file"}},
    summary="The media file, with its content type",
)
async def media_file(media_id: int, store: StoreDep, files: FilesDep) -> Response:
    def find() -> tuple[int, os.stat_result, str]:
        if not 1 <= media_id <= INT64_MAX:
            raise NotFound(f"no media {media_id}")
        m = store.get_media(media_id)
        root = files.run_dir(m.run_id).resolve()
        path = (root / m.path).resolve()
        if os.path.commonpath([str(path), str(root)]) != str(root) or path == root:
            raise NotFound(f"media {media_id}: its file is outside the run's folder")
        try:
            fd, st = open_no_links(path)  # the checked path, links refused on the way
        except (OSError, ValueError):
            raise NotFound(f"media {media_id}: its file {m.path} is missing") from None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotFound(f"media {media_id}: its file {m.path} is missing")
        ctype = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return fd, st, ctype

    fd, st, ctype = await run_in_threadpool(find)
    return StreamingResponse(
        read_chunks(open(fd, "rb"), 0, st.st_size), media_type=ctype,
        headers={"cache-control": "private, max-age=86400", "x-content-type-options": "nosniff",
                 "content-length": str(st.st_size)})
