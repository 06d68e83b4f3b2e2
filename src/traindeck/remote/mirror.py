"""Copying a growing log file on a host into a local file, by offset.

The launcher stores a launch's console from local files (it follows, redacts and stores
them). A remote launch's output is written to log files on the host; :class:`LogMirror`
appends what is new there to the local file. Nothing else is kept: how much has been copied
is the local file's size, less what it held before this launch started (``base``: a
restarted launch appends to the same local files), so a mirror made again after a dropped
connection or a server restart picks up exactly where the last one stopped: no line twice,
none missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from traindeck.remote.ssh import SSHLink

CHUNK: Final = 1 << 20


class LogMirror:
    def __init__(self, remote: str, local: Path, base: int, *, chunk: int = CHUNK) -> None:
        self.remote, self.local, self.base, self.chunk = remote, local, base, chunk

    def offset(self) -> int:
        """How much of the remote file is here already."""
        try:
            size = self.local.stat().st_size
        except FileNotFoundError:
            size = 0
        return max(0, size - self.base)

    def pump(self, link: SSHLink, budget: int = 64 * CHUNK) -> int:
        """Copy what is new (up to ``budget`` bytes); the bytes copied. A remote file not
        there yet copies nothing; a dropped link raises
        :class:`~traindeck.remote.errors.Disconnected` (nothing half-copied: each chunk is
        appended whole)."""
        copied = 0
        self.local.parent.mkdir(parents=True, exist_ok=True)
        while copied < budget:
            try:
                data = link.read_from(self.remote, self.offset(), self.chunk)
            except FileNotFoundError:
                return copied
            if not data:
                return copied
            with open(self.local, "ab") as out:
                out.write(data)
            copied += len(data)
            if len(data) < self.chunk:
                return copied
        return copied


def drain(mirrors: Sequence[LogMirror], link: SSHLink) -> None:
    """Copy what is left of each log to its end (the process ended: nothing is added)."""
    while any(m.pump(link) for m in mirrors):
        pass
