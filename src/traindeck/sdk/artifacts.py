"""Artifacts for ``run.log_artifact``: checks in the training thread, the copy later.

``log_artifact(path, name)`` checks that ``path`` exists and that ``name`` is a safe
relative path, and returns at once with the stored path (``artifacts/<name>``, relative to
the run's folder). The copy happens on the run's background thread, in order with
everything else: a file or folder is copied under a temporary name beside its place in
``<run dir>/artifacts/`` and renamed into place (an artifact logged again under the same
name replaces the old one). A remote run then uploads the copy to its server
(``Backend.upload_artifact``); offline, the copy stays in the local run folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

import httpx

from ..runfiles import ARTIFACTS
from .backend import Backend
from .transport import auth_headers

#: Seconds an upload may wait for the server between two pieces.
UPLOAD_TIMEOUT: Final = 120.0
#: Longest artifact name (characters).
NAME_MAX: Final = 1024


def check_name(name: Any) -> str:
    """The name as a POSIX relative path, or ``ValueError`` saying why it cannot name a
    place under ``artifacts/``."""
    if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
        raise ValueError(f"an artifact name is a string of 1 to {NAME_MAX} characters, "
                         f"got {name!r:.80}")
    if "\x00" in name or "\\" in name or name.startswith("/"):
        raise ValueError(f"an artifact name is a relative path with '/' between folders, "
                         f"got {name!r:.80}")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"an artifact name has no '.', '..' or empty parts: {name!r:.80}")
    return name


@dataclass(slots=True)
class PendingArtifact:
    """An artifact ``log_artifact`` accepted, waiting for the background thread."""

    source: Path
    name: str
    copied: list[Path] = field(default_factory=list)  # once: a retried upload copies not again

    @property
    def stored(self) -> str:
        """Its path relative to the run's folder."""
        return PurePosixPath(ARTIFACTS, self.name).as_posix()


def pending_artifact(path: Any, name: Any) -> PendingArtifact:
    """``log_artifact()``'s arguments, checked (``TypeError``/``ValueError``/``OSError``)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"log_artifact takes a path, got {type(path).__name__}")
    source = Path(os.fspath(path))
    if not source.exists():
        raise FileNotFoundError(f"no file or folder {str(source)!r:.200}")
    if not (source.is_file() or source.is_dir()):
        raise ValueError(f"{str(source)!r:.200} is not a regular file or a folder")
    return PendingArtifact(source.absolute(), check_name(source.name if name is None else name))


def copy_atomic(source: Path, dest: Path) -> None:
    """Copy the file or folder ``source`` to ``dest``: written under a temporary name in
    ``dest``'s folder, then renamed into place (an old ``dest`` is replaced)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name[:100]}.{uuid.uuid4().hex[:12]}.part"
    try:
        if source.is_dir():
            shutil.copytree(source, tmp)
        else:
            with open(source, "rb") as src, open(tmp, "xb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            shutil.copystat(source, tmp)
        if dest.is_dir() and not dest.is_symlink():
            old = dest.parent / f".{dest.name[:100]}.{uuid.uuid4().hex[:12]}.old"
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if tmp.is_dir() and os.path.lexists(dest):
                dest.unlink()
            os.replace(tmp, dest)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def files_below(folder: Path) -> list[tuple[str, Path]]:
    """Every regular file below ``folder``: ``(path relative to it, POSIX; path)``, sorted;
    links are not followed."""
    out: list[tuple[str, Path]] = []
    for dirpath, _dirs, names in os.walk(folder):
        for n in names:
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                out.append((p.relative_to(folder).as_posix(), p))
    return sorted(out)


def save_artifact(pending: PendingArtifact, run_dir: Path, backend: Backend) -> None:
    """Copy the artifact into the run's folder (once), then hand it to the backend
    (remote: uploaded). Runs on the background thread; may be retried."""
    if not pending.copied:
        dest = run_dir.joinpath(ARTIFACTS, *pending.name.split("/"))
        copy_atomic(pending.source, dest)
        pending.copied.append(dest)
    backend.upload_artifact(pending.stored, pending.copied[0])


def upload(url: str, token: str | None, run_id: str, path: str, local: Path) -> None:
    """POST the file ``local`` (or every regular file below the folder ``local``) to
    ``/api/runs/{run_id}/artifacts?path=…``. A server that cannot be reached, answers 5xx
    or does not know the run yet (404: its creation travels on the spool) raises
    ``OSError`` (the worker retries); another refusal (4xx) ``ValueError``."""
    items = files_below(local) if local.is_dir() else [("", local)]
    with httpx.Client(headers=auth_headers(token),
                      timeout=httpx.Timeout(UPLOAD_TIMEOUT, connect=5.0)) as client:
        for rel, file in items:
            target = f"{path}/{rel}" if rel else path
            try:
                with open(file, "rb") as f:
                    resp = client.post(f"{url}/api/runs/{run_id}/artifacts",
                                       params={"path": target}, content=f)
            except httpx.HTTPError as exc:
                raise OSError(f"uploading {target}: {exc}") from exc
            if resp.status_code >= 500 or resp.status_code == 404:
                # 404: the run's creation (on the spool) has not reached the server yet
                raise OSError(f"uploading {target}: the server answered {resp.status_code}")
            if resp.status_code >= 400:
                raise ValueError(f"uploading {target}: the server refused it "
                                 f"({resp.status_code}): {resp.text[:300]}")
