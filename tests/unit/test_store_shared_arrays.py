"""A write of many keys whose steps and times are one shared array each (what the SDK hands
the store: a batch's steps and times, once, for every key logged at them). The store checks
a shared array once; what it keeps must be exactly what it keeps for arrays of its own, on
both engines: steps out of order or repeated, a bad array shared by many keys, arrays made
afresh at every look, and the chunks' encoding (strides, raw blobs) whatever the mix of
sizes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from traindeck.store import InvalidInput, Store
from traindeck.store.chunks import Points, encode, encode_flat
from traindeck.store.packing import RAW, Packer


def read(store: Store, run_id: str, key: str) -> tuple[list[int], list[float], list[float]]:
    p = store.read_points(run_id, key)
    return p.steps.tolist(), p.times.tolist(), p.values.tolist()


def test_shared_steps_and_times_keep_what_arrays_of_their_own_keep(store: Store) -> None:
    shared = store.create_run(project="p", name="shared").id
    own = store.create_run(project="p", name="own").id
    steps = np.array([5, 3, 3, 9, 1])  # out of order, step 3 twice: its last point is kept
    times = np.array([1.5e9, 1.5e9 + 1, 1.5e9 + 2, 1.5e9 + 3, 1.5e9 + 4])
    keys = [f"k{i}" for i in range(40)]
    values = {k: np.arange(5) * (i + 1) + 0.25 for i, k in enumerate(keys)}
    store.write_metrics(shared, {k: (steps, times, values[k]) for k in keys})
    store.write_metrics(own, {k: (steps.copy(), times.copy(), values[k]) for k in keys})
    for k in keys:
        assert read(store, shared, k) == read(store, own, k)
    i = keys.index("k7")
    assert read(store, shared, "k7") == (
        [1, 3, 5, 9], [1.5e9 + 4, 1.5e9 + 2, 1.5e9, 1.5e9 + 3],
        [4 * (i + 1) + 0.25, 2 * (i + 1) + 0.25, 0.25, 3 * (i + 1) + 0.25])


def test_a_live_run_of_shared_arrays_reads_back_every_point(store: Store) -> None:
    run = store.create_run(project="p", name="live").id
    keys = [f"train/m{i:03d}" for i in range(120)]
    for step in range(300):  # one point a key a write, past several open chunks' merges
        s, t = np.array([step]), np.array([1.6e9 + step])
        store.write_metrics(run, {k: (s, t, np.array([step * 0.5 + j]))
                                  for j, k in enumerate(keys)})
    for j in (0, 57, 119):
        steps, times, vals = read(store, run, keys[j])
        assert steps == list(range(300))
        assert times == [1.6e9 + s for s in range(300)]
        assert vals == [s * 0.5 + j for s in range(300)]
    assert store.latest(run)[keys[57]][0] == 299


@pytest.mark.parametrize(("steps", "times", "error"), [
    (np.array([1.5, 2.0]), np.array([1.0, 2.0]), "steps must be integers"),
    (np.array([[1, 2]]), np.array([1.0, 2.0]), "flat arrays"),
    (np.array([1, 2]), np.array([1.0, np.nan]), "times must be finite"),
    (np.array([1, 2]), np.array([1.0, 2.0, 3.0]), "flat arrays"),
])
def test_a_bad_shared_array_is_refused_and_nothing_is_written(
        store: Store, steps: Any, times: Any, error: str) -> None:
    run = store.create_run(project="p", name="r").id
    series = {f"k{i}": (steps, times, np.zeros(len(steps))) for i in range(10)}
    series = {"first": (np.array([0, 1]), np.array([1.0, 2.0]), np.zeros(2)), **series}
    with pytest.raises(InvalidInput, match=error):
        store.write_metrics(run, series)
    assert store.metric_keys(run) == []


def test_one_key_with_values_of_another_length_is_refused(store: Store) -> None:
    run = store.create_run(project="p", name="r").id
    s, t = np.arange(3), np.array([1.0, 2.0, 3.0])
    series = {"a": (s, t, np.zeros(3)), "b": (s, t, np.zeros(2)), "c": (s, t, np.zeros(3))}
    with pytest.raises(InvalidInput, match=r"'b'.*flat arrays of one length"):
        store.write_metrics(run, series)
    assert store.metric_keys(run) == []


class Fresh(Mapping[str, tuple[Any, Any, Any]]):
    """Makes new arrays (lists) at every look and lets them go: an object's id may come
    back for another object, which must not pass for the first one."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, key: str) -> tuple[Any, Any, Any]:
        i = int(key[1:])
        return [i, i + 100], [1.0 + i, 2.0 + i], [float(i), -float(i)]

    def __iter__(self) -> Iterator[str]:
        return iter(f"k{i}" for i in range(self.n))

    def __len__(self) -> int:
        return self.n


def test_arrays_made_afresh_at_every_look_are_each_their_own(store: Store) -> None:
    run = store.create_run(project="p", name="r").id
    store.write_metrics(run, Fresh(30))
    for i in (0, 13, 29):
        assert read(store, run, f"k{i}") == ([i, i + 100], [1.0 + i, 2.0 + i],
                                             [float(i), -float(i)])


def test_chunks_encoded_together_are_the_chunks_encoded_alone() -> None:
    """Strides and raw blobs of many parts laid end to end (a live write's hundreds of
    tiny chunks) are each part's own: evenly spaced, uneven, one point, two points."""
    rng = np.random.default_rng(7)
    packer = Packer(RAW)
    for _ in range(200):
        parts = []
        for _ in range(int(rng.integers(1, 8))):
            n = int(rng.integers(1, 7))
            lo, stride = int(rng.integers(-50, 50)), int(rng.integers(1, 4))
            steps = lo + np.arange(n) * stride
            if n > 2 and rng.random() < 0.4:  # not evenly spaced
                steps = np.sort(rng.choice(1000, n, replace=False)) - 500
            parts.append(Points(steps.astype(np.int64), rng.random(n) + 1e9, rng.normal(size=n)))
        sizes = np.array([len(p) for p in parts], dtype=np.int64)
        together = encode_flat(Points.concat(parts), sizes, packer)
        for p, row in zip(parts, together, strict=True):
            alone = encode(p, packer)
            assert [bytes(x) if isinstance(x, bytearray) else x for x in row] == [
                bytes(x) if isinstance(x, bytearray) else x for x in alone]
            stride = row[3]
            assert bytes(row[4]) == (b"" if stride else p.steps.tobytes())
            assert (bytes(row[5]), bytes(row[6])) == (p.times.tobytes(), p.values.tobytes())
            steps = p.steps.tolist()
            diffs = {b - a for a, b in pairwise(steps)}
            assert stride == (1 if len(steps) == 1 else diffs.pop() if len(diffs) == 1 else 0)
