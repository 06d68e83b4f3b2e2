"""Media: ``/api/runs/{id}/media`` (list, upload) and ``/api/media/{id}/file`` (the file).

Files live under the run's folder on the server, ``<store folder>/runs/<id>/media/<key>/``
(the key with characters other than ``A-Za-z0-9._-`` turned into ``_``). An upload is
idempotent by (run, key, step, filename): sending it again returns the first row and
changes nothing. Serving resolves the path (``..`` and links) and refuses anything outside
the run's folder.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from traindeck.store import InvalidInput, Media, NotFound, SQLiteStore
from traindeck.store.images import IMAGE_TYPES, image_size, sniff_image, write_atomic

from ..deps import INT64_MAX, INT64_MIN, StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import MediaCreated, MediaList

router = APIRouter(prefix="/api", tags=["media"], responses=ERROR_RESPONSES)

#: Largest media file accepted (bytes).
MAX_MEDIA_BYTES: Final = 32 * 1024 * 1024
_FILENAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


def run_folder(store: SQLiteStore, run_id: str) -> Path:
    return Path(store.path).parent / "runs" / run_id


def media_out(m: Media) -> dict[str, Any]:
    return {"id": m.id, "key": m.key, "step": m.step, "caption": m.caption, "kind": m.kind,
            "created_at": m.created_at, "width": m.width, "height": m.height,
            "url": f"/api/media/{m.id}/file"}


def check_key(key: str) -> str:
    if not 0 < len(key) <= 128 or "/" in key or "\\" in key or ".." in key \
            or key.startswith(".") or any(ord(c) < 32 for c in key):
        raise InvalidInput("a media key is 1 to 128 characters, without path separators, "
                           "'..', a leading '.' or control characters")
    return key


def save_media(store: SQLiteStore, run_id: str, *, key: str, step: int, filename: str,
               data: bytes, caption: str | None) -> tuple[Media, bool]:
    """Write an uploaded image under the run's folder (atomically) and record it, once."""
    check_key(key)
    if not _FILENAME.fullmatch(filename) or ".." in filename:
        raise InvalidInput("a media file name is 1 to 100 of A-Z a-z 0-9 . _ - "
                           "(not starting with '.')")
    ext = os.path.splitext(filename)[1].lower()
    if ext not in IMAGE_TYPES:
        raise InvalidInput(f"a media file name ends in one of {', '.join(IMAGE_TYPES)}")
    if not INT64_MIN <= step <= INT64_MAX:
        raise InvalidInput("step must fit in 64 bits")
    if len(data) > MAX_MEDIA_BYTES:
        raise InvalidInput(f"a media file is at most {MAX_MEDIA_BYTES} bytes")
    kind = sniff_image(data)
    if kind is None or IMAGE_TYPES[kind] != IMAGE_TYPES[ext]:
        raise InvalidInput(f"the body is not a {ext[1:].upper()} image")
    if caption is not None and len(caption) > 10_000:
        raise InvalidInput("a caption is at most 10000 characters")
    rel = f"media/{_UNSAFE.sub('_', key)}/{filename}"
    size = image_size(data)
    # One write transaction (joined when a batch is being applied): the run may have been
    # created by an earlier batch of the same request, not yet committed.
    with store.write() as tx:
        if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise NotFound(f"no run {run_id!r}")
        if tx.execute("SELECT 1 FROM media WHERE run_id = ? AND key = ? AND step = ? "
                      "AND path = ?", (run_id, key, step, rel)).fetchone() is None:
            write_atomic(run_folder(store, run_id) / rel, data)
        return store.add_media(run_id, key=key, step=step, path=rel, caption=caption,
                               width=None if size is None else size[0],
                               height=None if size is None else size[1], size=len(data))


def decode_data(value: Any) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput("media 'data' is the file's bytes in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("media 'data' is not valid base64") from None


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
    key: Annotated[str, Query(min_length=1, max_length=128)],
    step: Annotated[int, Query(ge=INT64_MIN, le=INT64_MAX)],
    filename: Annotated[str, Query(min_length=1, max_length=100)],
    caption: Annotated[str | None, Query(max_length=10_000)] = None,
) -> Response:
    data = await request.body()
    media, created = await run_in_threadpool(
        lambda: save_media(store, run_id, key=key, step=step, filename=filename, data=data,
                           caption=caption))
    return json_response({"media": media_out(media), "created": created},
                         status_code=201 if created else 200)


@router.get(
    "/media/{media_id}/file",
    response_class=Response,
    responses={200: {"content": {t: {} for t in sorted(set(IMAGE_TYPES.values()))},
                     "description": "the image file"}},
    summary="The media file, with its content type",
)
async def media_file(media_id: int, store: StoreDep) -> Response:
    def find() -> tuple[Path, str]:
        if not 1 <= media_id <= INT64_MAX:
            raise NotFound(f"no media {media_id}")
        m = store.get_media(media_id)
        root = run_folder(store, m.run_id).resolve()
        path = (root / m.path).resolve()
        if os.path.commonpath([str(path), str(root)]) != str(root) or path == root:
            raise NotFound(f"media {media_id}: its file is outside the run's folder")
        if not path.is_file():
            raise NotFound(f"media {media_id}: its file {m.path} is missing")
        ctype = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return path, ctype

    path, ctype = await run_in_threadpool(find)
    return FileResponse(path, media_type=ctype,
                        headers={"cache-control": "private, max-age=86400",
                                 "x-content-type-options": "nosniff"})
