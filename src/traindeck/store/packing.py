"""How a chunk's arrays are laid out in its blobs: raw, or compressed with pcodec.

A chunk row says which with its ``codec`` column (schema migration 14):

- ``RAW`` (0): little-endian ``int64`` steps, ``float64`` times and values, and the
  sub-block units as :data:`rollup.UNIT_DTYPE` records. Open chunks (the few points a
  training loop appends to at every flush) stay raw: they are rewritten often, and small.
- ``PCODEC`` (1): each array compressed on its own with `pcodec`_ (lossless: every float's
  bit pattern comes back, NaN payloads and ±Inf included). The sub-block units go as three
  arrays, their integer fields, their times and their values, each the fields one after
  another (three pcodec frames after a 12-byte header of their lengths): ~0.2-0.4 bytes a
  point, where the records compressed whole took ~1.2 (pcodec finds no structure in ints
  and floats interleaved). Full chunks are written so.

.. _pcodec: https://github.com/pcodec/pcodec

Why pcodec (measured on this project's 2-core machine, a chunk of 4,096 points): it finds the
structure of each array itself (delta orders for steps and wall times, the trailing zero
bits of values that came from float32 tensors, integer-valued floats) and stores a noisy
float32-sourced loss in ~3.1 bytes a value, a cosine learning-rate schedule in ~0.5, wall
times in 0.3-2.1, against 3.3 / 4.3 / 0.8-2.6 for an XOR-with-previous codec (Gorilla's
idea) followed by byte shuffling and zlib. It decodes 4,096 values in ~10 µs (a compiled
extension with wheels for every platform traindeck runs on) and releases the GIL while it
works, so the SDK's training thread keeps running. Compression level 2 keeps sizes within
~2 % of its best at a quarter of the time (~60 µs a 4,096-value array).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from pcodec import ChunkConfig, standalone

from .rollup import FIELDS, UNIT_DTYPE, Cols, Units

RAW: Final = 0
PCODEC: Final = 1
CODECS: Final = (RAW, PCODEC)

_F8: Final = np.dtype("<f8")
_I8: Final = np.dtype("<i8")
#: The unit fields packed together: integers, times, values (each a homogeneous array).
_GROUPS: Final = (
    ("n", "nf", "first_step", "last_step", "nnan", "npinf", "nninf"),
    ("first_time", "last_time", "min_time", "max_time"),
    ("vmin", "vmax", "vsum", "last_value"),
)
_HEADER: Final = np.dtype("<u4")
#: A blob to write. Raw blobs are made as ``bytearray``: Python's ``sqlite3`` binds one
#: directly, where a ``bytes`` parameter first goes through its adaptation protocol (two
#: failed attribute lookups, one of them formatting an ``AttributeError``): ~0.3 µs a
#: blob, and a live write of 200 keys binds about a thousand of them.
Blob = bytes | bytearray


def _config() -> ChunkConfig:
    return ChunkConfig(compression_level=2)


class Packer:
    """Packs and unpacks one codec's arrays (holds the compressor's settings)."""

    def __init__(self, codec: int = PCODEC) -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown chunk codec {codec}")
        self.codec = codec
        self._cfg = _config() if codec == PCODEC else None

    def array(self, a: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> Blob:
        if self._cfg is None or len(a) == 0:
            return bytearray(np.ascontiguousarray(a).data)
        return bytes(standalone.simple_compress(np.ascontiguousarray(a), self._cfg))

    def arrays(self, a: npt.NDArray[np.int64] | npt.NDArray[np.float64],
               spans: Sequence[tuple[int, int]]) -> list[Blob]:
        """``array(a[x:y])`` for each ``x, y`` of ``spans``; raw, slices of one copy of
        ``a`` (a live write's hundreds of one-point chunks make no array each)."""
        if self._cfg is None:
            return _raw_slices(a, spans)
        return [self.array(a[x:y]) for x, y in spans]

    def units_many(self, units: Units, starts: Sequence[int], ends: Sequence[int]
                   ) -> list[Blob]:
        """The blobs of the sub-block units ``units[a:b]`` for each ``a, b`` of ``starts,
        ends``: the fields of all of them gathered in one go (a field at a time, not a
        field a chunk), then three frames (after a header of their lengths) for each."""
        if self._cfg is None:
            return _raw_slices(units, list(zip(starts, ends, strict=True)))
        groups = [np.stack([units[name] for name in names]) for names in _GROUPS]
        out: list[Blob] = []
        for a, b in zip(starts, ends, strict=True):
            if a == b:
                out.append(b"")
                continue
            frames = [bytes(standalone.simple_compress(g[:, a:b].ravel(), self._cfg))
                      for g in groups]
            header = np.array([len(f) for f in frames], dtype=_HEADER).tobytes()
            out.append(header + b"".join(frames))
        return out


def _raw_slices(a: npt.NDArray[Any], spans: Sequence[tuple[int, int]]) -> list[Blob]:
    """The bytes of ``a[x:y]`` for each ``x, y`` of ``spans`` (``a`` one-dimensional), as
    ``bytearray`` (see :data:`Blob`)."""
    whole = bytearray(np.ascontiguousarray(a).data)
    w = a.dtype.itemsize
    return [whole[w * x:w * y] for x, y in spans]


def unpack_floats(blob: bytes, codec: int) -> npt.NDArray[np.float64]:
    if codec == RAW or not blob:
        return np.frombuffer(blob, dtype=_F8)
    out: npt.NDArray[np.float64] = standalone.simple_decompress(blob)
    return out if out.dtype == _F8 else out.astype(_F8)


def unpack_ints(blob: bytes, codec: int) -> npt.NDArray[np.int64]:
    if codec == RAW or not blob:
        return np.frombuffer(blob, dtype=_I8)
    out: npt.NDArray[np.int64] = standalone.simple_decompress(blob)
    return out if out.dtype == _I8 else out.astype(_I8)


def unpack_units(blob: bytes, codec: int) -> Units:
    if codec == RAW or not blob:
        return np.frombuffer(blob, dtype=UNIT_DTYPE)
    return _assemble(_frames(blob))


def unpack_cols_many(blobs: Sequence[tuple[bytes, int]]) -> tuple[Cols, list[int]]:
    """The units of many chunks' ``(rollup, codec)`` blobs, in order, as columns (one array
    a field: what a read merges, no unit ever written as a record), and where each blob's
    begin (plus the end). Each field of packed blobs is a slice of a decoded
    frame, gathered with one ``concatenate`` a field (runs of blobs with as many units
    each, the common case, with one a frame group)."""
    frames = [_frames(blob) if codec != RAW and blob else None for blob, codec in blobs]
    parts: list[Cols] = []
    sizes: list[int] = []
    i = 0
    while i < len(blobs):
        f = frames[i]
        if f is None:  # raw records: a run of them read as one (a live tail's open chunks)
            j = i + 1
            while j < len(blobs) and frames[j] is None:
                j += 1
            raw = [blob for blob, _ in blobs[i:j]]
            if any(len(blob) % UNIT_DTYPE.itemsize for blob in raw):  # as frombuffer would
                raise ValueError("a raw sub-block blob is not a whole number of units")
            units = np.frombuffer(raw[0] if j == i + 1 else b"".join(raw), dtype=UNIT_DTYPE)
            parts.append({name: units[name] for name in FIELDS})
            sizes += [len(blob) // UNIT_DTYPE.itemsize for blob in raw]
            i = j
            continue
        n = len(f[0]) // len(_GROUPS[0])
        j = i + 1
        while j < len(blobs) and (g := frames[j]) is not None and len(g[0]) == len(f[0]):
            j += 1
        part: Cols = {}
        for k, names in enumerate(_GROUPS):
            block = (f[k] if j == i + 1 else np.concatenate([fr[k] for fr in frames[i:j]
                                                              if fr is not None]))
            fields = block.reshape(j - i, len(names), n)
            for m, name in enumerate(names):
                part[name] = fields[:, m, :].ravel() if j > i + 1 else fields[0, m]
        parts.append(part)
        sizes += [n] * (j - i)
        i = j
    bounds = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
    if len(parts) == 1:
        return parts[0], bounds
    if not parts:
        return {name: np.empty(0, dtype=UNIT_DTYPE[name]) for name in FIELDS}, bounds
    return {name: np.concatenate([p[name] for p in parts]) for name in FIELDS}, bounds


def _frames(blob: bytes) -> list[npt.NDArray[Any]]:
    sizes = np.frombuffer(blob, dtype=_HEADER, count=len(_GROUPS)).tolist()
    at = _HEADER.itemsize * len(_GROUPS)
    out = []
    for size in sizes:
        out.append(standalone.simple_decompress(blob[at:at + size]))
        at += size
    return out


def _assemble(frames: list[npt.NDArray[Any]]) -> Units:
    n = len(frames[0]) // len(_GROUPS[0])
    out = np.empty(n, dtype=UNIT_DTYPE)
    for names, fields in zip(_GROUPS, frames, strict=True):
        for i, name in enumerate(names):
            out[name] = fields[i * n:(i + 1) * n]
    return out
