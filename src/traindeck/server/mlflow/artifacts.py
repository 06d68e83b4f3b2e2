"""``/api/2.0/mlflow-artifacts/…``: MLflow's artifacts service, over each run's
``artifacts/`` folder.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run id>/artifacts``; the
``mlflow`` client turns it into ``/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run
id>/artifacts/<path>`` and calls:

- ``PUT …/<path>``: upload one file (the raw body; ``log_artifact``, ``log_artifacts``,
  ``log_text``, ``log_dict``, ``log_figure``, a model's files), written under a temporary
  name and renamed into place, at most ``Settings.max_artifact_bytes`` (413
  ``REQUEST_LIMIT_EXCEEDED`` past it);
- ``GET …/<path>``: download one file;
- ``GET /api/2.0/mlflow-artifacts/artifacts?path=…``: list one folder (names, sizes);
- ``DELETE …/<path>``: delete a file or a folder (nothing there: nothing to do, as MLflow).

The files land in ``RunFiles.artifacts(run id)``, where ``GET /api/runs/{id}/artifacts``
and the dashboard show them. The experiment part of the path is not checked against the
run's project (a run moved to another project keeps its URIs). Paths with ``.``, ``..`` or
empty parts, backslashes or NUL bytes are refused (400); every folder on the way is
opened by descriptor without following links (403 ``PERMISSION_DENIED`` for a link), so
nothing is read or written outside the run's folder. Multipart uploads and presigned
downloads are not offered: the client asks ``/api/3.0/mlflow/server-info``, gets no
answer naming them, and sends every file in one PUT.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import uuid
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.runfiles import RunFiles
from traindeck.store import NotFound, Store, StoreError

from ..deps import FilesDep, SettingsDep, StoreDep, json_response
from ..files import Opened, open_leaf, open_way
from ..limits import DRAIN_MAX
from ..routers.artifacts import MAX_DEPTH, MAX_LISTED
from ..routers.checkpoints import send_file
from . import openapi as oa
from .errors import ERROR_RESPONSES, ERROR_SCHEMA, MlflowError, from_store_error, invalid, respond

PREFIX: Final = "/api/2.0/mlflow-artifacts"
#: The folder of a run that MLflow's artifact URI names.
ROOT: Final = "artifacts"
_DIR_FLAGS: Final = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
_NEW_FILE: Final = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                    | getattr(os, "O_CLOEXEC", 0))
#: An upload's temporary name (never listed).
_PART: Final = re.compile(r"^\..*\.[0-9a-f]{12}\.part$")
_LINKED: Final = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)

#: ``FileInfo``: a name in the listed folder; ``file_size`` for files only.
FILE_INFOS: Final[dict[str, Any]] = {"type": "array", "items": oa.obj(
    ["path", "is_dir"], path=oa.STR, is_dir={"type": "boolean"},
    file_size={"type": "integer", "minimum": 0})}

#: A path no route matches (one with a line break, which no path parameter takes) is the
#: server's plain 404 (``{"error": {code, message}}``); any other 404 is MLflow's.
_NOT_FOUND: Final[dict[str, Any]] = {
    "description": "RESOURCE_DOES_NOT_EXIST: unknown run or file (a path with a line break "
                   "matches no route: the server's own 404)",
    "content": {"application/json": {"schema": {"anyOf": [ERROR_SCHEMA, {
        "type": "object", "required": ["error"], "properties": {"error": oa.obj(
            ["code", "message"], code=oa.STR, message=oa.STR)}}]}}}}

router = APIRouter(prefix=PREFIX, tags=["mlflow"],
                   responses={**ERROR_RESPONSES, 404: _NOT_FOUND})


def split(path: str | None) -> tuple[str, tuple[str, ...]] | None:
    """``<experiment>/<run id>/artifacts[/…]`` as the run id and the parts below
    ``artifacts/``; ``None`` for a path above a run's artifacts (the root, an
    experiment). Bad paths raise ``INVALID_PARAMETER_VALUE``."""
    text = (path or "").strip("/")
    if "\x00" in text:
        raise invalid("an artifact path has no NUL bytes")
    if "\\" in text:
        raise invalid(f"an artifact path uses '/' between folders, got {text!r:.200}")
    if not text:
        return None
    parts = tuple(text.split("/"))
    if any(p in ("", ".", "..") for p in parts):
        raise invalid(f"Invalid path {text!r:.200}: no '.', '..' or empty parts")
    if len(parts) > MAX_DEPTH:
        raise invalid(f"an artifact path has at most {MAX_DEPTH} parts")
    if not (parts[0].isascii() and parts[0].isdigit()):
        raise invalid(f"Invalid path {text!r:.200}: traindeck serves a run's artifacts at "
                      "<experiment id>/<run id>/artifacts/<path> (the run's artifact_uri)")
    if len(parts) < 3:
        return None
    if parts[2] != ROOT:
        raise invalid(f"Invalid path {text!r:.200}: a run's artifacts are under "
                      f"<experiment id>/<run id>/{ROOT}/")
    return parts[1], parts[3:]


def _target(store: Store, path: str | None) -> tuple[str, tuple[str, ...]]:
    where = split(path)
    if where is None:
        raise invalid(f"{path!r:.200} is not a file of a run: traindeck keeps artifacts in "
                      f"runs, at <experiment id>/<run id>/{ROOT}/<path>")
    try:
        store.get_run(where[0])
    except NotFound:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                          f"Run with id={where[0]!r:.80} not found") from None
    return where


def _os_error(exc: OSError, path: str) -> MlflowError:
    if isinstance(exc, FileNotFoundError):
        return MlflowError("RESOURCE_DOES_NOT_EXIST", f"no artifact {path!r:.200}")
    if exc.errno in _LINKED:
        return MlflowError("PERMISSION_DENIED", f"{path!r:.200} goes through a link or a "
                                                "file; traindeck does not follow it")
    if exc.errno == errno.ENAMETOOLONG:
        return invalid(f"a part of {path!r:.200} is too long a name")
    return MlflowError("INVALID_STATE", f"{path!r:.200}: {exc.strerror or exc}")


def _open_root(files: RunFiles, run_id: str, *, make: bool) -> int | None:
    """A descriptor of the run's artifacts folder (``None``: there is none)."""
    run_dir = files.run_dir(run_id)
    if make:
        run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(files.artifacts(run_id))
    try:
        return os.open(files.artifacts(run_id), _DIR_FLAGS)
    except FileNotFoundError:
        return None


# -- listing ---------------------------------------------------------------------------


def list_folder(files: RunFiles, run_id: str, parts: tuple[str, ...]) -> list[dict[str, Any]]:
    """The files and folders directly in one folder (links and uploads under way left
    out); nothing for a missing folder or a file, as MLflow answers."""
    root = _open_root(files, run_id, make=False)
    if root is None:
        return []
    try:
        way = open_way(parts[:-1], root) if parts else os.dup(root)
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=way) if parts else os.dup(way)
        finally:
            os.close(way)
    except OSError:
        return []  # missing, a file, or a link
    finally:
        os.close(root)
    out: list[dict[str, Any]] = []
    try:
        with os.scandir(fd) as it:
            for entry in sorted(it, key=lambda e: e.name):
                if len(out) >= MAX_LISTED:
                    break
                if _PART.match(entry.name):
                    continue
                try:
                    entry.name.encode("utf-8")
                    st = entry.stat(follow_symlinks=False)
                except (OSError, UnicodeEncodeError):
                    continue
                if stat.S_ISDIR(st.st_mode):
                    out.append({"path": entry.name, "is_dir": True})
                elif stat.S_ISREG(st.st_mode):
                    out.append({"path": entry.name, "is_dir": False,
                                "file_size": st.st_size})
    finally:
        os.close(fd)
    return out


@router.get("/artifacts", summary="MLflow ListArtifacts (artifacts service): one folder",
            responses=oa.answer(oa.obj([], files=FILE_INFOS), "{files}"))
def mlflow_list_artifacts(store: StoreDep, files: FilesDep,
                          path: str | None = None) -> Response:
    try:
        where = split(path)
        if where is None:
            return json_response({"files": []})
        run_id, parts = _target(store, path)
        return json_response({"files": list_folder(files, run_id, parts)})
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))


# -- download --------------------------------------------------------------------------


def open_file(files: RunFiles, run_id: str, parts: tuple[str, ...], path: str) -> Opened:
    if not parts:
        raise invalid(f"{path!r:.200} is the run's artifacts folder; download its files")
    root = _open_root(files, run_id, make=False)
    if root is None:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"no artifact {path!r:.200}")
    try:
        way = open_way(parts[:-1], root)
        try:
            fd, st = open_leaf(parts[-1], way)
        finally:
            os.close(way)
    except OSError as exc:
        raise _os_error(exc, path) from None
    finally:
        os.close(root)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise invalid(f"{path!r:.200} is a folder; list it, and download its files")
    return Opened(fd, files.artifacts(run_id).joinpath(*parts), st)


@router.get("/artifacts/{artifact_path:path}", response_class=Response,
            summary="MLflow DownloadArtifact (artifacts service): one file",
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "the file"}})
def mlflow_download_artifact(artifact_path: str, store: StoreDep, files: FilesDep,
                             range: Annotated[str | None, Header()] = None) -> Response:
    try:
        run_id, parts = _target(store, artifact_path)
        opened = open_file(files, run_id, parts, artifact_path)
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))
    return send_file(opened, parts[-1], range)


# -- upload ----------------------------------------------------------------------------


def make_folder(files: RunFiles, run_id: str, parts: tuple[str, ...], path: str) -> int:
    """A descriptor of the folder ``parts`` below the run's artifacts, each part made when
    missing and opened without following a link."""
    fd = _open_root(files, run_id, make=True)
    assert fd is not None
    try:
        for name in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as exc:
        os.close(fd)
        raise _os_error(exc, path) from None
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _place(folder: int, tmp: str, name: str, path: str) -> None:
    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            raise invalid(f"{path!r:.200} is a folder; an upload replaces files only")
    except FileNotFoundError:
        pass
    try:
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        raise _os_error(exc, path) from None


async def _drain(stream: Any) -> None:
    """Read and drop the rest of a refused body (up to ``DRAIN_MAX``), so that the client
    reads the 413 instead of a reset connection."""
    drained = 0
    with contextlib.suppress(Exception):
        async for chunk in stream:
            drained += len(chunk)
            if drained > DRAIN_MAX:
                return


async def _store_body(request: Request, folder: int, tmp: str, limit: int) -> int:
    """The body, streamed into ``tmp`` in ``folder``; its size."""
    try:
        out = await run_in_threadpool(os.open, tmp, _NEW_FILE, 0o644, dir_fd=folder)
    except OSError as exc:
        raise _os_error(exc, tmp) from None
    size = 0
    stream = request.stream()
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                await _drain(stream)
                raise MlflowError("REQUEST_LIMIT_EXCEEDED",
                                  f"an artifact file is at most {limit} bytes")
            if chunk:
                await run_in_threadpool(_write_all, out, chunk)
        await run_in_threadpool(os.fsync, out)
    finally:
        os.close(out)
    return size


@router.put("/artifacts/{artifact_path:path}",
            summary="MLflow UploadArtifact (artifacts service): one file, the raw body",
            openapi_extra={"requestBody": {"required": False, "content": {
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}}},
            responses={**oa.answer(oa.EMPTY, "{}"),
                       413: {"description": "REQUEST_LIMIT_EXCEEDED: the file is over "
                                            "the server's max_artifact_bytes",
                             "content": {"application/json": {"schema": ERROR_SCHEMA}}}})
async def mlflow_upload_artifact(artifact_path: str, request: Request, store: StoreDep,
                                 files: FilesDep, settings: SettingsDep) -> Response:
    limit = settings.max_artifact_bytes
    try:
        run_id, parts = await run_in_threadpool(_target, store, artifact_path)
        if not parts:
            raise invalid(f"{artifact_path!r:.200} is the run's artifacts folder; name a "
                          "file in it")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _drain(request.stream())
            raise MlflowError("REQUEST_LIMIT_EXCEEDED",
                              f"an artifact file is at most {limit} bytes")
        folder = await run_in_threadpool(make_folder, files, run_id, parts[:-1],
                                         artifact_path)
        tmp = f".{parts[-1][:100]}.{uuid.uuid4().hex[:12]}.part"
        try:
            await _store_body(request, folder, tmp, limit)
            await run_in_threadpool(_place, folder, tmp, parts[-1], artifact_path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            os.close(folder)
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))
    return json_response({})


# -- delete ----------------------------------------------------------------------------


def delete(files: RunFiles, run_id: str, parts: tuple[str, ...], path: str) -> None:
    """Delete a file or a folder (below it, links are removed, never followed)."""
    if not parts:
        parent_parts: tuple[str, ...] = ()
        base: Path = files.run_dir(run_id)
        name = ROOT
    else:
        parent_parts, name, base = parts[:-1], parts[-1], files.artifacts(run_id)
    try:
        top = os.open(base, _DIR_FLAGS)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error(exc, path) from None
    try:
        parent = open_way(parent_parts, top)
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=parent)
            else:
                os.unlink(name, dir_fd=parent)
        finally:
            os.close(parent)
    except FileNotFoundError:
        return  # nothing there: nothing to delete (as MLflow)
    except OSError as exc:
        raise _os_error(exc, path) from None
    finally:
        os.close(top)


@router.delete("/artifacts/{artifact_path:path}",
               summary="MLflow DeleteArtifact (artifacts service): a file or a folder",
               responses=oa.answer(oa.EMPTY, "{}"))
def mlflow_delete_artifact(artifact_path: str, store: StoreDep, files: FilesDep) -> Response:
    try:
        run_id, parts = _target(store, artifact_path)
        delete(files, run_id, parts, artifact_path)
    except MlflowError as exc:
        return respond(exc)
    except StoreError as exc:
        return respond(from_store_error(exc))
    return json_response({})


@router.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def mlflow_artifacts_unknown(path: str, request: Request) -> Response:
    return respond(MlflowError(
        "ENDPOINT_NOT_FOUND",
        f"traindeck does not implement MLflow's {request.method} {PREFIX}/{path:.200} "
        "(multipart uploads and presigned downloads are not offered; see "
        "docs/integrations.md, MLflow tracking API)"))
