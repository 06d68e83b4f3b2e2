"""A folder checkpoint as an uncompressed tar, streamed, without ever following a link.

The folder is listed first (so the archive's length is known up front): its sub-folders
and regular files, sorted; links and anything else are left out, since a link could point
anywhere. The listing walks the opened folder by descriptor (``scandir`` on a descriptor,
``lstat``-like entries, each sub-folder opened with ``O_NOFOLLOW`` and checked to be the
one listed), never by name from the top.

A folder more than :data:`MAX_DEPTH` levels deep is refused (``FolderTooDeep``, a 409
naming the limit), as the artifacts listing walks no deeper; the walk keeps its own stack,
so no depth of folders can exhaust Python's.

The files are read later, while the response streams. Each is opened again from the folder
(opened anew, checked to be the folder listed) one component at a time without following
links, and read only when it is still the file listed (same device and inode). A file
that is gone, unreadable or swapped (for a link, say) since the listing is sent as zeros:
the archive keeps the shape its headers announced, and nothing outside the folder is read.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from traindeck.store import Conflict

from .files import open_leaf, open_no_links, open_way

CHUNK: Final = 1 << 20
#: Most levels of folders below the one archived (and most parts of an artifact path).
MAX_DEPTH: Final = 64
_SUBDIR: Final = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                  | getattr(os, "O_CLOEXEC", 0))


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of the archive: its header, and for a file where it is below the folder
    (``parts``) and which file it was when listed (``ident``: device and inode)."""

    info: tarfile.TarInfo
    header: bytes
    parts: tuple[str, ...] = ()
    ident: tuple[int, int] | None = None

    @property
    def padded_size(self) -> int:
        return len(self.header) + self.info.size + (-self.info.size % tarfile.BLOCKSIZE)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(st.st_mtime)
    info.mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class FolderTooDeep(Conflict):
    """The folder has folders more than :data:`MAX_DEPTH` levels down: not archived."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the folder {name!r} is nested more than {MAX_DEPTH} levels deep; "
                         "it cannot be downloaded as a tar")


class FolderTar:
    """The tar of the folder at ``real`` (a real path, as checked by ``ServedFiles``),
    listed from ``fd``, a descriptor of that folder (not closed here)."""

    def __init__(self, real: Path, fd: int) -> None:
        self.real = real
        self.name = real.name
        self._root = os.fstat(fd)
        self.members: list[Member] = []
        self._walk(fd)

    def _walk(self, top: int) -> None:
        """List the folder, depth first in name order, with a stack of open sub-folders
        (closed as it unwinds, and all of them on an error)."""
        info = _info(self.name, self._root)
        self.members.append(Member(info, _header(info)))
        # One frame per open folder: its descriptor (``None``: the caller's), its name in
        # the archive, its parts below the top, and its entries still to visit (reversed).
        stack: list[tuple[int | None, str, tuple[str, ...], list[os.DirEntry[str]]]] = []
        try:
            stack.append((None, self.name, (), self._entries(top)))
            while stack:
                fd, name, parts, todo = stack[-1]
                if not todo:
                    stack.pop()
                    if fd is not None:
                        os.close(fd)
                    continue
                entry = todo.pop()
                child = entry.stat(follow_symlinks=False)
                child_name, child_parts = f"{name}/{entry.name}", (*parts, entry.name)
                if stat.S_ISDIR(child.st_mode):
                    if len(child_parts) > MAX_DEPTH:
                        raise FolderTooDeep(self.name)
                    try:
                        sub = os.open(entry.name, _SUBDIR, dir_fd=top if fd is None else fd)
                    except OSError:
                        continue  # gone or swapped for a link since scandir: left out
                    if not _same(os.fstat(sub), child):
                        os.close(sub)
                        continue
                    info = _info(child_name, child)
                    self.members.append(Member(info, _header(info)))
                    try:
                        entries = self._entries(sub)
                    except BaseException:
                        os.close(sub)
                        raise
                    stack.append((sub, child_name, child_parts, entries))
                elif stat.S_ISREG(child.st_mode):
                    info = _info(child_name, child)
                    self.members.append(Member(info, _header(info), child_parts,
                                               (child.st_dev, child.st_ino)))
        finally:
            for fd, *_ in stack:
                if fd is not None:
                    os.close(fd)

    @staticmethod
    def _entries(fd: int) -> list[os.DirEntry[str]]:
        """The folder's entries, last name first (popped in name order)."""
        with os.scandir(fd) as it:
            return sorted(it, key=lambda e: e.name, reverse=True)

    @property
    def length(self) -> int:
        return sum(m.padded_size for m in self.members) + 2 * tarfile.BLOCKSIZE

    def _open_member(self, root: int, member: Member) -> int | None:
        """The member's file opened below ``root`` without links, when it is still the file
        listed; else ``None``."""
        try:
            way = open_way(member.parts[:-1], root)
            try:
                fd, st = open_leaf(member.parts[-1], way)
            finally:
                os.close(way)
        except OSError:
            return None
        if (st.st_dev, st.st_ino) != member.ident or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return fd

    def chunks(self) -> Iterator[bytes]:
        """The archive, in pieces of at most ``CHUNK`` bytes of file data."""
        root: int | None = None
        with contextlib.suppress(OSError):
            root, st = open_no_links(self.real)
            if not _same(st, self._root):  # another folder there now: read nothing of it
                os.close(root)
                root = None
        try:
            for member in self.members:
                yield member.header
                if member.ident is None:
                    continue
                left = member.info.size
                fd = None if root is None else self._open_member(root, member)
                if fd is not None:
                    with open(fd, "rb") as f:
                        while left > 0:
                            try:
                                data = f.read(min(CHUNK, left))
                            except OSError:
                                break
                            if not data:
                                break
                            left -= len(data)
                            yield data
                while left > 0:  # gone, swapped or shorter: zeros keep the archive's shape
                    n = min(CHUNK, left)
                    left -= n
                    yield bytes(n)
                yield bytes(-member.info.size % tarfile.BLOCKSIZE)
            yield bytes(2 * tarfile.BLOCKSIZE)
        finally:
            if root is not None:
                os.close(root)
