"""Metric values through the store: NaN/±Inf round-trip, idempotent writes, input checks."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import orjson
import pytest
from support import MakeStore

from traindeck.store import InvalidInput, NotFound, Store
from traindeck.store.codec import dumps, float_list, float_out, jsonable, loads, to_float

RUN = "r1"
NONFINITE = [math.nan, math.inf, -math.inf]
SPELLED = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def spelled(x: float) -> str:
    return SPELLED[repr(x)]


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    s = make_store()
    s.create_run(project="p", id=RUN)
    return s


def arrays(steps: list[int], values: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.array(steps, dtype=np.int64)
    return s, 1e9 + s.astype(np.float64), np.array(values, dtype=np.float64)


# -- NaN and ±Inf round-trip ----------------------------------------------------------


@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "pinf", "ninf"])
def test_nonfinite_round_trips_every_read_path(store: Store, value: float) -> None:
    payload_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    values = [1.0, value, 2.0, payload_nan, -0.0, value]
    store.write_metrics(RUN, {"m": arrays(list(range(6)), values)})

    p = store.read_points(RUN, "m")
    assert p.values.tobytes() == np.array(values).tobytes()  # bit-exact, payload included
    assert p.steps.tolist() == list(range(6))

    step, _, last = store.latest(RUN)["m"]
    assert step == 5 and bits(last) == bits(value)

    (info,) = store.metric_keys(RUN)
    assert info.key == "m" and info.count == 6 and info.first_step == 0 and info.last_step == 5
    assert info.last_value is not None and bits(info.last_value) == bits(value)
    assert info.min == -0.0 and info.max == 2.0  # finite values only

    # One bucket per point: "last" spells the non-finite values.
    cols = store.read_buckets(RUN, "m", n=10).columns()
    assert cols["last"] == [1.0, spelled(value), 2.0, "NaN", -0.0, spelled(value)]
    assert cols["min"][1] is None and cols["max"][1] is None and cols["mean"][1] is None
    assert cols["nan"] == [0, int(math.isnan(value)), 0, 1, 0, int(math.isnan(value))]
    assert cols["pinf"] == [0, int(value == math.inf), 0, 0, 0, int(value == math.inf)]
    assert cols["ninf"] == [0, int(value == -math.inf), 0, 0, 0, int(value == -math.inf)]
    # The columns go through JSON unchanged, and the spellings decode back to the values.
    back = orjson.loads(dumps(cols))
    assert back == cols
    assert bits(to_float(back["last"][1])) == bits(value) or math.isnan(value)
    assert math.isnan(to_float(back["last"][3]))

    # One bucket for everything: non-finite values are counted, never folded into min/max.
    (one,) = [store.read_buckets(RUN, "m", n=1).columns()]
    assert one["count"] == [6]
    assert one["min"] == [-0.0] and one["max"] == [2.0] and one["mean"] == [1.0]
    assert one["last"] == [spelled(value)]


def test_all_nonfinite_bucket_has_no_min_max(store: Store) -> None:
    store.write_metrics(RUN, {"m": arrays([1, 2, 3], NONFINITE)})
    cols = store.read_buckets(RUN, "m", n=1).columns()
    assert cols["min"] == [None] and cols["max"] == [None] and cols["mean"] == [None]
    assert (cols["nan"], cols["pinf"], cols["ninf"]) == ([1], [1], [1])
    assert cols["last"] == ["-Infinity"]
    (info,) = store.metric_keys(RUN)
    assert info.min is None and info.max is None


def test_values_near_the_largest_float_are_stored_and_summed(store: Store) -> None:
    # their sum overflows: the points are kept exactly, min/max stay exact, the mean is inf
    big = [1.7e308, 1.7e308, -1.7e308, -1.7e308] * 3000
    store.write_metrics(RUN, {"huge": arrays(list(range(len(big))), big)})
    assert store.read_points(RUN, "huge").values.tolist() == big
    cols = store.read_buckets(RUN, "huge", n=1).columns()
    assert cols["min"] == [-1.7e308] and cols["max"] == [1.7e308]
    assert cols["count"] == [len(big)]


def test_latest_keeps_negative_zero(store: Store) -> None:
    store.write_metrics(RUN, {"z": arrays([7], [-0.0])})
    assert bits(store.latest(RUN)["z"][2]) == bits(-0.0)


def test_codec_nonfinite() -> None:
    assert [float_out(x) for x in NONFINITE] == ["NaN", "Infinity", "-Infinity"]
    assert float_out(1.5) == 1.5
    assert math.isnan(to_float("NaN"))
    assert to_float("Infinity") == math.inf and to_float("-Infinity") == -math.inf
    assert to_float(3) == 3.0 and type(to_float(3)) is float
    for bad in (True, "nan", "inf", None, [1.0]):
        with pytest.raises(ValueError):
            to_float(bad)
    payload = {"loss": math.nan, "xs": [math.inf, 1.0, (-math.inf,)], "n": np.float64(-math.inf),
               "arr": np.array([1.0, 2.0]), "s": "NaN"}
    out = orjson.loads(dumps(payload))
    assert out == {"loss": "NaN", "xs": ["Infinity", 1.0, ["-Infinity"]], "n": "-Infinity",
                   "arr": [1.0, 2.0], "s": "NaN"}
    assert jsonable({1: math.nan}) == {"1": "NaN"}
    assert float_list(np.array([1.0, math.nan, -math.inf])) == [1.0, "NaN", "-Infinity"]
    assert float_list(np.array([1.0, 2.0])) == [1.0, 2.0]
    assert loads(None, {}) == {} and loads("", 5) == 5 and loads(b"[1]") == [1]


def test_summary_and_config_nonfinite(store: Store) -> None:
    store.write_metrics(RUN, {}, summary={"best": math.inf, "worst": math.nan})
    run = store.get_run(RUN)
    assert run.summary == {"best": "Infinity", "worst": "NaN"}
    assert to_float(run.summary["best"]) == math.inf


# -- idempotence --------------------------------------------------------------------


def snapshot(store: Store, key: str) -> tuple[bytes, ...]:
    out = []
    for n in (1, 7, 1000):
        for kw in ({}, {"step_min": 100, "step_max": 4000}, {"time_min": 1e9 + 50}):
            out.append(store.read_buckets(RUN, key, n=n, **kw).units.tobytes())  # type: ignore[arg-type]
    p = store.read_points(RUN, key)
    out += [p.steps.tobytes(), p.times.tobytes(), p.values.tobytes()]
    return tuple(out)


def test_same_batch_twice_keeps_one_point(store: Store) -> None:
    rng = random.Random(3)
    steps = list(range(0, 10_000, 2))
    values = [rng.gauss(0, 1) if rng.random() > 0.02 else rng.choice(NONFINITE) for _ in steps]
    batch = arrays(steps, values)
    store.write_metrics(RUN, {"m": batch})
    before = snapshot(store, "m")
    store.write_metrics(RUN, {"m": batch})
    assert snapshot(store, "m") == before
    (info,) = store.metric_keys(RUN)
    assert info.count == len(steps)

    # A shuffled superset, in several batches: the old points are replaced (same values), the
    # new ones (odd steps) are added, and the buckets of the old steps do not change.
    both = list(range(0, 10_000))
    by_step = dict(zip(steps, values, strict=True))
    more = [(s, by_step.get(s, float(s))) for s in both]
    rng.shuffle(more)
    for i in range(0, len(more), 1_777):
        part = more[i:i + 1_777]
        store.write_metrics(RUN, {"m": arrays([s for s, _ in part], [v for _, v in part])})
    p = store.read_points(RUN, "m")
    assert p.steps.tolist() == both
    want = np.array([by_step.get(s, float(s)) for s in both])
    assert p.values.tobytes() == want.tobytes()
    assert store.metric_keys(RUN)[0].count == len(both)
    # Writing the even steps once more changes nothing.
    after = snapshot(store, "m")
    store.write_metrics(RUN, {"m": batch})
    assert snapshot(store, "m") == after


def test_rewrite_changes_value_and_buckets(store: Store) -> None:
    store.write_metrics(RUN, {"m": arrays(list(range(100)), [1.0] * 100)})
    store.write_metrics(RUN, {"m": arrays([50], [math.nan])})
    cols = store.read_buckets(RUN, "m", n=1).columns()
    assert cols["count"] == [100] and cols["nan"] == [1] and cols["mean"] == [1.0]
    store.write_metrics(RUN, {"m": arrays([50, 99], [5.0, -1.0])})
    cols = store.read_buckets(RUN, "m", n=1).columns()
    assert cols["nan"] == [0] and cols["max"] == [5.0] and cols["last"] == [-1.0]
    assert store.latest(RUN)["m"][2] == -1.0
    # Within one batch, the last write of a step wins.
    store.write_metrics(RUN, {"m": (np.array([7, 7, 7]), np.array([1.0, 2.0, 3.0]),
                                    np.array([10.0, 20.0, 30.0]))})
    p = store.read_points(RUN, "m", after_step=6, step_max=7)
    assert p.steps.tolist() == [7] and p.values.tolist() == [30.0] and p.times.tolist() == [3.0]


def test_latest_ignores_older_rewrites(store: Store) -> None:
    store.write_metrics(RUN, {"m": arrays([1, 2, 3], [1.0, 2.0, 3.0])})
    store.write_metrics(RUN, {"m": arrays([1], [9.0])})
    assert store.latest(RUN)["m"][:1] == (3,) and store.latest(RUN)["m"][2] == 3.0


# -- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "triple",
    [
        ([1, 2], [0.0, 1.0], [1.0]),  # lengths differ
        ([1], [0.0, 1.0], [1.0]),
        ([1, 2], [0.0, 1.0], [1.0, 2.0, 3.0]),
        ([[1]], [[1.0]], [[1.0]]),  # not flat
        ([1], [math.nan], [1.0]),  # a time must be finite
        ([1], [math.inf], [1.0]),
        ([1.5], [1.0], [1.0]),  # a step is an integer
        ([math.nan], [1.0], [1.0]),
        (["a"], [1.0], [1.0]),
        ([1], [1.0], ["x"]),
        ([1], [1.0]),  # not a triple
    ],
)
def test_bad_points_are_refused(store: Store, triple: tuple[object, ...]) -> None:
    store.write_metrics(RUN, {"ok": arrays([1], [1.0])})
    with pytest.raises(InvalidInput):
        store.write_metrics(RUN, {"ok": arrays([2], [2.0]), "bad": triple})  # type: ignore[dict-item]
    # Nothing of the refused call was written.
    assert [s.key for s in store.metric_keys(RUN)] == ["ok"]
    assert store.read_points(RUN, "ok").steps.tolist() == [1]


def test_integral_float_steps_and_empty_series(store: Store) -> None:
    store.write_metrics(RUN, {"m": ([3.0, 1.0], [1.0, 2.0], [3.0, 1.0]), "empty": ([], [], [])})
    assert store.read_points(RUN, "m").steps.tolist() == [1, 3]
    assert [s.key for s in store.metric_keys(RUN)] == ["m"]


def test_unknown_run_and_key(store: Store) -> None:
    with pytest.raises(NotFound):
        store.write_metrics("nope", {"m": arrays([1], [1.0])})
    with pytest.raises(NotFound):
        store.read_buckets(RUN, "missing")
    with pytest.raises(NotFound):
        store.read_buckets("nope", "m")
    with pytest.raises(InvalidInput):
        store.read_buckets(RUN, "m", n=0)
    with pytest.raises(InvalidInput):
        store.read_buckets(RUN, "m", step_min=1, time_max=2.0)
    with pytest.raises(InvalidInput):
        store.read_buckets(RUN, "m", x="value")
