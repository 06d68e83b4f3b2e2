"""A gzip stream compressed in parallel blocks, as ``pigz`` does it, with the standard library.

One zlib stream runs on one core at ~60 MiB/s at level 1, slower than a fast link, and
spends that time on data that does not compress (images, packed arrays). Here the stream is
cut into fixed blocks, each compressed on a thread pool as its own gzip member (zlib
releases the GIL), and written in order: RFC 1952 lets a .gz file be members one after
another, and ``gzip -d``, ``tar -xz`` and Python's ``gzip`` read it as one stream. A block
whose samples do not compress is stored (level 0) instead, at memory speed.

Deterministic: block boundaries, levels and zlib settings depend only on the bytes written,
never on timing or the number of threads.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

__all__ = ["BLOCK", "ParallelGzip"]

#: Uncompressed bytes per gzip member: large enough that the 32 KiB window loses nothing.
BLOCK = 4 << 20
#: A block is stored when its samples compress to more than this fraction of their size.
STORE_ABOVE = 0.95
_SAMPLE = 16 << 10
_SAMPLES = 4


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _member(block: bytes, level: int) -> bytes:
    """One gzip member of ``block`` (zlib's header: no name, mtime 0)."""
    if level > 0 and len(block) > _SAMPLE * _SAMPLES:
        step = len(block) // _SAMPLES
        sample = b"".join(block[i * step:i * step + _SAMPLE] for i in range(_SAMPLES))
        if len(zlib.compress(sample, level)) > STORE_ABOVE * len(sample):
            level = 0
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(block) + c.flush()


class ParallelGzip:
    """A writable that gzips into ``sink``; ``close()`` writes the last block (the sink
    stays open). At most ``2 * threads`` blocks are held in memory."""

    def __init__(self, sink: _Sink, level: int = 1, *, threads: int | None = None,
                 block: int = BLOCK) -> None:
        self.sink, self.level, self.block = sink, level, block
        self.threads = max(1, threads or min(os.cpu_count() or 1, 8))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="traindeck-gzip")
        self._pending: deque[Future[bytes]] = deque()
        self._buf = bytearray()
        self._closed = False
        self._members = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) >= self.block:
            self._submit(bytes(self._buf[:self.block]))
            del self._buf[:self.block]
        return len(data)

    def _submit(self, block: bytes) -> None:
        self._members += 1
        self._pending.append(self._pool.submit(_member, block, self.level))
        while len(self._pending) > 2 * self.threads:
            self.sink.write(self._pending.popleft().result())

    def close(self) -> None:
        """Compress what is buffered and write every member, in order."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buf or not self._members:  # an empty stream is still one member
                self._submit(bytes(self._buf))
                self._buf.clear()
            while self._pending:
                self.sink.write(self._pending.popleft().result())
        finally:
            self._pool.shutdown(cancel_futures=True)

    def abort(self) -> None:
        """Drop what is pending (after a failure) and stop the threads."""
        self._closed = True
        self._pool.shutdown(cancel_futures=True)
