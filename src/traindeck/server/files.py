"""Which recorded files the server may open or delete: only those under its serve roots.

A checkpoint may be recorded anywhere (users keep checkpoints where their framework writes
them), but the server reads or deletes a recorded path only when its real path (``..`` and
every symbolic link resolved) lies inside one of the folders it was told to serve: the data
folder (where run folders live) and the folders named with ``traindeck serve --serve-root
DIR`` (:attr:`Settings.serve_roots`). Anything else is refused with 403 and a message that
says how to allow its folder, so a read token cannot fetch ``/etc/…`` or ``~/.ssh/…``
through a checkpoint row. The store's own files are never served, even inside a root; a
delete never takes a folder that holds the store, the data folder, a serve root, the folder
of all runs or a run's folder itself (409).

Checking a path and then opening it by name would leave a gap: a process that can write in
a run's folder could swap a checked component for a link in between. So the checked real
path is opened one component at a time from ``/`` (``openat``), never following a link
(``O_NOFOLLOW``): a component that has become a link since the check makes the open fail,
and the file opened is the one the check approved. Deletes work the same way (``unlinkat``,
``shutil.rmtree(dir_fd=…)``, which never follows links below the folder either).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Final

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from traindeck.runfiles import RunFiles, is_inside
from traindeck.store import Conflict, NotFound

#: Bytes read from disk per piece of a streamed file.
CHUNK: Final = 1 << 20
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
#: Folders on the way are opened only to look things up in them (Linux: ``O_PATH``, which
#: needs no read permission on them, only search, as opening by name does).
_WAY: Final = getattr(os, "O_PATH", os.O_RDONLY) | _DIRECTORY | _NOFOLLOW | _CLOEXEC
#: Errors that mean "a component is a link (or no longer a folder)".
_LINKED: Final = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


def open_way(parts: Sequence[str], dir_fd: int) -> int:
    """A lookup-only descriptor of the folder ``parts`` names below ``dir_fd``, each
    component opened without following a link (``OSError`` when one is a link)."""
    fd = os.dup(dir_fd)
    try:
        for name in parts:
            nxt = os.open(name, _WAY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_leaf(name: str, dir_fd: int) -> tuple[int, os.stat_result]:
    """Open ``name`` in ``dir_fd`` for reading without following a link, and its status.

    ``O_NONBLOCK`` so that a FIFO cannot hang the server (blocking is set back on for
    files); anything but a regular file or a folder is refused (``OSError``)."""
    fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise OSError(errno.EINVAL, "not a regular file or a folder")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_no_links(real: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open ``real`` (an absolute path without links, as ``os.path.realpath`` gives)
    for reading, one component at a time from the root, never following a link.

    A component that is a link now (swapped in after ``real`` was checked) makes it fail
    with ``OSError`` (``ELOOP`` or ``ENOTDIR``), so the descriptor returned is of the file
    or folder that ``real`` names, without links. The caller closes it."""
    path = Path(real)
    if not path.is_absolute():
        raise ValueError(f"not an absolute path: {real}")
    parts = path.parts[1:]
    if not parts:
        raise OSError(errno.EISDIR, "the root folder", str(real))
    root = os.open(path.anchor, _WAY)
    try:
        way = open_way(parts[:-1], root)
    finally:
        os.close(root)
    try:
        return open_leaf(parts[-1], way)
    finally:
        os.close(way)


def read_chunks(f: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the opened file from ``start``, in pieces; closes it when done
    (a shorter file ends early)."""
    try:
        f.seek(start)
        left = length
        while left > 0:
            data = f.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        f.close()


@dataclass(frozen=True, slots=True)
class Opened:
    """A recorded file the server checked and opened: its descriptor (the caller closes
    it), its real path and its status."""

    fd: int
    real: Path
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)


class ServedFiles:
    """The data folder's layout plus the roots whose files may be served or deleted."""

    def __init__(self, files: RunFiles, extra_roots: Sequence[str | os.PathLike[str]] = (),
                 protected: Callable[[str], bool] = lambda path: False,
                 store_folder: str | os.PathLike[str] | None = None) -> None:
        """``protected``: whether a path is one of the store's own files; ``store_folder``:
        the folder that holds them (for SQLite, the database's), never deleted."""
        self.files = files
        self.roots: tuple[Path, ...] = (files.root, *(Path(r) for r in extra_roots))
        self._protected = protected
        self._store_folder = None if store_folder is None else Path(store_folder)

    def resolve(self, run_id: str, stored: str) -> Path:
        """Where a recorded path is on disk (a relative one is inside the run's folder)."""
        return self.files.resolve(run_id, stored)

    def allowed(self, path: str | os.PathLike[str]) -> Path:
        """The real path of ``path`` when the server may open it; else raises: 403 for a
        path outside every root (or one of the store's own files), ``Conflict`` (409) for
        a path the OS cannot name (a NUL byte, too long)."""
        try:
            real = Path(os.path.realpath(path))
            inside = any(is_inside(real, root) for root in self.roots)
        except (OSError, ValueError) as exc:
            raise Conflict(f"cannot read {str(path)!r}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
        if not inside:
            raise HTTPException(403, self.refusal(path, real))
        if self._protected(str(real)):
            raise HTTPException(403, f"{path} is one of the store's own files; the server "
                                     "never serves or deletes it")
        return real

    def refusal(self, path: str | os.PathLike[str], real: Path) -> str:
        via = "" if str(real) == os.path.abspath(path) else f" (a link to {real})"
        roots = ", ".join(str(r) for r in self.roots)
        return (f"{path}{via} lies outside the folders this server serves ({roots}); to "
                f"allow it, restart the server with: traindeck serve --serve-root "
                f"{real.parent} (or add that folder to TRAINDECK_SERVE_ROOTS)")

    def open(self, path: str | os.PathLike[str]) -> Opened:
        """Check ``path`` (:meth:`allowed`) and open what was checked, links refused on the
        way (:func:`open_no_links`). Raises ``NotFound`` for a missing file, 403 for a path
        outside the roots or one that became a link, ``Conflict`` for anything else the OS
        refuses (a FIFO, no permission, a NUL byte)."""
        real = self.allowed(path)
        try:
            fd, st = open_no_links(real)
        except FileNotFoundError:
            raise NotFound(f"{path} is missing (moved or deleted?)") from None
        except OSError as exc:
            if exc.errno in _LINKED:
                raise HTTPException(403, f"{path} changed into a link while it was being "
                                         "opened; it is not served") from None
            raise Conflict(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        return Opened(fd, real, st)

    def undeletable(self, path: Path, real: Path) -> str | None:
        """``None`` when ``path`` (whose real path ``real`` the roots allowed) may be
        deleted, else why not: a link (never deleted through), or a folder that is or holds
        the store, the data folder, a serve root, the folder of all runs or a run's
        folder."""
        if path.is_symlink():
            return f"{path} is a symbolic link; traindeck does not delete through links"
        runs = Path(os.path.realpath(self.files.runs))
        if real == runs or real.parent == runs:
            return f"{path} is a run's folder (or the folder of all runs); delete the run instead"
        kept = [*self.roots, runs]
        if self._store_folder is not None:
            kept.append(self._store_folder)
        for folder in kept:
            folder_real = Path(os.path.realpath(folder))
            if real == folder_real or folder_real.is_relative_to(real):
                return (f"{path} is or holds {folder_real} (the store, the data folder or a "
                        "serve root); the server never deletes it")
        return None

    def remove(self, path: Path) -> bool:
        """Delete the file or folder ``path`` names, when :meth:`allowed` and not
        :meth:`undeletable` (else 403 / ``Conflict``); whether there was one to delete.
        The parent folder is opened without links (a component that became a link since
        the check refuses the delete) and the entry removed within it; a folder's contents
        are removed without following links."""
        real = self.allowed(path)
        why = self.undeletable(path, real)
        if why is not None:
            raise Conflict(why)
        try:
            parent, _ = open_no_links(real.parent)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise Conflict(f"could not delete {path}: {exc.strerror or exc}") from None
        try:
            try:
                st = os.lstat(real.name, dir_fd=parent)
            except FileNotFoundError:
                return False
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(real.name, dir_fd=parent)
            else:
                os.unlink(real.name, dir_fd=parent)
        except OSError as exc:
            raise Conflict(f"could not delete {path}: {exc.strerror or exc}") from None
        finally:
            os.close(parent)
        return True


def get_served_files(request: Request) -> ServedFiles:
    served: ServedFiles = request.app.state.served_files
    return served


ServedFilesDep = Annotated[ServedFiles, Depends(get_served_files)]
