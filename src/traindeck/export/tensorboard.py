"""TensorBoard export: each run's series as an event file that TensorBoard reads.

What a TensorBoard user expects is a log directory with one folder per run::

    <out>/<run folder>/events.out.tfevents.<created>.traindeck

``<run folder>`` is the run's name made safe for a folder name, or ``<name>-<run id>`` when
several exported runs share a name. Each point is one event: its step, its wall time
(exact: a double) and a ``simple_value`` under the series' key, as
``torch.utils.tensorboard``'s ``add_scalar`` writes it. ``simple_value`` is a 32-bit float,
so values keep float32 precision (NaN and ±Inf exactly; a finite value beyond float32's
range becomes ±Inf). Buckets are not a TensorBoard notion: this format exports raw points.

The events are encoded here (a handful of protobuf fields, written by hand; framing from
``traindeck.importing.tfrecord``), so exporting needs no TensorBoard install. Two shapes:

* :class:`EventsWriter`: the bytes of one run's event file (``traindeck export --format
  tensorboard`` writes one per run folder);
* :class:`TarWriter`: a tar of the log directory, streamed (``GET
  /api/runs/{id}/export?format=tensorboard``, ``traindeck export … --out x.tar`` or
  ``--out -``). A run's event file is gathered in a spooled temporary file (memory up to
  :data:`SPOOL_MEMORY`, then disk) until its size, which the tar header needs, is known;
  then it is sent in pieces.
"""

from __future__ import annotations

import re
import struct
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import IO, Final

import numpy as np

from traindeck.importing.tfrecord import frame

from .blocks import Block

MEDIA_TYPE: Final = "application/x-tar"
SUFFIX: Final = ".tar"
#: The first event of every event file (TensorBoard checks it).
FILE_VERSION: Final = "brain.Event:2"
#: How much of one run's event file a tar export keeps in memory before spilling to disk.
SPOOL_MEMORY: Final = 16 << 20
#: Bytes sent per piece when a spooled event file goes out.
PIECE: Final = 1 << 20

_D: Final = struct.Struct("<d")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._=+-]+")


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 as protobuf writes it: ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def file_version_event(wall_time: float) -> bytes:
    version = FILE_VERSION.encode()
    return b"\x09" + _D.pack(wall_time) + b"\x1a" + _varint(len(version)) + version


def scalar_events(key: str, steps: list[int], times: bytes, values: bytes) -> list[bytes]:
    """One ``Event{wall_time, step, summary{value{tag, simple_value}}}`` per point;
    ``times`` and ``values`` are the packed little-endian doubles and floats."""
    tag = key.encode()
    value_head = b"\x0a" + _varint(len(tag)) + tag + b"\x15"
    value_len = len(value_head) + 4
    summary_head = b"\x0a" + _varint(value_len) + value_head
    event_tail = b"\x2a" + _varint(len(summary_head) + 4) + summary_head
    out: list[bytes] = []
    append = out.append
    for i, step in enumerate(steps):
        append(b"".join((b"\x09", times[8 * i:8 * i + 8], b"\x10", _varint(step), event_tail,
                         values[4 * i:4 * i + 4])))
    return out


def block_events(block: Block) -> bytes:
    """A block of raw points as framed events."""
    c = block.columns
    with np.errstate(over="ignore"):
        values = c["value"].astype("<f4").tobytes()
    return frame(scalar_events(block.key, c["step"].tolist(),
                               c["time"].astype("<f8").tobytes(), values))


def run_folders(names: Mapping[str, str]) -> dict[str, str]:
    """``{run_id: folder}`` for runs named ``{run_id: name}``: the name made safe, with the
    run id after it where several runs share it."""
    safe = {rid: (_UNSAFE.sub("_", name).strip("._") or "run")[:100]
            for rid, name in names.items()}
    counts: dict[str, int] = {}
    for folder in safe.values():
        counts[folder] = counts.get(folder, 0) + 1
    return {rid: folder if counts[folder] == 1 else f"{folder}-{rid}"
            for rid, folder in safe.items()}


def events_filename(created: float) -> str:
    return f"events.out.tfevents.{int(created)}.traindeck"


class EventsWriter:
    """One run's event file: :meth:`header` (the file version event), :meth:`rows` per
    block, :meth:`close`."""

    def __init__(self, created: float | None = None) -> None:
        self._created = time.time() if created is None else created

    def header(self) -> bytes:
        return frame([file_version_event(self._created)])

    def rows(self, block: Block) -> bytes:
        return block_events(block)

    def close(self) -> bytes:
        return b""


class TarWriter:
    """A tar of ``<folder>/events.out.tfevents.…`` per run, for blocks of several runs
    (in run order, as ``blocks`` yields them)."""

    def __init__(self, folders: Mapping[str, str], created: Mapping[str, float]) -> None:
        self._folders = dict(folders)
        self._created = dict(created)
        self._run: str | None = None
        self._spool: IO[bytes] | None = None
        self._size = 0

    def header(self) -> bytes:
        return b""

    def _open(self, run_id: str) -> None:
        self._run = run_id
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
        self._size = 0
        self._write(frame([file_version_event(self._created[run_id])]))

    def _write(self, data: bytes) -> None:
        assert self._spool is not None
        self._spool.write(data)
        self._size += len(data)

    def _member(self) -> Iterator[bytes]:
        """The tar member of the run gathered so far, in pieces; then none is open."""
        spool, run_id = self._spool, self._run
        if spool is None or run_id is None:
            return
        self._spool = self._run = None
        try:
            info = tarfile.TarInfo(f"{self._folders[run_id]}/"
                                   f"{events_filename(self._created[run_id])}")
            info.size = self._size
            info.mtime = int(self._created[run_id])
            info.mode = 0o644
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            spool.seek(0)
            while piece := spool.read(PIECE):
                yield piece
            pad = -self._size % tarfile.BLOCKSIZE
            if pad:
                yield b"\0" * pad
        finally:
            spool.close()

    def rows(self, block: Block) -> Iterator[bytes]:
        if block.run_id != self._run:
            yield from self._member()
            self._open(block.run_id)
        self._write(block_events(block))

    def close(self) -> Iterator[bytes]:
        yield from self._member()
        yield b"\0" * (2 * tarfile.BLOCKSIZE)  # the end of the archive


__all__ = ["MEDIA_TYPE", "SUFFIX", "EventsWriter", "TarWriter", "block_events",
           "events_filename", "run_folders"]
