"""Console capture of a launched process: follows its stdout and stderr files, cuts them
into lines, redacts each stream and stores the lines as the run's console (which the
change feed streams to the dashboard).

The files are the truth: the process writes them at the file-descriptor level whatever
it is, and they outlive a restart of the server. How far each file was stored (its byte
offset) is kept by the caller (the launch row's state), so a new server continues where
the last one stopped. Reading is in bounded chunks and writing in batches, so a process
that prints 100 MB is stored at the store's pace without holding the server up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from traindeck.redact import Redactor

#: Bytes read from one file in one step.
CHUNK: Final = 1 << 20
#: A line longer than this is cut (the store keeps 64 Ki characters of a line).
MAX_LINE_BYTES: Final = 64 * 1024
#: Lines written to the store in one transaction at most.
BATCH_LINES: Final = 20_000

WriteLines = Callable[[Iterable[tuple[float, str, str]]], object]


@dataclass
class StreamTail:
    """One file being followed: where the next unread byte is, and a line begun but not
    yet ended."""

    stream: str
    path: str
    offset: int = 0
    partial: bytes = b""
    redactor: Redactor = field(default_factory=Redactor)

    def read(self, limit: int = CHUNK, final: bool = False) -> list[str]:
        """The complete lines from up to ``limit`` new bytes (all that is left, with the
        unended last line, when ``final``)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(limit)
        except FileNotFoundError:
            data = b""
        self.offset += len(data)
        buf = self.partial + data
        pieces = buf.split(b"\n")
        self.partial = pieces.pop()
        if len(self.partial) > MAX_LINE_BYTES:
            pieces.append(self.partial)
            self.partial = b""
        if final and self.partial and len(data) < limit:
            pieces.append(self.partial)
            self.partial = b""
        out = []
        for raw in pieces:
            for start in range(0, max(len(raw), 1), MAX_LINE_BYTES):
                text = raw[start:start + MAX_LINE_BYTES].decode("utf-8", "replace")
                out.append(self.redactor(text.removesuffix("\r"), self.stream))
        return out

    @property
    def stored_offset(self) -> int:
        """The offset up to which every line was handed out (the partial line is read
        again after a restart)."""
        return self.offset - len(self.partial)


class ConsoleCapture:
    """Follows a launched process's two files into ``write`` (the store's
    ``write_log_lines`` for the run)."""

    def __init__(self, stdout: str, stderr: str, write: WriteLines, *,
                 offsets: Mapping[str, int] | None = None, secrets: Iterable[str] = (),
                 clock: Callable[[], float]) -> None:
        offsets = offsets or {}
        values = list(secrets)
        self.tails = [StreamTail(name, path, int(offsets.get(name, 0)), redactor=Redactor(values))
                      for name, path in (("stdout", stdout), ("stderr", stderr))]
        self._write = write
        self._clock = clock

    def sizes(self) -> dict[str, int]:
        """How long each file is now (0 when it is missing)."""
        out = {}
        for tail in self.tails:
            try:
                out[tail.stream] = os.path.getsize(tail.path)
            except OSError:
                out[tail.stream] = 0
        return out

    def read_up_to(self, sizes: Mapping[str, int]) -> bool:
        """Whether each file has been read at least up to ``sizes``."""
        return all(t.offset >= sizes.get(t.stream, 0) for t in self.tails)

    def offsets(self) -> dict[str, int]:
        return {t.stream: t.stored_offset for t in self.tails}

    def pump(self, budget: int = 8 * CHUNK, final: bool = False) -> int:
        """Store what is new, up to about ``budget`` bytes (everything when ``final``).
        Returns how many lines were stored."""
        total = 0
        for tail in self.tails:
            read = 0
            while final or read < budget:
                before = tail.offset
                lines = tail.read(final=final)
                read += tail.offset - before
                now = self._clock()
                for i in range(0, len(lines), BATCH_LINES):
                    self._write([(now, tail.stream, text) for text in lines[i:i + BATCH_LINES]])
                total += len(lines)
                if tail.offset - before < CHUNK:
                    break
        return total
