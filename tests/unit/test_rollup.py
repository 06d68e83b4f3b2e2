"""Unit summaries: merging summaries equals summarising the points (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from traindeck.store import rollup
from traindeck.store.rollup import Buckets

values_st = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None, width=64)
    .filter(lambda v: not math.isfinite(v) or abs(v) < 1e300),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]),
)


@st.composite
def series_st(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 60))
    steps = np.array(sorted(draw(st.sets(st.integers(-100, 1000), min_size=n, max_size=n))))
    times = np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n)))
    values = np.array(draw(st.lists(values_st, min_size=n, max_size=n)))
    return steps, times, values


def cut_points(draw: st.DrawFn, n: int) -> np.ndarray:
    cuts = draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)) if n > 1 else set()
    return np.array(sorted({0, *cuts}), dtype=np.int64)


def same(a: np.ndarray, b: np.ndarray) -> None:
    for name in rollup.UNIT_DTYPE.names or ():
        if name == "vsum":
            np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-280)
        elif name in ("vmin", "vmax", "min_time", "max_time"):
            assert (a[name] == b[name]).all(), name  # min(0.0, -0.0) may be either
        else:
            assert a[name].tobytes() == b[name].tobytes(), name


@given(series=series_st(), data=st.data())
def test_merge_of_summaries_is_summary_of_points(
    series: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    steps, times, values = series
    fine = cut_points(data.draw, len(steps))
    units = rollup.summarize(steps, times, values, fine)
    # Group the fine units, and summarise the same groups directly from the points.
    groups = np.array(
        sorted({0, *data.draw(st.sets(st.integers(0, len(fine) - 1)))}), dtype=np.int64
    )
    merged = rollup.merge(units, groups)
    direct = rollup.summarize(steps, times, values, fine[groups])
    same(merged, direct)
    whole = rollup.whole(steps, times, values)
    same(rollup.merge(units, np.zeros(1, dtype=np.int64)), whole)
    w = whole[0]
    assert w["n"] == len(steps)
    finite = values[np.isfinite(values)]
    assert w["nf"] == len(finite)
    assert w["nnan"] + w["npinf"] + w["nninf"] + w["nf"] == len(steps)
    if len(finite):
        assert w["vmin"] == finite.min() and w["vmax"] == finite.max()
    else:
        assert w["vmin"] == math.inf and w["vmax"] == -math.inf


@given(series=series_st(), n=st.integers(1, 10), axis=st.sampled_from(["step", "time"]))
def test_group_into_keeps_order_and_count(
    series: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, axis: str
) -> None:
    steps, times, values = series
    units = rollup.summarize(steps, times, values, np.arange(len(steps), dtype=np.int64))
    if axis == "step":
        lo, hi = float(steps[0]), float(steps[-1]) + 1
    else:
        lo, hi = float(times.min()), float(np.nextafter(times.max(), np.inf))
    out = rollup.group_into(units, n, lo, hi, axis)
    assert 1 <= len(out) <= n
    assert out["n"].sum() == len(steps)
    assert (out["last_step"][:-1] < out["first_step"][1:]).all()
    assert out["first_step"][0] == steps[0] and out["last_step"][-1] == steps[-1]
    if axis == "step" and len(units) > n:
        # Equal-width buckets on the step axis: each holds the steps of one slice.
        width = (hi - lo) / n
        idx = np.floor((out["first_step"] - lo) / width)
        assert (np.diff(idx) > 0).all()


def test_buckets_columns_masks_empty_min_max() -> None:
    steps = np.arange(4)
    units = rollup.summarize(steps, steps * 1.0, np.array([1.0, math.nan, 3.0, math.inf]),
                             np.arange(4, dtype=np.int64))
    cols = Buckets(units).columns()
    assert cols["min"] == [1.0, None, 3.0, None]
    assert cols["mean"] == [1.0, None, 3.0, None]
    assert cols["last"] == [1.0, "NaN", 3.0, "Infinity"]
    assert Buckets(units).count == 4 and len(Buckets(units)) == 4
    assert Buckets(np.empty(0, dtype=rollup.UNIT_DTYPE)).columns()["count"] == []


@given(series_st(), st.data())
def test_buckets_columns_are_json_exact(series: tuple[np.ndarray, np.ndarray, np.ndarray],
                                        data: st.DataObject) -> None:
    # The routes write the columns with orjson as they are (no walk spelling non-finite
    # floats): that must give what codec.dumps writes, non-finite values spelled, never null.
    import orjson

    from traindeck.store.codec import dumps

    steps, times, values = series
    cols = Buckets(rollup.summarize(steps, times, values, cut_points(data.draw, len(steps))))
    assert orjson.dumps(cols.columns()) == dumps(cols.columns())


def test_buckets_columns_spell_a_mean_that_overflowed() -> None:
    units = rollup.summarize(np.arange(2), np.array([0.0, 1.0]), np.array([1e308, 1e308]),
                             np.array([0, 1], dtype=np.int64))
    units["vsum"][0] = math.inf  # as a sum of large values would overflow
    cols = Buckets(units).columns()
    assert cols["mean"] == ["Infinity", 1e308] and cols["max"] == [1e308, 1e308]
