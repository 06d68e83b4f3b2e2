"""Points on their way from ``log()``'s queue to the backend, gathered by key as columns.

The run's background thread (``worker.py``) takes every record the queue holds at once
and hands them here. A record is what ``log()`` appends (flat: its three items one after
the other, see ``Pipeline.points``): ``(step, time, values)``, with an
``int`` step, a ``float`` time and a dict of ``float``/``int`` values (``log()`` has turned
bools, numpy and torch scalars into floats and left out what is not a number). Its
*names* and the ranges of steps and values are checked here, off the training thread.

Records are turned into columns with C-level building blocks (``operator.itemgetter``
over the dicts, ``np.fromiter``), not a Python statement a point, so that the writer
holds the GIL, and keeps the training thread waiting, for a few tens of ns a point:

- a batch whose records all have the same keys (a training loop's usual batch) is one
  group, read key by key;
- otherwise records are grouped by their key tuple (a dict of key tuples to group
  numbers, a stable ``argsort``) and each group of at least :data:`MIN_GROUP` records is
  read the same way;
- anything else goes record by record, exactly as before: a small group, a group with a
  key that is not a name (reported for each point), a value that is no float64 (an int
  beyond ±1.8e308: reported, the batch's other values kept), a batch with a step beyond
  64 bits (that record reported and left out).

Each point keeps its record's place in the queue (``seq``); a key's points are put back
in that order before they are written, so a step logged twice keeps its last value,
however its records were grouped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat
from operator import itemgetter
from typing import Any, Final

import numpy as np

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
#: Groups of fewer records than this go record by record (cheaper than a group's setup).
MIN_GROUP: Final = 16

#: A record as ``log()`` queues it: ``(step, time, {key: value})``.
Record = tuple[Any, Any, Any]
#: ``(steps, times, values, seqs)`` of one key: numpy arrays, or lists (record by record).
Part = tuple[Any, Any, Any, Any]
#: What the backend writes: ``{key: (steps int64, times float64, values float64)}``.
Arrays = dict[str, tuple[Any, Any, Any]]
Warn = Callable[..., None]


def _as_float(v: Any) -> float:
    # Floats pass untouched; ints and the numbers log()'s fast path let through convert.
    if v.__class__ is float:
        return v
    return float(v)


def _is_name(k: Any) -> bool:
    return k.__class__ is str and 0 < len(k) <= 256


class Columns:
    """Points not yet written, by key. ``warn(where, message, raise_in_strict=False)``
    reports a refused name, step or value (``FailurePolicy.warn``)."""

    def __init__(self, warn: Warn) -> None:
        self._warn = warn
        self._parts: dict[str, list[Part]] = {}
        self._loose: dict[str, Part] = {}  # each key's part of lists (record by record)
        self._seq = 0  # the place of the next record
        self.count = 0  # points held

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count

    def clear(self) -> None:
        self._parts = {}
        self._loose = {}
        self.count = 0

    # -- adding ------------------------------------------------------------------------

    def add_point(self, key: str, step: int, time: float, value: float) -> None:
        """One point, as it is (the system sampler's)."""
        part = self._loose_part(key)
        part[0].append(step)
        part[1].append(time)
        part[2].append(value)
        part[3].append(self._seq)
        self._seq += 1
        self.count += 1

    def add_records(self, records: list[Record]) -> None:
        """Records taken off ``log()``'s queue, in their order."""
        self.add_flat([x for r in records for x in r])

    def add_flat(self, flat: list[Any]) -> None:
        """Records as ``log()`` queues them: step, time, values, step, time, values… (no
        tuple a record: the writer makes no garbage the collector has to walk)."""
        step_list, time_list, datas = flat[0::3], flat[1::3], flat[2::3]
        n = len(datas)
        if not n:
            return
        base = self._seq
        self._seq += n
        try:
            steps = np.fromiter(step_list, np.int64, n)
            times = np.fromiter(time_list, np.float64, n)
        except (TypeError, ValueError, OverflowError):  # a step beyond 64 bits
            self._one_by_one(list(zip(step_list, time_list, datas, strict=True)),
                             range(base, base + n))
            return
        keys = tuple(datas[0])
        if list(map(len, datas)).count(len(keys)) == n and self._add_group(
                keys, datas, steps, times, np.arange(base, base + n)):
            return
        self._grouped(list(zip(step_list, time_list, datas, strict=True)), datas, steps,
                      times, base)

    def _grouped(self, records: list[Record], datas: list[Any], steps: Any, times: Any,
                 base: int) -> None:
        key_tuples = list(map(tuple, datas))
        groups: dict[tuple[Any, ...], Any] = dict.fromkeys(key_tuples)
        for i, k in enumerate(groups):
            groups[k] = i
        codes = np.fromiter(map(groups.__getitem__, key_tuples), np.intp, len(key_tuples))
        counts = np.bincount(codes, minlength=len(groups))
        small = counts < MIN_GROUP
        rest: list[int] = np.flatnonzero(small[codes]).tolist()  # rows of small groups
        if not small.all():
            order = np.argsort(codes, kind="stable")
            ends = np.cumsum(counts).tolist()
            for keys, code in zip(groups, groups.values(), strict=True):
                if small[code]:
                    continue
                idx = order[ends[code] - counts[code]:ends[code]]
                if not self._add_group(keys, list(map(datas.__getitem__, idx.tolist())),
                                       steps[idx], times[idx], idx + base):
                    rest += idx.tolist()
            rest.sort()
        if rest:
            self._one_by_one(list(map(records.__getitem__, rest)), [base + i for i in rest])

    def _add_group(self, keys: tuple[Any, ...], datas: list[Any], steps: Any, times: Any,
                   seqs: Any) -> bool:
        """Add records that all hold exactly ``keys`` (a record with as many keys but
        another one raises ``KeyError`` here); False (nothing added) when they must go
        record by record."""
        if not all(map(_is_name, keys)):
            return False
        n = len(datas)
        try:
            columns = [np.fromiter(map(itemgetter(k), datas), np.float64, n) for k in keys]
        except (KeyError, TypeError, ValueError, OverflowError):
            return False
        steps.flags.writeable = times.flags.writeable = False  # shared by the keys
        for k, values in zip(keys, columns, strict=True):
            values.flags.writeable = False
            self._part_list(k).append((steps, times, values, seqs))
        self.count += n * len(keys)
        return True

    def _one_by_one(self, records: list[Record], seqs: Iterable[int]) -> None:
        """The per-value path: every name, step and value checked and reported alone."""
        warn = self._warn
        loose = self._loose
        for (step, t, data), seq in zip(records, seqs, strict=True):
            if step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
                warn("log(step=...)", f"step must be a 64-bit integer, got {step!r}",
                     raise_in_strict=False)
                continue
            for k, v in data.items():
                part = loose.get(k)
                if part is None:
                    if not _is_name(k):
                        warn("log()", f"metric names are strings of 1 to 256 characters, "
                             f"got {k!r:.80}", raise_in_strict=False)
                        continue
                try:
                    value = _as_float(v)
                except (TypeError, ValueError, OverflowError):
                    warn("log()", f"the value of {k!r} is not a float64: {v!r:.80}",
                         raise_in_strict=False)
                    continue
                if part is None:
                    part = self._loose_part(k)
                part[0].append(step)
                part[1].append(t)
                part[2].append(value)
                part[3].append(seq)
                self.count += 1

    def _part_list(self, key: str) -> list[Part]:
        parts = self._parts.get(key)
        if parts is None:
            parts = self._parts[key] = []
        return parts

    def _loose_part(self, key: str) -> Part:
        part = self._loose.get(key)
        if part is None:
            part = self._loose[key] = ([], [], [], [])
            self._part_list(key).append(part)
        return part

    # -- taking ------------------------------------------------------------------------

    def arrays(self) -> Arrays:
        """Every key's points as arrays, in the order they were logged (the points stay
        here until :meth:`clear`). Read-only: a key's steps and times may be another's."""
        out: Arrays = {}
        for key, parts in self._parts.items():
            if len(parts) == 1:
                s, t, v, _ = parts[0]
                if s.__class__ is list:
                    s, t, v = (_read_only(np.array(x, dtype))
                               for x, dtype in zip((s, t, v), _DTYPES, strict=False))
                out[key] = (s, t, v)
                continue
            s, t, v, seq = (np.concatenate([np.asarray(p[i], dtype) for p in parts])
                            for i, dtype in enumerate(_DTYPES))
            if len(seq) > 1 and not bool(np.all(seq[1:] > seq[:-1])):
                order = np.argsort(seq, kind="stable")
                s, t, v = s[order], t[order], v[order]
            out[key] = (_read_only(s), _read_only(t), _read_only(v))
        return out


def _read_only(a: Any) -> Any:
    a.flags.writeable = False
    return a


_DTYPES: Final = (np.int64, np.float64, np.float64, np.int64)


def take_all(queue: Any) -> list[Any]:
    """Everything ``queue`` (a deque) holds now, popped from its left in one C-level
    loop (what another thread appends meanwhile stays for the next time)."""
    return list(map(type(queue).popleft, repeat(queue, len(queue))))
