"""``Store.read_points_many`` (what the live hub reads every tick) gives, for every
``(run_id, key, after_step)``, exactly what ``read_points(run_id, key, after_step=…)``
gives, on both engines: series made of full and open chunks, rewritten ones, cursors before,
inside and after the data, a limit, and series or runs that do not exist (left out)."""

from __future__ import annotations

import numpy as np

from traindeck.store import Store
from traindeck.store.chunks import CHUNK_MAX


def write(store: Store, run_id: str, key: str, steps: np.ndarray) -> None:
    store.write_metrics(run_id, {key: (steps, steps * 0.5, np.sin(steps.astype(float)))})


def test_read_points_many_is_read_points_of_each(store: Store) -> None:
    a = store.create_run(project="p", name="a").id
    b = store.create_run(project="p", name="b").id
    long = np.arange(0, 3 * CHUNK_MAX + 700)  # full chunks, then an open one
    write(store, a, "loss", long)
    write(store, a, "acc", np.arange(0, 50))
    for start in range(50, 90, 10):  # appended flush by flush, as a live run does
        write(store, a, "acc", np.arange(start, start + 10))
    write(store, a, "acc", np.arange(20, 30))  # a rewrite inside the written steps
    write(store, b, "loss", np.arange(0, 5000, 7))  # gaps
    # evenly spaced from a step that is not a multiple of the stride (an open chunk read
    # from its middle by index), and steps that are not evenly spaced (read whole)
    write(store, b, "every3", np.arange(1001, 1001 + 3 * 900, 3))
    write(store, b, "uneven", np.cumsum(np.arange(1, 400) % 5 + 1))
    cursors = [None, -1, 0, 5, 89, 90, 1001, 1002, 1003, 1500, CHUNK_MAX - 1, CHUNK_MAX,
               2 * CHUNK_MAX + 3, 3 * CHUNK_MAX + 650, 10 ** 9]
    series = ((a, "loss"), (a, "acc"), (b, "loss"), (b, "every3"), (b, "uneven"))
    reads = [(run_id, key, after) for run_id, key in series for after in cursors]
    reads += [(a, "nope", None), ("ghost", "loss", 3)]
    for limit in (None, 100, 5000):
        many = store.read_points_many(reads, limit=limit)
        assert (a, "nope", None) not in many and ("ghost", "loss", 3) not in many
        for run_id, key, after in reads[:-2]:
            one = store.read_points(run_id, key, after_step=after, limit=limit)
            got = many[(run_id, key, after)]
            assert got.steps.tolist() == one.steps.tolist(), (run_id, key, after, limit)
            assert got.times.tolist() == one.times.tolist()
            assert got.values.tolist() == one.values.tolist()
    # the rewritten steps read as rewritten, and a limit keeps the first points
    acc = store.read_points_many([(a, "acc", 19)], limit=3)[(a, "acc", 19)]
    assert acc.steps.tolist() == [20, 21, 22]
    assert store.read_points_many([]) == {}
