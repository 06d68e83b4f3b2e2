"""A folder checkpoint as an uncompressed tar, streamed, without ever following a link.

The folder is listed first (so the archive's length is known up front): its sub-folders
and regular files, sorted; links and anything else are left out, since a link could point
anywhere. The listing walks the opened folder by descriptor (``scandir`` on a descriptor,
``lstat``-like entries, each sub-folder opened with ``O_NOFOLLOW`` and checked to be the
one listed), never by name from the top.

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

from .files import open_leaf, open_no_links, open_way

CHUNK: Final = 1 << 20
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


class FolderTar:
    """The tar of the folder at ``real`` (a real path, as checked by ``ServedFiles``),
    listed from ``fd``, a descriptor of that folder (not closed here)."""

    def __init__(self, real: Path, fd: int) -> None:
        self.real = real
        self.name = real.name
        self._root = os.fstat(fd)
        self.members: list[Member] = []
        self._walk(fd, self._root, self.name, ())

    def _walk(self, fd: int, st: os.stat_result, name: str, parts: tuple[str, ...]) -> None:
        info = _info(name, st)
        self.members.append(Member(info, _header(info)))
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = entry.stat(follow_symlinks=False)
            child_name, child_parts = f"{name}/{entry.name}", (*parts, entry.name)
            if stat.S_ISDIR(child.st_mode):
                try:
                    sub = os.open(entry.name, _SUBDIR, dir_fd=fd)
                except OSError:
                    continue  # gone or swapped for a link since scandir: left out
                try:
                    if _same(os.fstat(sub), child):
                        self._walk(sub, child, child_name, child_parts)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(child.st_mode):
                info = _info(child_name, child)
                self.members.append(Member(info, _header(info), child_parts,
                                           (child.st_dev, child.st_ino)))

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
