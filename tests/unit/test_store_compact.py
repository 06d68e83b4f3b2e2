"""Compressed chunks (schema 14): a store an older traindeck wrote (raw chunks, no chunk
groups) opens and reads as before, and ``traindeck store compact`` packs it and makes its
groups, resumably, without changing a single value or bucket. The same for a store written
before schema 15, whose groups' sub-block units are still a row a chunk."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import make_v13_store, make_v14_store

from traindeck.store import SQLiteStore, chunks, group_rows, packing, rollup

RUN = "r"
PAYLOAD_NAN = np.frombuffer(np.array([0x7FF8_0000_0000_0123], dtype="<u8").tobytes(), "<f8")[0]


def series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = np.arange(n, dtype=np.int64) * 2
    times = 1.7e9 + np.cumsum(rng.uniform(0.05, 0.15, n))
    values = (2.0 / np.sqrt(1.0 + steps / 1e4) + rng.normal(0.0, 0.05, n)).astype(np.float32)
    v = values.astype(np.float64)
    v[[5, n // 3]] = [math.nan, PAYLOAD_NAN]
    v[[6, n // 2]] = [math.inf, -math.inf]
    return steps, times, v


def snapshot(store: SQLiteStore) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in ("a", "b"):
        p = store.read_points(RUN, key)
        out[key] = (p.steps.tobytes(), p.times.tobytes(), p.values.tobytes())
        for n in (1, 50, 1000):
            for lo, hi in ((None, None), (1000, 90_000), (123_457, None)):
                out[f"{key}/{n}/{lo}/{hi}"] = store.read_buckets(
                    RUN, key, n=n, step_min=lo, step_max=hi).units.tobytes()
            out[f"{key}/{n}/time"] = store.read_buckets(
                RUN, key, n=n, time_min=1.7e9 + 500.0, time_max=1.7e9 + 20_000.0,
                x="time").units.tobytes()
    return out


def fill(path: Path, sizes: tuple[tuple[str, int], ...], batch: int) -> None:
    """A store at ``path`` with one run of ``series`` of these sizes, written ``batch``
    points at a time."""
    with SQLiteStore(path) as store:
        store.create_run(project="p", id=RUN)
        for key, n in sizes:
            s, t, v = series(n, seed=n)
            for i in range(0, n, batch):
                store.write_metrics(RUN, {key: (s[i:i + batch], t[i:i + batch],
                                                v[i:i + batch])})


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "traindeck.db"
    fill(path, (("a", 300_000), ("b", 9_000)), batch=100_000)
    make_v13_store(path)
    return path


def test_full_chunks_are_packed_and_grouped(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "t.db") as store:
        store.create_run(project="p", id=RUN)
        s, t, v = series(300_000, seed=1)
        store.write_metrics(RUN, {"a": (s, t, v)})
        conn = store.core.reader()
        assert conn.execute("SELECT DISTINCT codec FROM chunks").fetchall() == [(1,)]
        raw_bytes, packed = conn.execute(
            "SELECT sum(n) * 16, sum(length(times) + length(vals)) FROM chunks").fetchone()
        assert packed < raw_bytes / 2  # float32-sourced values, steady wall times
        # a whole group of 64 chunks, then one of the 9 full chunks after it (a tail of 8
        # or more is grouped too, the run live or not); the open chunk stays out
        full = 300_000 // chunks.CHUNK_MAX
        sizes = [chunks.GROUP_CHUNKS, full - chunks.GROUP_CHUNKS]
        groups = conn.execute("SELECT n FROM chunk_groups ORDER BY step_lo").fetchall()
        assert groups == [(k * chunks.CHUNK_MAX,) for k in sizes]
        # each group keeps its chunks' sub-block units in one row; no full chunk keeps a
        # row of its own
        subs = conn.execute("SELECT subs FROM chunk_group_subs ORDER BY step_lo").fetchall()
        assert [len(packing.unpack_units(b, packing.PCODEC)) for (b,) in subs] == [
            k * chunks.CHUNK_MAX // rollup.SUB_BLOCK for k in sizes]
        assert conn.execute("SELECT count(*) FROM chunk_rollups").fetchone() == (0,)
        got = store.read_points(RUN, "a")
        assert got.values.tobytes() == v.tobytes()  # NaN payloads and ±Inf bit for bit
        assert got.times.tobytes() == t.tobytes() and got.steps.tolist() == s.tolist()


def test_sqlite_an_old_store_reads_the_same_before_and_after_compacting(old_store: Path) -> None:
    with SQLiteStore(old_store) as store:  # migrates to 14 on open: still raw, no groups
        conn = store.core.reader()
        assert conn.execute("SELECT DISTINCT codec FROM all_chunks").fetchall() == [(0,)]
        assert conn.execute("SELECT count(*) FROM chunk_groups").fetchone() == (0,)
        before = snapshot(store)
    proc = subprocess.run([sys.executable, "-m", "traindeck.cli", "store", "compact",
                           "--dir", str(old_store)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "chunks packed" in proc.stdout and "chunk groups made" in proc.stdout
    with SQLiteStore(old_store) as store:
        conn = store.core.reader()
        assert conn.execute("SELECT count(*) FROM chunks WHERE codec = 0").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM chunk_groups").fetchone()[0] >= 1
        assert snapshot(store) == before
        # new points after the compaction go on as usual
        store.write_metrics(RUN, {"a": ([10**9], [1.8e9], [1.5])})
        assert store.read_buckets(RUN, "a", n=1).count == 300_001


def test_an_interrupted_compaction_goes_on_where_it_stopped(old_store: Path) -> None:
    with SQLiteStore(old_store) as store:
        before = snapshot(store)
        seen: list[tuple[int, int]] = []

        def stop_after_a_batch(done: int, total: int) -> None:
            seen.append((done, total))
            if done > 0:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            store.compact_metrics(stop_after_a_batch, batch=16)
        conn = store.core.reader()
        packed, left = (conn.execute("SELECT count(*) FROM chunks WHERE codec = ?", (c,))
                        .fetchone()[0] for c in (1, 0))
        assert packed == 16 and left > 0  # what it did is kept
        assert snapshot(store) == before  # mixed raw and packed chunks read the same
        calls: list[tuple[int, int]] = []
        result = store.compact_metrics(lambda d, t: calls.append((d, t)), batch=16)
        assert result.chunks_repacked == left and result.groups_made >= 1
        assert calls[-1][0] == calls[-1][1]  # the progress reached its total
        assert snapshot(store) == before


def test_a_finished_runs_last_points_are_packed(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "t.db") as store:
        store.create_run(project="p", id=RUN, status="running")
        s, t, v = series(1_000, seed=3)
        store.write_metrics(RUN, {"long": (s, t, v), "short": (s[:10], t[:10], v[:10])})
        conn = store.core.reader()
        codecs = "SELECT n, codec FROM open_chunks ORDER BY n"
        assert conn.execute(codecs).fetchall() == [(10, 0), (1_000, 0)]
        store.set_status(RUN, "completed")
        # a few points are not worth packing; the long tail is, and reads back bit for bit
        assert conn.execute(codecs).fetchall() == [(10, 0), (1_000, 1)]
        got = store.read_points(RUN, "long")
        assert got.values.tobytes() == v.tobytes() and got.times.tobytes() == t.tobytes()
        assert store.read_buckets(RUN, "long", n=7).count == 1_000
        # a run that comes back appends to its packed tail as to any other
        store.set_status(RUN, "running")
        store.write_metrics(RUN, {"long": ([5_000], [1.9e9], [0.5])})
        assert len(store.read_points(RUN, "long")) == 1_001


def test_a_store_from_before_schema_15_reads_the_same_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "traindeck.db"
    fill(path, (("a", 600_000), ("b", 9_000)), batch=600_000)
    with SQLiteStore(path) as store:
        before = snapshot(store)
        grouped = store.core.reader().execute(
            "SELECT count(*) FROM chunk_group_subs").fetchone()[0]
    assert grouped == 3  # 600k points: 146 full chunks, in groups of 64, 64 and 18
    make_v14_store(path)
    with SQLiteStore(path) as store:  # migrates to 15: the groups keep no units yet
        conn = store.core.reader()
        assert conn.execute("SELECT count(*) FROM chunk_group_subs").fetchone() == (0,)
        assert snapshot(store) == before  # read from the chunks' own rows
        result = store.compact_metrics()
        assert (result.chunks_repacked, result.groups_made, result.groups_updated) == (0, 0, 3)
        assert conn.execute("SELECT count(*) FROM chunk_group_subs").fetchone() == (3,)
        ungrouped = 9_000 // chunks.CHUNK_MAX  # b's 2 full chunks: too few for a group
        assert conn.execute("SELECT count(*) FROM chunk_rollups").fetchone() == (ungrouped,)
        assert snapshot(store) == before
        # points logged again inside a group: it takes the rewritten chunks' units
        s, t, v = series(600_000, seed=600_000)
        store.write_metrics(RUN, {"a": (s[1000:9000], t[1000:9000], v[1000:9000] + 1.0)})
        assert conn.execute("SELECT count(*) FROM chunk_rollups").fetchone() == (ungrouped,)
        got = {n: store.read_buckets(RUN, "a", n=n).units.tobytes() for n in (50, 1000, 5000)}
        points = store.read_points(RUN, "a")
    # ... and reads exactly like a store that was written those points at once
    with SQLiteStore(tmp_path / "fresh.db") as fresh:
        fresh.create_run(project="p", id=RUN)
        fresh.write_metrics(RUN, {"a": (points.steps, points.times, points.values)})
        assert got == {n: fresh.read_buckets(RUN, "a", n=n).units.tobytes()
                       for n in (50, 1000, 5000)}
        assert got[1000] != before["a/1000/None/None"]  # the rewrite shows


def rollup_rows(store: SQLiteStore) -> int:
    """Chunks whose sub-block units still have a row of their own."""
    return int(store.core.reader().execute("SELECT count(*) FROM chunk_rollups").fetchone()[0])


def group_count(store: SQLiteStore) -> int:
    return int(store.core.reader().execute("SELECT count(*) FROM chunk_groups").fetchone()[0])


def test_the_last_full_chunks_are_grouped_from_eight_and_that_group_grows(
        tmp_path: Path) -> None:
    """The full chunks after a series' last group (each a row a read decodes) are grouped
    once there are 8 or more, whether the run is live or ended; later ones grow that group
    (up to 64 chunks) rather than making small ones, across an end and a resume."""
    path = tmp_path / "traindeck.db"
    fill(path, (("a", 300_000), ("b", 9_000)), batch=50_000)  # a live run
    with SQLiteStore(path) as store:
        tail_b = 9_000 // chunks.CHUNK_MAX  # 2: too few to be worth a group
        # a: 73 full chunks, a group of 64 and one of the 9 after it, made while live
        assert rollup_rows(store) == tail_b
        assert group_count(store) == 2
        before = snapshot(store)
        store.set_status(RUN, "completed")
        assert (rollup_rows(store), group_count(store)) == (tail_b, 2)
        assert snapshot(store) == before
        # it comes back and logs ten more chunks: a's last group takes them as they fill
        store.set_status(RUN, "running")
        s, t, v = series(340_000, seed=340_000)
        s, t, v = s[300_000:] + 2 * 300_000, t[300_000:] + 1e5, v[300_000:]
        for lo in range(0, len(s), 4_000):
            store.write_metrics(RUN, {"a": (s[lo:lo + 4_000], t[lo:lo + 4_000],
                                            v[lo:lo + 4_000])})
            assert rollup_rows(store) < tail_b + 8  # never 8 full chunks ungrouped
        assert group_count(store) == 2
        store.set_status(RUN, "completed")
        assert group_count(store) == 2
        got = {n: store.read_buckets(RUN, "a", n=n).units.tobytes() for n in (50, 1000, 5000)}
        points = store.read_points(RUN, "a")
    with SQLiteStore(tmp_path / "fresh.db") as fresh:  # as if written at once, never ended
        fresh.create_run(project="p", id=RUN)
        fresh.write_metrics(RUN, {"a": (points.steps, points.times, points.values)})
        assert got == {n: fresh.read_buckets(RUN, "a", n=n).units.tobytes()
                       for n in (50, 1000, 5000)}


def test_compact_groups_the_last_chunks_an_older_traindeck_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Series written before tails of 8 full chunks were grouped as they filled (a live
    series grouped only 64 at a time, an ended one only when it ended): ``compact`` groups
    them, live or ended, and reads stay the same."""
    path = tmp_path / "traindeck.db"
    with SQLiteStore(path) as store:
        with monkeypatch.context() as m:
            m.setattr(group_rows, "TAIL_DIVISOR", 1)  # what that traindeck did
            store.create_run(project="p", id=RUN, status="completed")
            store.create_run(project="p", id="live")
            cut = chunks.CHUNK_MAX * chunks.GROUP_CHUNKS  # a group's worth, then the rest
            for run in (RUN, "live"):
                for key, n in (("a", 300_000), ("b", 9_000)):
                    s, t, v = series(n, seed=n)
                    store.write_metrics(run, {key: (s[:cut], t[:cut], v[:cut])})
                    store.write_metrics(run, {key: (s[cut:], t[cut:], v[cut:])})
        before = snapshot(store)
        tail_a = 300_000 // chunks.CHUNK_MAX - chunks.GROUP_CHUNKS  # 9
        tail_b = 9_000 // chunks.CHUNK_MAX  # too few to be grouped
        assert rollup_rows(store) == 2 * (tail_a + tail_b)
        assert store.compact_metrics().groups_made == 2
        assert rollup_rows(store) == 2 * tail_b
        assert snapshot(store) == before
        assert store.compact_metrics().groups_made == 0  # nothing left to do
