"""``/api/runs/{id}/checkpoints`` and ``/api/checkpoints/{id}``: list, read, mark best,
download (with ``Range``), verify and delete checkpoints.

A relative checkpoint path is read against the run's folder (``RunFiles``). The file is
opened (downloaded, verified) or deleted only when its real path (``..`` and symbolic links
resolved) lies under one of the server's serve roots (``files.py``: the data folder and
``--serve-root`` folders); any other path is refused with 403 and the row stays. Downloads
stream the file from disk (one byte range on request); a folder checkpoint comes as an
uncompressed tar of its folders and regular files (links left out), without ranges.
What is checked is what is opened or deleted: the checked real path is opened without
following links on the way, so a link swapped in after the check is refused (403), and a
folder is archived and deleted without following links inside it (``files.py``,
``foldertar.py``). Deleting also removes the SDK's sidecar beside the file; a checkpoint that
is itself a link, or a folder that is or holds the store, the data folder, a serve root, the
folder of all runs or a run's folder, is not deleted (409).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Query
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse

from traindeck.checkpoints import sidecar_path, verify
from traindeck.store import Checkpoint, Conflict, NotFound

from ..deps import StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES, error_response
from ..files import Opened, ServedFiles, ServedFilesDep, read_chunks
from ..foldertar import FolderTar
from ..schemas import (
    CheckpointDeleted,
    CheckpointList,
    CheckpointOut,
    CheckpointSort,
    CheckpointVerified,
    ErrorBody,
)

router = APIRouter(prefix="/api", tags=["checkpoints"], responses={
    **ERROR_RESPONSES,
    403: {"model": ErrorBody, "description": "the file lies outside the serve roots"},
})

_RANGE: Final = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.I)


# -- paths -----------------------------------------------------------------------------


def checkpoint_path(served: ServedFiles, ck: Checkpoint) -> Path:
    """Where the checkpoint is: its path, a relative one read against the run's folder."""
    return served.resolve(ck.run_id, ck.path)


def verify_file(ck: Checkpoint) -> tuple[bool, str]:
    """``verify``, with an OS error on an odd path (too long, a NUL) an invalid file too."""
    try:
        return verify(ck)
    except (OSError, ValueError) as exc:
        return False, f"unreadable: {exc}"[:500]


def send_file(opened: Opened, filename: str, range: str | None) -> Response:
    """An opened (checked) regular file as the answer: whole, or the one byte range that
    ``Range: bytes=…`` asks for (206; 416 when outside the file)."""
    f = open(opened.fd, "rb")  # closed by the stream
    size = opened.stat.st_size
    headers = {"accept-ranges": "bytes", "content-disposition": content_disposition(filename)}
    wanted = parse_range(range, size)
    if wanted is False:
        f.close()
        return error_response(416, "range_not_satisfiable",
                              f"range {range!r} is outside the file's {size} bytes",
                              headers={"content-range": f"bytes */{size}", **headers})
    if wanted is None:
        start, length, status = 0, size, 200
    else:
        start, end = wanted
        length, status = end - start + 1, 206
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(length)
    return StreamingResponse(read_chunks(f, start, length), status_code=status,
                             media_type="application/octet-stream", headers=headers)


# -- routes ----------------------------------------------------------------------------


def _out(ck: Checkpoint) -> dict[str, object]:
    return ck.to_dict()


@router.get("/runs/{run_id}/checkpoints", response_model=CheckpointList,
            summary="A run's checkpoints, by step (newest first) unless told otherwise")
def list_checkpoints(
    run_id: str,
    store: StoreDep,
    sort: CheckpointSort = "step",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> Response:
    cks = store.list_checkpoints(run_id, sort=sort, descending=order == "desc", limit=limit)
    return json_response({"run_id": run_id, "checkpoints": [_out(c) for c in cks]})


@router.get("/checkpoints/{checkpoint_id}", response_model=CheckpointOut,
            summary="One checkpoint")
def get_checkpoint(checkpoint_id: str, store: StoreDep) -> Response:
    return json_response(_out(store.get_checkpoint(checkpoint_id)))


@router.post("/checkpoints/{checkpoint_id}/best", response_model=CheckpointOut,
             summary="Mark the run's best checkpoint (one per run)")
def mark_best(checkpoint_id: str, store: StoreDep) -> Response:
    return json_response(_out(store.mark_best(checkpoint_id)))


@router.post("/checkpoints/{checkpoint_id}/verify", response_model=CheckpointVerified,
             summary="Check the file (exists, size, sha256, loads) and record the result")
def verify_checkpoint(checkpoint_id: str, store: StoreDep, served: ServedFilesDep) -> Response:
    ck = store.get_checkpoint(checkpoint_id)
    path = checkpoint_path(served, ck)
    try:
        real = served.allowed(path)
    except Conflict as exc:  # a path the OS cannot name: not a valid file
        valid, reason = False, str(exc)[:500]
    else:
        valid, reason = verify_file(dataclasses.replace(ck, path=str(real)))
    ck = store.set_checkpoint_valid(checkpoint_id, valid, reason or None)
    return json_response({"checkpoint": _out(ck), "valid": valid, "reason": reason})


@router.delete("/checkpoints/{checkpoint_id}", response_model=CheckpointDeleted,
               responses=CONFLICT_RESPONSE,
               summary="Delete the file (under the serve roots), then the row")
def delete_checkpoint(checkpoint_id: str, store: StoreDep, served: ServedFilesDep) -> Response:
    ck = store.get_checkpoint(checkpoint_id)
    path = checkpoint_path(served, ck)
    try:
        exists = os.path.lexists(path)
    except ValueError:  # a NUL in the recorded path: no such file
        exists = False
    # 403 outside the serve roots; 409 for a link, or a folder holding the store, a root or
    # a run's folder; removed through its checked parent folder (files.py)
    file_deleted = exists and served.remove(path)
    sidecar = sidecar_path(path)  # the JSON beside a checkpoint the SDK wrote
    with contextlib.suppress(OSError, ValueError, HTTPException, Conflict):
        if os.path.lexists(sidecar) and not sidecar.is_dir():
            served.remove(sidecar)
    ck = store.delete_checkpoint(checkpoint_id, reason="deleted through the API")
    return json_response({"checkpoint": _out(ck), "file_deleted": file_deleted})


# -- download --------------------------------------------------------------------------


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """The one byte range ``header`` asks for, as ``(start, end)`` inclusive.

    ``None``: serve the whole file (no header, or one this server ignores as RFC 9110
    allows: another unit, several ranges, bad syntax). ``False``: not satisfiable (416).
    """
    if header is None:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        return False
    return start, end


def content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def folder_as_tar(opened: Opened) -> Response:
    """A folder checkpoint as an uncompressed tar, streamed (its length known up front;
    no byte ranges); see ``foldertar.py``."""
    try:
        tar = FolderTar(opened.real, opened.fd)
    except OSError as exc:
        raise Conflict(f"cannot read the folder {opened.real}: {exc.strerror or exc}") from None
    finally:
        os.close(opened.fd)
    headers = {"accept-ranges": "none", "content-length": str(tar.length),
               "content-disposition": content_disposition(tar.name + ".tar")}
    return StreamingResponse(tar.chunks(), media_type="application/x-tar", headers=headers)


@router.get(
    "/checkpoints/{checkpoint_id}/download",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}, "application/x-tar": {}},
              "description": "the whole file; a folder checkpoint as a tar"},
        206: {"content": {"application/octet-stream": {}}, "description": "a byte range"},
        416: {"model": ErrorBody, "description": "range not satisfiable"},
    },
    summary="The checkpoint file, streamed (one byte range with Range: bytes=…); "
            "a folder as a tar",
)
def download_checkpoint(
    checkpoint_id: str,
    store: StoreDep,
    served: ServedFilesDep,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    ck = store.get_checkpoint(checkpoint_id)
    path = checkpoint_path(served, ck)
    try:
        # 403 outside the serve roots (links resolved), or when a component became a link
        # since the check: what is opened is what was checked (files.py)
        opened = served.open(path)
    except NotFound:
        raise NotFound(
            f"checkpoint {checkpoint_id!r} (step {ck.step}): its file {path} is missing "
            "(moved or deleted?)") from None
    if opened.is_dir:
        return folder_as_tar(opened)
    return send_file(opened, path.name, range)
