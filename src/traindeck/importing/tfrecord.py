"""TFRecord framing, as TensorBoard's event files use it, read and written fast.

A file is a sequence of records, each::

    uint64 length (little endian) | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)

Reading (:func:`scan`) walks the headers in Python (one ``unpack`` per record) and then
checks every length's CRC at once (a garbled header stops the read there: what follows
cannot be framed); a record cut short at the end of the buffer (a file still being
written) is left for the next read, so :attr:`Records.end` is where a later read of the
grown file goes on. The data CRCs are checked too; a record whose data is corrupt is
marked (``ok``) and counted, and readers skip it.

CRC-32C has no fast implementation in the standard library, so the CRCs of many records
are computed at once with numpy: records of one length form a matrix, and one table lookup
per byte position runs down a whole column, so the cost is (record length) numpy
operations per block of records instead of one Python step per byte. Event records are
short (tens of bytes) and of few lengths, which makes this fast; long records (images)
are few and done one at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

_LENGTH: Final = struct.Struct("<Q")
_U32: Final = struct.Struct("<I")
_MASK_DELTA: Final = 0xA282EAD8
#: Records longer than this get their CRC one by one (a vectorised pass would pad every
#: record of its block to their length).
_SHORT: Final = 512
#: Records whose CRCs one vectorised pass computes.
_BLOCK: Final = 1 << 16


def _table() -> npt.NDArray[np.uint32]:
    poly = 0x82F63B78
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table[i] = c
    return table


_TABLE: Final = _table()
_TABLE_LIST: Final = _TABLE.tolist()


def _mask(crc: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    rot = (crc >> np.uint32(15)) | (crc << np.uint32(17))
    return (rot + np.uint32(_MASK_DELTA)).astype(np.uint32)


def _crc_one(data: bytes | memoryview) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE_LIST
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc_at(buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64],
           lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
    """The masked CRC-32C of each ``buf[start:start + length]``."""
    out = np.empty(len(starts), dtype=np.uint32)
    if not len(starts):
        return out
    long = np.flatnonzero(lengths > _SHORT)
    for i in long.tolist():
        s = int(starts[i])
        out[i] = _crc_one(buf[s:s + int(lengths[i])].tobytes())
    short = np.flatnonzero(lengths <= _SHORT)
    if not len(short):
        return _mask(out)
    by_len = np.argsort(lengths[short], kind="stable")
    short = short[by_len]
    lens = lengths[short]
    cuts = np.flatnonzero(np.diff(lens)) + 1
    for group in np.split(short, cuts):
        width = int(lengths[group[0]])
        cols = np.arange(width, dtype=np.int64)
        for lo in range(0, len(group), _BLOCK):
            idx = group[lo:lo + _BLOCK]
            grid = buf[starts[idx][:, None] + cols]
            crc = np.full(len(idx), 0xFFFFFFFF, dtype=np.uint32)
            for j in range(width):
                crc = _TABLE[(crc ^ grid[:, j]) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
            out[idx] = crc ^ np.uint32(0xFFFFFFFF)
    return _mask(out)


def masked_crc32c(records: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """The masked CRC-32C (as TFRecord stores it) of each record."""
    lengths = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
    starts = np.cumsum(lengths) - lengths
    return crc_at(np.frombuffer(b"".join(records) or b"\0", dtype=np.uint8), starts, lengths)


def frame(records: Sequence[bytes]) -> bytes:
    """``records`` framed as TFRecords (what an event file holds)."""
    if not records:
        return b""
    lengths = [len(r).to_bytes(8, "little") for r in records]
    len_crc = masked_crc32c(lengths).tolist()
    data_crc = masked_crc32c(records).tolist()
    u32 = _U32.pack
    parts: list[bytes] = []
    for head, lc, rec, dc in zip(lengths, len_crc, records, data_crc, strict=True):
        parts += (head, u32(lc), rec, u32(dc))
    return b"".join(parts)


@dataclass(slots=True)
class Records:
    """The whole records found in a buffer, as offsets into it."""

    #: The buffer, as bytes.
    buf: npt.NDArray[np.uint8]
    #: Where each record's data starts, and its length.
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    #: Whether each record's data passed its CRC.
    ok: npt.NDArray[np.bool_]
    #: The offset after the last whole record: where a read of the grown file goes on.
    end: int
    #: A header failed its CRC: nothing after ``end`` can be read.
    torn: bool

    @property
    def corrupt(self) -> int:
        return int(len(self.ok) - int(self.ok.sum()))

    def data(self, i: int) -> bytes:
        s = int(self.starts[i])
        return self.buf[s:s + int(self.lengths[i])].tobytes()


def scan(data: bytes, start: int = 0) -> Records:
    """The whole records of ``data`` from ``start`` on, their CRCs checked."""
    size = len(data)
    unpack = _LENGTH.unpack_from
    pos = start
    heads: list[int] = []
    append = heads.append
    while pos + 16 <= size:
        end = pos + 16 + unpack(data, pos)[0]
        if end > size:
            break  # cut short: the writer is still at it
        append(pos)
        pos = end
    buf = np.frombuffer(data, dtype=np.uint8) if size else np.zeros(1, np.uint8)
    cut_torn = pos + 12 <= size and _U32.unpack_from(data, pos + 8)[0] != int(
        masked_crc32c([data[pos:pos + 8]])[0])  # a garbled length, not a short record
    offs = np.asarray(heads, dtype=np.int64)
    eight = np.arange(8, dtype=np.int64)
    four = np.arange(4, dtype=np.int64)
    lengths = np.ascontiguousarray(buf[offs[:, None] + eight]).view("<u8").ravel() \
        .astype(np.int64) if len(offs) else np.zeros(0, np.int64)
    stored = np.ascontiguousarray(buf[offs[:, None] + 8 + four]).view("<u4").ravel() \
        if len(offs) else np.zeros(0, np.uint32)
    good = crc_at(buf, offs, np.full(len(offs), 8, dtype=np.int64)) == stored
    torn = not bool(good.all())
    if not torn and cut_torn:
        torn = True
    elif torn:
        first_bad = int(np.argmin(good))
        offs, lengths = offs[:first_bad], lengths[:first_bad]
        pos = int(offs[-1] + 16 + lengths[-1]) if first_bad else start
    starts = offs + 12
    stored = np.ascontiguousarray(buf[(starts + lengths)[:, None] + four]).view("<u4").ravel() \
        if len(offs) else np.zeros(0, np.uint32)
    ok = crc_at(buf, starts, lengths) == stored
    return Records(buf, starts, lengths, ok, pos, torn)
