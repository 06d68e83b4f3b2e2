"""Bucketed reads of a metric series against a brute-force computation in Python.

Every test writes to a real SQLite file. The chunk geometry (``chunks.CHUNK_MAX``, the
sub-block size ``rollup.SUB_BLOCK``) and the level thresholds (``chunks.RAW_FACTOR`` /
``SUB_FACTOR``) are module attributes the store reads at call time; the tests shrink them so
that a series of a hundred points spans many chunks and every read level (raw points,
sub-block rollups, whole chunks) is reached.
"""

from __future__ import annotations

import contextlib
import math
import random
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import open_test_store

from traindeck.store import Buckets, SQLiteStore, Store, chunks, packing, rollup

RUN = "r1"
KEY = "loss"

# A NaN with a payload: "bit-exact" must hold for it as well as for the default NaN.
PAYLOAD_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0123))[0]
SPECIAL = [
    math.nan, PAYLOAD_NAN, math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324, 1e300, -1e300,
    2.2250738585072014e-308,
]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@dataclass
class Geometry:
    chunk_max: int
    sub_block: int
    raw_factor: int
    sub_factor: int
    group_chunks: int = 4
    group_factor: int | None = None  # default: chunk_max * group_chunks // 2, as shipped


@contextlib.contextmanager
def geometry(g: Geometry) -> Iterator[None]:
    """Set the store's chunk geometry for the duration of one example."""
    names = ("CHUNK_MAX", "RAW_FACTOR", "SUB_FACTOR", "GROUP_CHUNKS", "GROUP_FACTOR")
    saved = [getattr(chunks, name) for name in names] + [rollup.SUB_BLOCK]
    group_factor = g.group_factor
    if group_factor is None:
        group_factor = max(g.sub_factor, g.chunk_max * g.group_chunks // 2)
    values = (g.chunk_max, g.raw_factor, g.sub_factor, g.group_chunks, group_factor)
    for name, value in zip(names, values, strict=True):
        setattr(chunks, name, value)
    rollup.SUB_BLOCK = g.sub_block  # type: ignore[misc]
    try:
        yield
    finally:
        for name, value in zip(names, saved, strict=False):
            setattr(chunks, name, value)
        rollup.SUB_BLOCK = saved[-1]  # type: ignore[misc]


@contextlib.contextmanager
def fresh_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_test_store(Path(tmp))
        try:
            store.create_run(project="p", id=RUN)
            yield store
        finally:
            store.close()


@contextlib.contextmanager
def sqlite_store() -> Iterator[SQLiteStore]:
    """A SQLite store whatever engine the suite runs on: for tests of its chunk tables."""
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "t.db") as store:
        store.create_run(project="p", id=RUN)
        yield store


Batch = list[tuple[int, float, float]]


def write(store: Store, batch: Batch, key: str = KEY) -> None:
    steps = np.array([b[0] for b in batch], dtype=np.int64)
    times = np.array([b[1] for b in batch], dtype=np.float64)
    values = np.array([b[2] for b in batch], dtype=np.float64)
    store.write_metrics(RUN, {key: (steps, times, values)})


def expected_points(batches: list[Batch]) -> dict[int, tuple[float, float]]:
    """step -> (time, value): the last write of a step wins, across and within batches."""
    out: dict[int, tuple[float, float]] = {}
    for batch in batches:
        for step, t, v in batch:
            out[step] = (t, v)
    return dict(sorted(out.items()))


def in_window(
    step: int, t: float, axis: str, lo: float | None, hi: float | None
) -> bool:
    x = step if axis == "step" else t
    return (lo is None or x >= lo) and (hi is None or x <= hi)


def check_buckets(
    b: Buckets,
    points: dict[int, tuple[float, float]],
    n: int,
    axis: str = "step",
    lo: float | None = None,
    hi: float | None = None,
) -> None:
    """Assert that ``b`` is an exact bucketing of the points of ``points`` inside the window."""
    inside = [(s, t, v) for s, (t, v) in points.items() if in_window(s, t, axis, lo, hi)]
    u = b.units
    assert len(b) <= n
    assert b.count == len(inside)
    assert int(u["n"].sum()) == len(inside)
    if not inside:
        assert len(b) == 0
        return
    assert (u["first_step"] <= u["last_step"]).all()
    assert (u["last_step"][:-1] < u["first_step"][1:]).all(), "buckets overlap or are unordered"
    cols = b.columns()
    for i in range(len(u)):
        fs, ls = int(u["first_step"][i]), int(u["last_step"][i])
        pts = [(s, t, v) for s, t, v in inside if fs <= s <= ls]
        assert int(u["n"][i]) == len(pts), f"bucket {i}: count"
        assert cols["count"][i] == len(pts)
        assert pts[0][0] == fs and pts[-1][0] == ls
        assert u["first_time"][i] == pts[0][1] and u["last_time"][i] == pts[-1][1]
        assert cols["first_time"][i] == pts[0][1] and cols["last_time"][i] == pts[-1][1]
        assert u["min_time"][i] == min(p[1] for p in pts)
        assert u["max_time"][i] == max(p[1] for p in pts)
        values = [p[2] for p in pts]
        finite = [v for v in values if math.isfinite(v)]
        assert int(u["nf"][i]) == len(finite)
        assert cols["nan"][i] == sum(1 for v in values if math.isnan(v))
        assert cols["pinf"][i] == sum(1 for v in values if v == math.inf)
        assert cols["ninf"][i] == sum(1 for v in values if v == -math.inf)
        assert bits(float(u["last_value"][i])) == bits(values[-1]), f"bucket {i}: last"
        last_col = cols["last"][i]
        if math.isfinite(values[-1]):
            assert bits(last_col) == bits(values[-1])
        else:
            assert last_col == {math.inf: "Infinity", -math.inf: "-Infinity"}.get(
                values[-1], "NaN"
            )
        if finite:
            assert cols["min"][i] == min(finite)
            assert cols["max"][i] == max(finite)
            mean = math.fsum(finite) / len(finite)
            scale = max(abs(v) for v in finite)
            assert math.isclose(cols["mean"][i], mean, rel_tol=1e-9, abs_tol=1e-12 * scale)
        else:
            assert cols["min"][i] is None and cols["max"][i] is None
            assert cols["mean"][i] is None


def level_of(total: int, n: int) -> str:
    if total <= chunks.RAW_FACTOR * n:
        return "raw"
    if total <= chunks.SUB_FACTOR * n:
        return "sub"
    return "chunk" if total <= chunks.GROUP_FACTOR * n else "group"


# -- strategies -----------------------------------------------------------------------

values_st = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False),
)
times_st = st.floats(min_value=-1e3, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def batch_st(draw: st.DrawFn) -> Batch:
    kind = draw(st.sampled_from(["random", "ascending", "block"]))
    size = draw(st.integers(1, 40))
    if kind == "random":
        steps = draw(st.lists(st.integers(-5, 80), min_size=size, max_size=size))
    elif kind == "ascending":
        start = draw(st.integers(-5, 120))
        gap = draw(st.integers(1, 3))
        steps = list(range(start, start + size * gap, gap))
    else:  # a contiguous block, shuffled: out-of-order inside one batch
        start = draw(st.integers(-5, 80))
        steps = draw(st.permutations(list(range(start, start + size))))
    return [(s, draw(times_st), draw(values_st)) for s in steps]


geometry_st = st.builds(
    Geometry,
    chunk_max=st.integers(1, 9),
    sub_block=st.integers(1, 5),
    raw_factor=st.integers(0, 4),
    sub_factor=st.integers(0, 12),
    group_chunks=st.integers(1, 4),
    group_factor=st.integers(0, 20),
).map(lambda g: Geometry(g.chunk_max, g.sub_block, g.raw_factor, g.raw_factor + g.sub_factor,
                         g.group_chunks, g.raw_factor + g.sub_factor + (g.group_factor or 0)))


@st.composite
def window_st(
    draw: st.DrawFn, points: dict[int, tuple[float, float]]
) -> tuple[str, float | None, float | None]:
    axis = draw(st.sampled_from(["step", "time"]))
    xs = sorted(points) if axis == "step" else sorted(t for t, _ in points.values())

    def bound() -> float | None:
        how = draw(st.sampled_from(["none", "existing", "any"]))
        if how == "none" or not xs:
            return None
        if how == "existing":
            return draw(st.sampled_from(xs))
        if axis == "step":
            return draw(st.integers(-10, 130))
        return draw(times_st)

    lo, hi = bound(), bound()
    if lo is not None and hi is not None and lo > hi and draw(st.booleans()):
        lo, hi = hi, lo
    return axis, lo, hi


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    g=geometry_st,
    batches=st.lists(batch_st(), min_size=1, max_size=5),
    data=st.data(),
)
def test_buckets_equal_brute_force(g: Geometry, batches: list[Batch], data: st.DataObject) -> None:
    points = expected_points(batches)
    # the run may end after a batch (its series' last chunks are grouped) and come back for
    # the next one (its points append after that group, or rewrite steps inside it)
    ends = data.draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)),
                     label="run ends after batch")
    with geometry(g), fresh_store() as store:
        for batch, end in zip(batches, ends, strict=True):
            if store.get_run(RUN).status != "running":
                store.set_status(RUN, "running")
            write(store, batch)
            if end:
                store.set_status(RUN, "completed")
        # Reads of the whole range and of several windows, each with its own n and x axis.
        for _ in range(3):
            n = data.draw(st.integers(1, 12), label="n")
            axis, lo, hi = data.draw(window_st(points), label="window")
            x = data.draw(st.sampled_from(["step", "time"]), label="x")
            if axis == "step":
                b = store.read_buckets(
                    RUN, KEY, n=n, x=x,
                    step_min=None if lo is None else int(lo),
                    step_max=None if hi is None else int(hi),
                )
            else:
                b = store.read_buckets(RUN, KEY, n=n, x=x, time_min=lo, time_max=hi)
            event(f"level={level_of(len(points), n)}")
            check_buckets(b, points, n, axis, lo, hi)
        # Raw points round-trip exactly.
        got = store.read_points(RUN, KEY)
        assert got.steps.tolist() == list(points)
        assert got.times.tolist() == [t for t, _ in points.values()]
        assert got.values.tobytes() == np.array([v for _, v in points.values()]).tobytes()
        # Chunks stay within their size and never overlap.
        assert_chunks_sane(store, g.chunk_max)


def assert_chunks_sane(store: Store, chunk_max: int) -> None:
    """The chunk rows themselves (SQLite-only: other engines keep their own layout), and
    the chunk groups: each summarises exactly the chunks that start in its range."""
    if not isinstance(store, SQLiteStore):
        return
    conn = store.core.reader()
    groups = conn.execute(
        "SELECT g.series_id, g.step_lo, g.step_end, g.n, g.unit, u.units FROM chunk_groups g "
        "JOIN chunk_group_units u USING (series_id, step_lo) "
        "ORDER BY g.series_id, g.step_lo").fetchall()
    assert len(groups) == conn.execute("SELECT count(*) FROM chunk_group_units").fetchone()[0]
    for (sid, lo, end, n, unit, units), nxt in zip(groups, [*groups[1:], None], strict=False):
        assert lo < end
        if nxt is not None and nxt[0] == sid:
            assert nxt[1] == end, "groups of a series are contiguous"
        kept = np.frombuffer(units, dtype=rollup.UNIT_DTYPE)
        starts = [r[0] for r in conn.execute(
            "SELECT step_lo FROM all_chunks WHERE series_id = ? AND step_lo >= ? AND step_lo < ? "
            "ORDER BY step_lo", (sid, lo, end))]
        assert kept["first_step"].tolist() == starts
        whole = np.frombuffer(unit, dtype=rollup.UNIT_DTYPE)
        assert int(whole["n"][0]) == n == int(kept["n"].sum())
        assert bits(float(whole["vsum"][0])) == bits(float(rollup.merge(
            kept, np.zeros(1, dtype=np.int64))["vsum"][0]))
    assert_sub_units_kept_once(conn)
    rows = conn.execute(
        # full chunks and open ones (migration 13) alike: together they never overlap
        "SELECT series_id, step_lo, step_hi, n, stride, steps FROM all_chunks "
        "ORDER BY series_id, step_lo"
    ).fetchall()
    for (sid, lo, hi, n, stride, steps), nxt in zip(rows, [*rows[1:], None], strict=True):
        assert 1 <= n <= chunk_max
        assert lo <= hi
        if stride:
            assert hi == lo + (n - 1) * stride and steps == b""
        if nxt is not None and nxt[0] == sid:
            assert hi < nxt[1]


def assert_sub_units_kept_once(conn: Any) -> None:
    """A packed full chunk's sub-block units are kept in exactly one place (its own row of
    ``chunk_rollups``, or its group's ``chunk_group_subs``) and are exactly those of its
    points; a group keeps no units of any chunk it does not hold."""
    subs = {(sid, lo): packing.unpack_units(b, packing.PCODEC) for sid, lo, b in conn.execute(
        "SELECT series_id, step_lo, subs FROM chunk_group_subs")}
    ends = {(sid, lo): end for sid, lo, end in conn.execute(
        "SELECT series_id, step_lo, step_end FROM chunk_groups")}
    assert set(subs) <= set(ends)
    own = {(sid, lo) for sid, lo in conn.execute("SELECT series_id, step_lo FROM chunk_rollups")}
    kept: dict[tuple[int, int], int] = dict.fromkeys(subs, 0)
    for sid, lo, hi, *row in conn.execute(
            f"SELECT series_id, step_lo, step_hi, {chunks.ROW_COLS} FROM chunks WHERE codec = ?",
            (packing.PCODEC,)).fetchall():
        p = chunks.decode(*row)
        want = rollup.sub_blocks(p.steps, p.times, p.values).tobytes()
        group = next(((s, g) for (s, g), end in ends.items() if s == sid and g <= lo < end), None)
        units = subs.get(group) if group else None
        mine = b""
        if units is not None:
            a, b = np.searchsorted(units["first_step"], [lo, hi + 1]).tolist()
            mine = units[a:b].tobytes()
            kept[group] += b - a  # type: ignore[index]
        if (sid, lo) in own:
            assert mine == b"", "a chunk's units are kept twice"
            blob = conn.execute("SELECT rollup FROM chunk_rollups WHERE series_id = ? "
                                "AND step_lo = ?", (sid, lo)).fetchone()[0]
            assert packing.unpack_units(blob, packing.PCODEC).tobytes() == want
        else:
            assert mine == want, "a grouped chunk's units are its group's"
    for key, units in subs.items():
        assert kept[key] == len(units), "a group keeps units of no other chunk"


# -- every level, deterministically ---------------------------------------------------


@pytest.fixture
def small_geometry() -> Iterator[Geometry]:
    g = Geometry(chunk_max=16, sub_block=4, raw_factor=4, sub_factor=32, group_factor=96)
    with geometry(g):
        yield g


def random_series(rng: random.Random, n_steps: int, holes: bool = True) -> Batch:
    steps = [s for s in range(n_steps) if not holes or rng.random() > 0.1]
    out = []
    t = 1_000.0
    for s in steps:
        t += rng.choice([0.5, 1.0, 1.0, -0.25])  # wall time mostly grows, not always
        v = rng.choice(SPECIAL) if rng.random() < 0.05 else rng.gauss(0.0, 10.0)
        out.append((s, t, v))
    return out


@pytest.mark.parametrize("n", [1, 7, 40, 200, 600])
@pytest.mark.parametrize("order", ["ascending", "shuffled", "reversed_batches"])
def test_every_level_every_window(
    small_geometry: Geometry, n: int, order: str
) -> None:
    rng = random.Random(n * 31 + len(order))
    series = random_series(rng, 700)
    if order == "shuffled":
        rng.shuffle(series)
    batches = [series[i:i + 97] for i in range(0, len(series), 97)]
    if order == "reversed_batches":
        batches.reverse()
    points = expected_points(batches)
    with fresh_store() as store:
        for batch in batches:
            write(store, batch)
        assert_chunks_sane(store, small_geometry.chunk_max)
        windows: list[tuple[str, float | None, float | None]] = [
            ("step", None, None), ("step", 5, 600), ("step", 333, 333), ("step", 17, None),
            ("step", None, 40), ("step", 700, 800), ("step", 50, 10),
            ("time", None, None), ("time", 1_100.0, 1_300.0), ("time", 1_250.5, None),
        ]
        for axis, lo, hi in windows:
            for x in ("step", "time"):
                if axis == "step":
                    b = store.read_buckets(RUN, KEY, n=n, x=x, step_min=lo, step_max=hi)  # type: ignore[arg-type]
                else:
                    b = store.read_buckets(RUN, KEY, n=n, x=x, time_min=lo, time_max=hi)
                check_buckets(b, points, n, axis, lo, hi)


def test_levels_are_all_reached(small_geometry: Geometry) -> None:
    """The thresholds in the deterministic test above do pick each level."""
    assert {level_of(640, n) for n in (1, 7, 40, 200, 600)} == {"raw", "sub", "chunk", "group"}


def test_production_geometry_against_numpy() -> None:
    """The shipped constants, a 60k-point series with rewrites, checked with numpy."""
    rng = np.random.default_rng(7)
    n_points = 60_000
    steps = np.arange(n_points, dtype=np.int64) * 2
    times = 1e9 + np.cumsum(rng.uniform(0.0, 1.0, n_points))
    values = rng.normal(size=n_points)
    values[rng.choice(n_points, 50, replace=False)] = np.nan
    values[rng.choice(n_points, 20, replace=False)] = np.inf
    with fresh_store() as store:
        for i in range(0, n_points, 7_000):
            sl = slice(i, i + 7_000)
            store.write_metrics(RUN, {KEY: (steps[sl], times[sl], values[sl])})
        # Rewrite a stretch in the middle (out of order, across chunk boundaries) and fill holes.
        re_idx = np.arange(20_000, 31_000)
        values[re_idx] = -values[re_idx]
        store.write_metrics(RUN, {KEY: (steps[re_idx][::-1], times[re_idx][::-1],
                                        values[re_idx][::-1])})
        odd = np.arange(1, 4_001, 2, dtype=np.int64)
        odd_t = 1e9 + odd.astype(np.float64) / 4
        odd_v = np.full(len(odd), 3.5)
        store.write_metrics(RUN, {KEY: (odd, odd_t, odd_v)})
        all_steps = np.concatenate([steps, odd])
        all_times = np.concatenate([times, odd_t])
        all_values = np.concatenate([values, odd_v])
        order = np.argsort(all_steps)
        points = dict(zip(all_steps[order].tolist(),
                          zip(all_times[order].tolist(), all_values[order].tolist(),
                              strict=True), strict=True))
        for n in (1, 3, 100, 1000, 5000):
            for lo, hi in [(None, None), (1_000, 1_100), (10_001, 90_000), (119_990, None)]:
                b = store.read_buckets(RUN, KEY, n=n, step_min=lo, step_max=hi)
                check_buckets_np(b, points, lo, hi, n)


def check_buckets_np(
    b: Buckets, points: dict[int, tuple[float, float]], lo: int | None, hi: int | None, n: int
) -> None:
    """A vectorised version of ``check_buckets`` for larger series (step windows)."""
    s = np.fromiter(points, dtype=np.int64)
    v = np.array([p[1] for p in points.values()])
    t = np.array([p[0] for p in points.values()])
    m = np.ones(len(s), dtype=bool)
    if lo is not None:
        m &= s >= lo
    if hi is not None:
        m &= s <= hi
    s, v, t = s[m], v[m], t[m]
    u = b.units
    assert len(b) <= n
    assert b.count == len(s)
    assert (u["last_step"][:-1] < u["first_step"][1:]).all()
    left = np.searchsorted(s, u["first_step"], side="left")
    right = np.searchsorted(s, u["last_step"], side="right")
    assert (right - left == u["n"]).all()
    for i in range(len(u)):
        vv = v[left[i]:right[i]]
        fin = vv[np.isfinite(vv)]
        assert u["nf"][i] == len(fin)
        assert u["nnan"][i] == np.isnan(vv).sum()
        assert u["npinf"][i] == (vv == np.inf).sum()
        if len(fin):
            assert u["vmin"][i] == fin.min() and u["vmax"][i] == fin.max()
            assert math.isclose(u["vsum"][i] / len(fin), math.fsum(fin) / len(fin),
                                rel_tol=1e-9, abs_tol=1e-9)
        assert bits(float(u["last_value"][i])) == bits(float(vv[-1]))
        assert u["first_time"][i] == t[left[i]] and u["last_time"][i] == t[right[i] - 1]


def test_empty_and_missing_windows(small_geometry: Geometry) -> None:
    with fresh_store() as store:
        write(store, [(s, float(s), float(s)) for s in range(10, 50)])
        assert len(store.read_buckets(RUN, KEY, step_min=100)) == 0
        assert len(store.read_buckets(RUN, KEY, step_max=9)) == 0
        assert len(store.read_buckets(RUN, KEY, step_min=30, step_max=20)) == 0
        assert len(store.read_buckets(RUN, KEY, time_min=1e6)) == 0
        assert store.read_buckets(RUN, KEY, n=1).columns()["count"] == [40]


def test_sqlite_appending_point_by_point_rewrites_small_open_chunks_then_full_ones() -> None:
    # a training loop: one point a flush. The open chunks (migration 13) take them, and
    # each whole CHUNK_MAX becomes one full chunk; what is read is exact throughout.
    g = Geometry(chunk_max=64, sub_block=4, raw_factor=4, sub_factor=32)
    with geometry(g), sqlite_store() as store:
        values = np.sin(np.arange(1000) * 0.1)
        values[[7, 300]] = [math.nan, math.inf]
        for step, v in enumerate(values):
            store.write_metrics(RUN, {KEY: ([step], [1e9 + step], [v])})
        conn = store.core.reader()
        full = conn.execute("SELECT n FROM chunks").fetchall()
        open_ = conn.execute("SELECT n FROM open_chunks").fetchall()
        assert full and all(n == 64 for (n,) in full)
        assert open_ and all(n < 64 for (n,) in open_)
        assert sum(n for (n,) in full + open_) == 1000
        assert len(open_) <= 64 // chunks.tail_max() + 1  # bounded, whatever the length
        assert_chunks_sane(store, 64)
        got = store.read_points(RUN, KEY)
        assert got.steps.tolist() == list(range(1000))
        assert got.values.tobytes() == values.tobytes()
        b = store.read_buckets(RUN, KEY, n=7).columns()
        assert sum(b["count"]) == 1000 and sum(b["nan"]) == 1 and sum(b["pinf"]) == 1


def test_sqlite_a_partial_chunk_among_the_full_ones_takes_appends_and_moves() -> None:
    # a file written before migration 13 keeps its last, partial chunk in `chunks`
    g = Geometry(chunk_max=64, sub_block=4, raw_factor=4, sub_factor=32)
    with geometry(g), sqlite_store() as store:
        store.write_metrics(RUN, {KEY: (np.arange(65), 1e9 + np.arange(65), np.arange(65.0))})
        with store.core.write() as tx:
            tx.execute("INSERT INTO chunks SELECT * FROM open_chunks")
            tx.execute("DELETE FROM open_chunks")
        assert store.core.reader().execute(
            "SELECT n FROM chunks ORDER BY step_lo").fetchall() == [(64,), (1,)]
        for step in range(65, 200):
            store.write_metrics(RUN, {KEY: ([step], [1e9 + step], [float(step)])})
        assert_chunks_sane(store, 64)
        got = store.read_points(RUN, KEY)
        assert got.values.tolist() == [float(s) for s in range(200)]
        assert store.core.reader().execute(
            "SELECT count(*) FROM chunks WHERE n < 64").fetchone() == (0,)


@pytest.mark.parametrize("seed", range(6))
def test_many_keys_appended_together_read_as_written(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a live run: every flush appends a few points to each of many keys in one write (the
    # store reads all their tails at once), with now and then a step logged again, an
    # old file's partial chunk among the full ones, and chunk groups at the tail
    g = Geometry(chunk_max=8, sub_block=2, raw_factor=2, sub_factor=4, group_chunks=2)
    monkeypatch.setattr(chunks, "TAIL_PARTS", 2)  # open chunks of up to 4 points take appends
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(7)]
    expected: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in keys}
    with geometry(g), sqlite_store() as store:
        step = 0
        for flush in range(120):
            batch: dict[str, tuple[list[int], list[float], list[float]]] = {}
            for k in keys:
                if rng.random() < 0.2:
                    continue  # this key logs nothing this flush
                n = rng.choice([1, 1, 1, 2, 3, 9])
                steps = list(range(step, step + n))
                if rng.random() < 0.1 and step > 20:  # a step logged again, in the middle
                    steps = [rng.randrange(step - 20, step), *steps]
                vals = [rng.choice(SPECIAL) if rng.random() < 0.05 else rng.gauss(0, 5)
                        for _ in steps]
                times = [1e9 + s + rng.random() for s in steps]
                batch[k] = (steps, times, vals)
                for s, t, v in zip(steps, times, vals, strict=True):
                    expected[k][s] = (t, v)
            step += 3
            if batch:
                store.write_metrics(RUN, {k: (np.array(s, dtype=np.int64), np.array(t),
                                              np.array(v)) for k, (s, t, v) in batch.items()})
            if flush == 40:  # as a file written before migration 13 keeps it
                with store.core.write() as tx:
                    tx.execute("INSERT INTO chunks SELECT * FROM open_chunks WHERE series_id = 1")
                    tx.execute("DELETE FROM open_chunks WHERE series_id = 1")
        assert_chunks_sane(store, g.chunk_max)
        assert store.core.reader().execute("SELECT count(*) FROM chunk_groups").fetchone()[0]
        for k in keys:
            points = dict(sorted(expected[k].items()))
            got = store.read_points(RUN, k)
            assert got.steps.tolist() == list(points)
            assert got.values.tobytes() == np.array([v for _, v in points.values()]).tobytes()
            for n in (1, 3, 50):
                check_buckets(store.read_buckets(RUN, k, n=n), points, n)


def test_the_largest_step_is_read_in_a_time_window_of_a_grouped_series() -> None:
    # groups bound a time window's chunk summaries to ranges of steps: the last range runs
    # to the end, the largest step included
    g = Geometry(chunk_max=8, sub_block=2, raw_factor=2, sub_factor=4, group_chunks=2)
    with geometry(g), sqlite_store() as store:
        batches = [[(s, 1e9 + s, float(s)) for s in range(100)], [(2**63 - 1, 1e9 + 100, 7.0)]]
        for batch in batches:
            write(store, batch)  # the second a chunk of its own, starting at the largest step
        conn = store.core.reader()
        assert conn.execute("SELECT count(*) FROM chunk_groups").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM all_chunks WHERE step_lo = ?",
                            (2**63 - 1,)).fetchone() == (1,)
        points = expected_points(batches)
        for n in (1, 5, 200):
            b = store.read_buckets(RUN, KEY, n=n, time_min=1e9 + 50, time_max=1e9 + 200)
            check_buckets(b, points, n, "time", 1e9 + 50, 1e9 + 200)
