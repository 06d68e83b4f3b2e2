"""Metric points in chunks, for every engine: checking, encoding, decoding, bucketing.

A series' points live in chunks of up to ``CHUNK_MAX`` consecutive steps, each a row with
packed arrays (steps, times, values), exact summary columns and a packed array of
sub-block summaries (see ``rollup.py``). This module turns points into such rows and back,
and turns the rows a read fetched into exact buckets; the engine (``chunk_rows``)
fetches and stores the rows.

Write: the points of one series are sorted by step and de-duplicated (the last write of a
step wins). If they all come after the series' last step (the common case) they extend the
tail chunk; otherwise each point goes to the chunk whose range it falls in, and those chunks
are merged and rewritten. Chunks longer than ``CHUNK_MAX`` are split. Every rewritten chunk
gets fresh summaries, so buckets stay exact when a batch is delivered twice.

Read: a window (steps or wall time) is covered by units from the coarsest level that still
gives enough of them — raw points for small windows, 128-point sub-blocks, whole chunks for
long windows — with partial chunks at the edges decoded and cut exactly. The units are then
merged into at most N equal-width buckets. The work is O(N + chunks in the window), and a
chunk holds ``CHUNK_MAX`` points, so a 10M-point series reads ~2,500 summary rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from . import rollup
from .errors import InvalidInput
from .packing import Packer, unpack_floats, unpack_ints
from .rollup import F64, I64, UNIT_DTYPE, Cols, Units

#: Points per chunk.
CHUNK_MAX: Final = 4096
#: An appended point rewrites the newest chunk only while it is smaller than
#: ``CHUNK_MAX // TAIL_PARTS`` points (:func:`tail_max`): at most one sub-block (64 points), so an
#: open chunk's summary is its one sub-block's.
TAIL_PARTS: Final = 64
#: Windows with at most this many points x N buckets are read from raw points (so a
#: window read from sub-blocks has at least N / 2 of them).
RAW_FACTOR: Final = 64
#: Windows with at most this many points x N buckets are read from sub-block rollups.
SUB_FACTOR: Final = 2048
#: Full chunks a chunk group summarises (``group_rows``): ~262k points.
GROUP_CHUNKS: Final = 64
#: Windows with more than this many points x N buckets are read from chunk groups.
GROUP_FACTOR: Final = CHUNK_MAX * GROUP_CHUNKS // 2

_F8: Final = np.dtype("<f8")
_I8: Final = np.dtype("<i8")
#: The columns of a chunk row that a read of its points fetches, in ``decode``'s order.
ROW_COLS: Final = "step_lo, n, stride, steps, times, vals, codec"
#: A chunk row as a read fetches it (``ROW_COLS``).
ChunkRow = Sequence[object]


@dataclass(slots=True)
class Points:
    """Points of one series, sorted by step, one per step."""

    steps: I64
    times: F64
    values: F64

    def __len__(self) -> int:
        return len(self.steps)

    @staticmethod
    def empty() -> Points:
        return Points(np.empty(0, _I8), np.empty(0, _F8), np.empty(0, _F8))

    @staticmethod
    def concat(parts: list[Points]) -> Points:
        if not parts:
            return Points.empty()
        if len(parts) == 1:
            return parts[0]
        return Points(
            np.concatenate([p.steps for p in parts]),
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.values for p in parts]),
        )

    def take(self, mask_or_index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> Points:
        return Points(
            self.steps[mask_or_index], self.times[mask_or_index], self.values[mask_or_index]
        )


def tail_max() -> int:
    """The size below which the newest chunk takes appended points (see ``TAIL_PARTS``)."""
    return max(1, CHUNK_MAX // TAIL_PARTS)


def prepare_many(series: Mapping[str, tuple[Any, Any, Any]]) -> dict[str, Points]:
    """Checked and normalised points of each series ``{key: (steps, times, values)}``, as
    a caller hands them in: steps must be integers, the three arrays one-dimensional and
    of one length, and times finite (a wall-clock time); values may be anything a float64
    holds. Steps and times that several keys share (the SDK hands one array of a batch's
    steps and one of its times to every key logged at them) are checked once: a write of
    200 keys of a point each checks two arrays, not four hundred."""
    # by id of the object handed in, kept here with it (so that no other takes its id):
    # steps -> (the object, int64 steps, whether in order), times -> (the object, float64)
    checked: dict[int, tuple[object, I64, bool]] = {}
    finite: dict[int, tuple[object, F64]] = {}
    out: dict[str, Points] = {}
    for key, triple in series.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"a metric key is a non-empty string, not {key!r}")
        try:
            steps, times, values = triple
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"metric {key!r}: give (steps, times, values)") from exc
        s_in = checked.get(id(steps))
        if s_in is None:
            s_in = checked[id(steps)] = (steps, *_checked_steps(key, steps))
        t_in = finite.get(id(times))
        if t_in is None:
            t_in = finite[id(times)] = (times, _checked_times(key, times))
        t = t_in[1]
        try:
            v = np.asarray(values, dtype=_F8)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInput(f"metric {key!r}: {exc}") from exc
        _, s, in_order = s_in
        if not (v.ndim == 1 and len(s) == len(t) == len(v)):
            raise InvalidInput(
                f"metric {key!r}: steps, times and values must be flat arrays of one length "
                f"(got shapes {s.shape}, {t.shape}, {v.shape})"
            )
        out[key] = Points(s, t, v) if in_order else normalize(s, t, v)
    return out


def _checked_steps(key: str, steps: object) -> tuple[I64, bool]:
    """Steps as int64, and whether they are already in order without repeats."""
    try:
        s = np.asarray(steps)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"metric {key!r}: {exc}") from exc
    if s.ndim != 1:
        raise InvalidInput(f"metric {key!r}: steps, times and values must be flat arrays of "
                           f"one length (got steps of shape {s.shape})")
    if len(s) and s.dtype.kind not in "iu":
        integral = s.dtype.kind == "f" and bool(np.isfinite(s).all()) and bool(
            (np.floor(s) == s).all() and np.abs(s).max() < 2.0**63
        )
        if not integral:
            raise InvalidInput(f"metric {key!r}: steps must be integers")
    elif s.dtype.kind == "u" and len(s) and int(s.max()) > np.iinfo(_I8).max:
        raise InvalidInput(f"metric {key!r}: a step does not fit in 64 bits")
    s = s.astype(_I8, copy=False)
    return s, len(s) < 2 or bool(np.all(s[1:] > s[:-1]))


def _checked_times(key: str, times: object) -> F64:
    try:
        t = np.asarray(times, dtype=_F8)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"metric {key!r}: {exc}") from exc
    if t.ndim != 1:
        raise InvalidInput(f"metric {key!r}: steps, times and values must be flat arrays of "
                           f"one length (got times of shape {t.shape})")
    if not bool(np.isfinite(t).all()):
        raise InvalidInput(f"metric {key!r}: times must be finite")
    return t


def normalize(steps: I64, times: F64, values: F64) -> Points:
    """Sort by step (stable) and keep the last of each repeated step."""
    steps = np.asarray(steps, dtype=_I8)
    times = np.asarray(times, dtype=_F8)
    values = np.asarray(values, dtype=_F8)
    if len(steps) > 1 and not bool(np.all(steps[1:] > steps[:-1])):
        order = np.argsort(steps, kind="stable")
        steps, times, values = steps[order], times[order], values[order]
        keep = np.append(steps[1:] != steps[:-1], True)
        steps, times, values = steps[keep], times[keep], values[keep]
    return Points(steps, times, values)


def encode(p: Points, packer: Packer) -> tuple[object, ...]:
    """A chunk row for ``p`` (sorted, unique steps, not empty), without its series:
    ``step_lo, step_hi, n, stride, steps, times, vals, rollup``, then the summary columns
    ``nf, vmin, vmax, vsum, first_time, last_time, min_time, max_time, last_value, nnan,
    npinf, nninf``, then ``codec`` (how the blobs are packed, see ``packing``)."""
    return encode_many([p], packer)[0]


def encode_many(parts: Sequence[Points], packer: Packer) -> list[tuple[object, ...]]:
    """``encode`` of each of ``parts``, their summaries computed together: one pass of
    numpy over all their points for the sub-blocks and one for the chunks (not a pass a
    chunk: a write's many chunks cost the writer, which holds the GIL, little more than
    one)."""
    if not parts:
        return []
    return encode_flat(Points.concat(list(parts)),
                       np.fromiter(map(len, parts), _I8, len(parts)), packer)


def encode_flat(p: Points, sizes: I64, packer: Packer) -> list[tuple[object, ...]]:
    """``encode_many`` of parts laid end to end in ``p``, ``sizes[i]`` points the i-th."""
    if not len(sizes):
        return []
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # sub-blocks: every SUB_BLOCK points from each part's start
    n_sub = (sizes + (rollup.SUB_BLOCK - 1)) // rollup.SUB_BLOCK
    sub_ends = np.cumsum(n_sub)
    first_sub = sub_ends - n_sub
    offsets = np.arange(int(sub_ends[-1]), dtype=_I8) - np.repeat(first_sub, n_sub)
    sub = rollup.summarize(p.steps, p.times, p.values,
                           np.repeat(starts, n_sub) + offsets * rollup.SUB_BLOCK)
    # one sub-block (an open chunk, mostly) is its own summary, computed the same way
    w = sub[first_sub] if bool((n_sub == 1).all()) else rollup.summarize(
        p.steps, p.times, p.values, starts)
    strides = _strides(p.steps, starts, sizes)
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    blobs_t = packer.arrays(p.times, spans)
    blobs_v = packer.arrays(p.values, spans)
    units = packer.units_many(sub, first_sub.tolist(), sub_ends.tolist())
    nf = w["nf"].tolist()
    vmin, vmax = w["vmin"].tolist(), w["vmax"].tolist()
    # a field of records: copied out whole, then a Blob a row (see packing.Blob)
    last_values = bytearray(np.ascontiguousarray(w["last_value"]).data)
    rows: list[tuple[object, ...]] = []
    for i, (lo, hi, n, stride, (a, b), f, t0, t1, tmin, tmax, vsum, nnan, npinf,
            nninf) in enumerate(zip(
            w["first_step"].tolist(), w["last_step"].tolist(), sizes.tolist(), strides,
            spans, nf, w["first_time"].tolist(),
            w["last_time"].tolist(), w["min_time"].tolist(), w["max_time"].tolist(),
            w["vsum"].tolist(), w["nnan"].tolist(), w["npinf"].tolist(),
            w["nninf"].tolist(), strict=True)):
        rows.append((
            lo, hi, n, stride,
            bytearray() if stride else packer.array(p.steps[a:b]),
            blobs_t[i], blobs_v[i], units[i],
            f, vmin[i] if f else None, vmax[i] if f else None, vsum,
            t0, t1, tmin, tmax, last_values[8 * i:8 * i + 8], nnan, npinf, nninf,
            packer.codec,
        ))
    return rows


def _strides(steps: I64, starts: I64, sizes: I64) -> list[int]:
    """Each part's step stride (its steps ``lo + k * stride``), or 0 when its steps are not
    evenly spaced; a part of one point has stride 1. One pass of numpy over all the parts
    (a write of a live run's many series has hundreds of tiny ones)."""
    if len(steps) < 2:  # no part of more than one point
        return [1] * len(sizes)
    d = np.diff(steps)
    # cs[k]: how many of d[1..k] differ from the diff before them, so that a part's diffs
    # d[a..a+n-2] are all alike when cs[a] == cs[a+n-2]
    cs = np.zeros(len(d), _I8)
    if len(d) > 1:
        np.cumsum(d[1:] != d[:-1], out=cs[1:])
    many = sizes > 1
    a = np.where(many, starts, 0)
    last = np.where(many, starts + sizes - 2, 0)
    first = d[a]
    even = (first > 0) & (cs[last] == cs[a])
    return np.where(many, np.where(even, first, 0), 1).tolist()  # type: ignore[no-any-return]


def decode(step_lo: int, n: int, stride: int, steps: bytes, times: bytes, vals: bytes,
           codec: int) -> Points:
    """The points of a chunk row fetched as ``ROW_COLS``."""
    if stride:
        s = step_lo + np.arange(n, dtype=_I8) * stride
    else:
        s = unpack_ints(steps, codec)
    return Points(s, unpack_floats(times, codec), unpack_floats(vals, codec))


def merge_points(old: Points, new: Points) -> Points:
    """Old and new points of one chunk; a step in both keeps the new point."""
    both = Points.concat([old, new])
    order = np.argsort(both.steps, kind="stable")
    both = both.take(order)
    keep = np.append(both.steps[1:] != both.steps[:-1], True)
    return both.take(keep)



def pieces(p: Points) -> list[Points]:
    """``p`` cut into chunks of at most ``CHUNK_MAX`` points."""
    return [p.take(slice(i, i + CHUNK_MAX)) for i in range(0, len(p), CHUNK_MAX)]


@dataclass(slots=True, frozen=True)
class Window:
    """A window on one axis, bounds inclusive; ``None`` is open."""

    axis: str  # "step" or "time"
    lo: float | None = None
    hi: float | None = None

    def contains(self, lo: float, hi: float) -> bool:
        return (self.lo is None or lo >= self.lo) and (self.hi is None or hi <= self.hi)

    def mask(self, p: Points) -> npt.NDArray[np.bool_]:
        x = p.steps if self.axis == "step" else p.times
        m = np.ones(len(p), dtype=bool)
        if self.lo is not None:
            m &= x >= self.lo
        if self.hi is not None:
            m &= x <= self.hi
        return m


def bucket_level(total: int, n_buckets: int) -> str:
    """Which units cover a window of ``total`` points in ``n_buckets``: raw, sub, chunk or
    group (each the coarsest that still gives at least about ``n_buckets / 2`` units)."""
    if total <= RAW_FACTOR * n_buckets:
        return "raw"
    if total <= SUB_FACTOR * n_buckets:
        return "sub"
    return "chunk" if total <= GROUP_FACTOR * n_buckets else "group"


def full_chunks(chunk_units: Units, window: Window) -> npt.NDArray[np.bool_]:
    """Which chunks lie wholly inside ``window``."""
    if window.axis == "step":
        lo_x, hi_x = chunk_units["first_step"], chunk_units["last_step"]
    else:
        lo_x, hi_x = chunk_units["min_time"], chunk_units["max_time"]
    full = np.ones(len(chunk_units), dtype=bool)
    if window.lo is not None:
        full &= lo_x >= window.lo
    if window.hi is not None:
        full &= hi_x <= window.hi
    return full


def chunk_pieces(
    chunk_units: Units,
    is_full: list[bool],
    level: str,
    rows: Mapping[int, ChunkRow],
    subs: Callable[[list[int]], Units | Cols] | None,
    window: Window,
) -> list[Units | Cols]:
    """Exact units, in step order, for the chunks summarised in ``chunk_units``: whole
    chunks as their summary (``level == "chunk"``) or their sub-blocks (``subs(step_los)``:
    those of consecutive whole chunks), the others (edges, and every chunk at the raw
    level) decoded from ``rows`` and cut to the window."""
    step_los: list[int] = chunk_units["first_step"].tolist()
    pieces: list[Units | Cols] = []
    raw: list[Points] = []  # consecutive points not yet summarised (raw level, edges)

    def flush_raw() -> None:
        if raw:
            p = Points.concat(raw)
            step = 1 if level == "raw" else rollup.SUB_BLOCK
            starts = np.arange(0, len(p), step, dtype=np.int64)
            pieces.append(rollup.summarize(p.steps, p.times, p.values, starts))
            raw.clear()

    i, n_chunks = 0, len(step_los)
    while i < n_chunks:
        if is_full[i] and level != "raw":
            j = i + 1
            while j < n_chunks and is_full[j]:
                j += 1
            flush_raw()
            if level == "chunk" or subs is None:
                pieces.append(chunk_units[i:j])
            else:
                pieces.append(subs(step_los[i:j]))
            i = j
            continue
        p = decode(*rows[step_los[i]])  # type: ignore[arg-type]
        if not is_full[i]:
            p = p.take(window.mask(p))
        if len(p):
            raw.append(p)
            if level != "raw":
                flush_raw()  # an edge chunk: its own sub-blocks
        i += 1
    flush_raw()
    return pieces


def to_buckets(pieces: list[Units | Cols], n_buckets: int, x_axis: str) -> rollup.Buckets:
    """At most ``n_buckets`` exact buckets from units in step order (records or columns)."""
    pieces = [u for u in pieces if rollup.count(u)]
    if not pieces:
        return rollup.Buckets(np.empty(0, dtype=UNIT_DTYPE))
    units = pieces[0] if len(pieces) == 1 else rollup.cols_concat(pieces)
    if x_axis == "step":
        lo = float(units["first_step"][0])
        hi = float(units["last_step"][-1]) + 1.0
    else:
        lo = float(units["min_time"].min())
        hi = float(units["max_time"].max())
        hi = float(np.nextafter(hi, np.inf))
    return rollup.Buckets(rollup.group_into(units, n_buckets, lo, hi, x_axis))
