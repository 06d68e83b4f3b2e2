"""``/api/runs/{id}/artifacts``: every file of a run's folder, listed, downloaded, uploaded.

Paths are relative to the run's folder (``RunFiles.run_dir``, POSIX separators), so the
listing shows what ``run.log_artifact`` left under ``artifacts/`` and also the run's
checkpoints, media and console files; the remote SDK's spool (``spool/``) is never listed
or served.

A path is refused with 422 when it is empty, absolute, has a ``.`` or ``..`` component, an
empty component, a backslash or a NUL byte; with 404 when nothing is there. Symbolic links
are never listed and never followed out of the run's folder: a download whose real path
(links resolved) leaves the run's folder (or enters ``spool/``) is refused with 403, and the
checked real path is opened without following links on the way (``files.py``), so a link
swapped in after the check is refused too. A folder downloads as an uncompressed tar
(links left out, ``foldertar.py``); a file streams with one byte range on request.

Uploads (``POST /api/runs/{id}/artifacts?path=artifacts/…``, the remote SDK's
``log_artifact``) go under ``artifacts/`` only, at most :data:`MAX_ARTIFACT_BYTES` each;
each folder on the way is created or opened without following links, and the file is
written under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from traindeck.runfiles import ARTIFACTS, PRIVATE, RunFiles, is_inside
from traindeck.store import Conflict, InvalidInput, NotFound, Store

from ..deps import FilesDep, StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES, UNAVAILABLE_RESPONSE
from ..files import ServedFiles, ServedFilesDep
from ..foldertar import MAX_DEPTH as FOLDER_MAX_DEPTH
from ..schemas import ErrorBody, _Out
from .checkpoints import folder_as_tar, send_file

#: Largest artifact file one upload may carry (bytes).
MAX_ARTIFACT_BYTES: Final = 8 * 1024**3
#: Most entries one listing returns (a run folder with more is cut).
MAX_LISTED: Final = 100_000
#: Most parts a path may have; a listing does not walk below this depth (nor does a
#: folder's tar: ``foldertar.MAX_DEPTH``).
MAX_DEPTH: Final = FOLDER_MAX_DEPTH
_DIR_FLAGS: Final = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
_NEW_FILE: Final = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                    | getattr(os, "O_CLOEXEC", 0))

class ArtifactFile(_Out):
    path: str = Field(description="relative to the run's folder, '/' between folders")
    size: int = Field(description="bytes; 0 for a folder")
    mtime: float = Field(description="last modified, Unix seconds")
    dir: bool


class ArtifactList(_Out):
    files: list[ArtifactFile]


class ArtifactStored(_Out):
    path: str
    size: int


router = APIRouter(prefix="/api", tags=["artifacts"], responses={
    **ERROR_RESPONSES, **UNAVAILABLE_RESPONSE,
    403: {"model": ErrorBody, "description": "the path leaves the run's folder (a link)"},
})

__all__ = ["MAX_ARTIFACT_BYTES", "ArtifactFile", "ArtifactList", "ArtifactStored", "check_path",
           "list_files", "router"]


def check_path(path: str) -> tuple[str, ...]:
    """The components of a path relative to a run's folder; ``InvalidInput`` (422) when
    it is empty, absolute, or has ``.``/``..``/empty components, a backslash or a NUL."""
    if "\x00" in path:
        raise InvalidInput("an artifact path has no NUL bytes")
    if not path or path.startswith("/"):
        raise InvalidInput(f"an artifact path is relative to the run's folder, got {path!r:.200}")
    if "\\" in path:
        raise InvalidInput(f"an artifact path uses '/' between folders, got {path!r:.200}")
    parts = tuple(path.split("/"))
    if len(parts) > MAX_DEPTH:
        raise InvalidInput(f"an artifact path has at most {MAX_DEPTH} parts")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"an artifact path has no '.', '..' or empty parts, got {path!r:.200}")
    if parts[0] in PRIVATE:
        raise HTTPException(403, f"{parts[0]}/ is not served: the SDK's spool, or the "
                                 "launcher's raw console and working files (the console is "
                                 "served redacted at /api/runs/{id}/logs)")
    return parts


def _run_folder(store: Store, files: RunFiles, run_id: str) -> Path:
    store.get_run(run_id)  # NotFound: 404
    return files.run_dir(run_id)


def list_files(run_dir: Path) -> list[dict[str, Any]]:
    """Every folder and regular file below ``run_dir`` (links and the spool left out),
    sorted by path, at most :data:`MAX_DEPTH` deep; the walk goes by descriptor, never
    through a link."""
    out: list[dict[str, Any]] = []
    try:
        top = os.open(run_dir, _DIR_FLAGS)
    except OSError:
        return out  # no folder (yet): nothing to list

    def walk(fd: int, prefix: str, depth: int) -> None:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if len(out) >= MAX_LISTED:
                return
            if not prefix and entry.name in PRIVATE:
                continue
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                continue  # not UTF-8 on disk: no path a client could send back
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            rel = f"{prefix}{entry.name}"
            if stat.S_ISREG(st.st_mode):
                out.append({"path": rel, "size": st.st_size, "mtime": st.st_mtime,
                            "dir": False})
            elif stat.S_ISDIR(st.st_mode):
                out.append({"path": rel, "size": 0, "mtime": st.st_mtime, "dir": True})
                if depth >= MAX_DEPTH:
                    continue
                try:
                    sub = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # gone, or swapped for a link since it was listed
                try:
                    walk(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)

    try:
        walk(top, "", 1)
    finally:
        os.close(top)
    return out


@router.get("/runs/{run_id}/artifacts", response_model=ArtifactList,
            summary="Every file and folder in the run's folder (links and the SDK's spool "
                    "left out)")
def list_artifacts(run_id: str, store: StoreDep, files: FilesDep) -> Response:
    folder = _run_folder(store, files, run_id)
    return json_response({"files": list_files(folder)})


def _open_checked(served: ServedFiles, run_dir: Path, parts: tuple[str, ...]) -> Any:
    path = run_dir.joinpath(*parts)
    if not os.path.lexists(path):
        raise NotFound(f"no file {'/'.join(parts)!r} in the run's folder")
    real_run = Path(os.path.realpath(run_dir))
    real = os.path.realpath(path)
    if not is_inside(path, real_run) or any(
            is_inside(real, real_run / name) or real == str(real_run / name)
            for name in PRIVATE):
        raise HTTPException(403, f"{'/'.join(parts)} is a link that leads out of the run's "
                                 "folder; it is not served")
    return served.open(path)  # the checked real path, opened without following links


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}, "application/x-tar": {}},
              "description": "the whole file; a folder as a tar"},
        206: {"content": {"application/octet-stream": {}}, "description": "a byte range"},
        416: {"model": ErrorBody, "description": "range not satisfiable"},
    },
    summary="A file of the run's folder, streamed (one byte range with Range: bytes=…); "
            "a folder as a tar",
)
def download_artifact(
    run_id: str,
    path: str,
    store: StoreDep,
    files: FilesDep,
    served: ServedFilesDep,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    parts = check_path(path)
    run_dir = _run_folder(store, files, run_id)
    opened = _open_checked(served, run_dir, parts)
    if opened.is_dir:
        return folder_as_tar(opened)
    return send_file(opened, parts[-1], range)


# -- upload ------------------------------------------------------------------------------


def _open_folder(run_dir: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder ``parts`` names below ``run_dir``, each component made
    when missing and opened without following a link (403 when one is a link)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, _DIR_FLAGS)
    try:
        for name in parts:
            try:
                os.mkdir(name, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise Conflict(f"cannot make the folder {name!r:.200}: "
                               f"{exc.strerror or exc}") from None
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                raise HTTPException(403, f"{name!r:.200} on the way is a link or not a "
                                         "folder; nothing was written") from None
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@router.post(
    "/runs/{run_id}/artifacts",
    status_code=201,
    response_model=ArtifactStored,
    responses={**CONFLICT_RESPONSE},
    summary="Upload one artifact file (raw body) to a path under artifacts/; replaces it",
)
async def upload_artifact(
    run_id: str,
    request: Request,
    store: StoreDep,
    files: FilesDep,
    path: Annotated[str, Query(min_length=1, max_length=4096)],
) -> Response:
    parts = check_path(path)
    if parts[0] != ARTIFACTS or len(parts) < 2:
        raise InvalidInput(f"uploads go under {ARTIFACTS}/ (got {path!r:.200})")
    run_dir = await run_in_threadpool(_run_folder, store, files, run_id)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_ARTIFACT_BYTES:
        raise HTTPException(413, f"an artifact file is at most {MAX_ARTIFACT_BYTES} bytes")
    folder = await run_in_threadpool(_open_folder, run_dir, parts[:-1])
    tmp = f".{parts[-1][:100]}.{uuid.uuid4().hex[:12]}.part"
    size = 0
    try:
        try:
            out = await run_in_threadpool(os.open, tmp, _NEW_FILE, 0o644, dir_fd=folder)
        except OSError as exc:
            raise Conflict(f"could not store {path!r:.200}: {exc.strerror or exc}") from None
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_ARTIFACT_BYTES:
                    raise HTTPException(413, f"an artifact file is at most "
                                             f"{MAX_ARTIFACT_BYTES} bytes")
                if chunk:
                    await run_in_threadpool(_write_all, out, chunk)
            await run_in_threadpool(os.fsync, out)
        finally:
            os.close(out)
        try:
            await run_in_threadpool(os.replace, tmp, parts[-1], src_dir_fd=folder,
                                    dst_dir_fd=folder)
        except IsADirectoryError:
            raise Conflict(f"{path} is a folder; an upload replaces files only") from None
        except OSError as exc:
            raise Conflict(f"could not store {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        os.close(folder)
    return json_response({"path": "/".join(parts), "size": size}, status_code=201)
