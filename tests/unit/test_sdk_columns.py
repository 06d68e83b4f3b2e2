"""What ``log()`` stores when the background writer takes many records at once (its
column-wise conversion, ``sdk/columns.py``): against a real SQLite store, with the
writer held off (an hour's tick, and no wake for a point after a quiet tick) so that a
whole loop's records reach it in one batch."""

from __future__ import annotations

import math
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import traindeck as td
from traindeck.sdk.columns import MIN_GROUP
from traindeck.store import Store


@pytest.fixture
def tdir(store_dir: Path) -> Path:
    return store_dir


def start(tdir: Path, nudge: bool = False, **kw: Any) -> td.Run:
    kw.setdefault("system_interval", None)
    kw.setdefault("strict", True)
    # The writer wakes only for flush() (and the run's own updates): one big batch. Its
    # wake for a point after a quiet tick (Worker.nudge) is held off too, unless `nudge`.
    run = td.init(project="p", dir=tdir, tick=3600.0, capture_console=False,
                  heartbeat_interval=3600.0, heartbeat_timeout=7200.0, **kw)
    if not nudge:
        assert run._worker is not None
        run._worker.points_at = math.inf  # points were "just" taken, for ever
    return run


def stored(store: Store, run_id: str) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for info in store.metric_keys(run_id):
        p = store.read_points(run_id, info.key)
        out[info.key] = list(zip(p.steps.tolist(), p.values.tolist(), strict=True))
    return out


def expected(logged: list[tuple[int, dict[str, float]]]) -> dict[str, list[tuple[int, float]]]:
    """What the store must hold: every key's points by step, the last one logged of a
    step that was logged twice."""
    last: dict[str, dict[int, float]] = {}
    for step, values in logged:
        for k, v in values.items():
            last.setdefault(k, {})[step] = float(v)
    return {k: sorted(by_step.items()) for k, by_step in last.items()}


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_mixed_key_sets_in_one_batch_keep_every_point_and_the_last_of_a_step(
    tdir: Path, store: Store
) -> None:
    logged: list[tuple[int, dict[str, float]]] = []
    with start(tdir) as run:
        for i in range(300):
            train = {"loss": 1.0 / (i + 1), "acc": i / 300, "lr": 1e-3}
            if i % 7 == 3:
                train = {"acc": i / 300, "loss": 1.0 / (i + 1), "lr": 1e-3}  # key order
            logged.append((i, train))
            run.log(train, step=i)
            if i % 10 == 0:  # a validation pass: other keys, lr logged again, same step
                val = {"val/loss": 2.0 / (i + 1), "lr": 2e-3}
                logged.append((i, val))
                run.log(val, step=i)
            if i % 50 == 7:  # a one-off key, and loss logged again at an earlier step
                odd = {"grad_norm": float(i), "loss": -1.0}
                logged.append((i - 5, odd))
                run.log(odd, step=i - 5)
        assert run.flush()
    got = stored(store, run.id)
    assert got == expected(logged)
    assert got["lr"][:2] == [(0, 2e-3), (1, 1e-3)]  # the validation's lr came last


def test_ints_bools_numpy_scalars_and_non_finite_values_are_stored_exactly(
    tdir: Path, store: Store
) -> None:
    nan_payload = struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]
    specials = [math.nan, nan_payload, math.inf, -math.inf, -0.0, 5e-324, 1e300]
    big_ints = [2**53 + 1, 2**63 + 1, -(2**64) + 7, 10**300]
    with start(tdir) as run:
        n = 4 * MIN_GROUP
        for i in range(n):
            run.log({
                "f": specials[i % len(specials)],
                "i": big_ints[i % len(big_ints)] if i % 3 else i,
                "b": i % 2 == 0,
                "np": [np.float32(0.1), np.int64(-3), np.float16(np.inf), np.uint8(200)][i % 4],
            }, step=i)
        assert run.flush()
    got = stored(store, run.id)
    want_f = [specials[i % len(specials)] for i in range(n)]
    assert [bits(v) for _, v in got["f"]] == [bits(v) for v in want_f]
    assert [v for _, v in got["i"]] == [float(big_ints[i % len(big_ints)]) if i % 3
                                        else float(i) for i in range(n)]
    assert [v for _, v in got["b"]] == [1.0 if i % 2 == 0 else 0.0 for i in range(n)]
    assert [v for _, v in got["np"]] == [
        [float(np.float32(0.1)), -3.0, math.inf, 200.0][i % 4] for i in range(n)]
    assert all(s == list(range(n)) for s in ([s for s, _ in c] for c in got.values()))


def test_a_value_no_float64_holds_amid_a_batch_is_reported_and_the_rest_kept(
    tdir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(tdir, strict=False) as run:
        for i in range(5 * MIN_GROUP):
            run.log({"loss": float(i), "count": 10**400 if i == 37 else i}, step=i)
        assert run.flush()
    got = stored(store, run.id)
    assert got["loss"] == [(i, float(i)) for i in range(5 * MIN_GROUP)]
    assert got["count"] == [(i, float(i)) for i in range(5 * MIN_GROUP) if i != 37]
    err = capsys.readouterr().err
    assert err.count("is not a float64") == 1 and "'count'" in err


def test_a_bad_name_or_a_step_beyond_64_bits_amid_a_batch_loses_nothing_else(
    tdir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(tdir, strict=False) as run:
        for i in range(3 * MIN_GROUP):
            values: dict[Any, float] = {"acc": i / 100}
            if 10 <= i < 10 + MIN_GROUP:  # a whole group of records with a bad name
                values["x" * 257] = 1.0
            run.log(values, step=i)
        assert run.flush()
        for i in range(3 * MIN_GROUP, 4 * MIN_GROUP):
            run.log({"acc": i / 100}, step=2**63 if i == 50 else i)  # log() takes it
        assert run.flush()
    got = stored(store, run.id)
    assert got == {"acc": [(i, i / 100) for i in range(4 * MIN_GROUP) if i != 50]}
    err = capsys.readouterr().err
    assert "metric names are strings of 1 to 256 characters" in err
    assert "step must be a 64-bit integer" in err


def test_flush_waits_for_points_logged_from_another_thread_meanwhile(
    tdir: Path, store: Store
) -> None:
    with start(tdir) as run:
        done = threading.Event()

        def other() -> None:
            for i in range(1000):
                run.log({"other": float(i)}, step=i)
            done.set()

        t = threading.Thread(target=other)
        t.start()
        for i in range(1000):
            run.log({"main": float(i)}, step=i)
        assert run.flush()
        assert [s for s, _ in stored(store, run.id)["main"]] == list(range(1000))
        t.join()
        assert done.is_set() and run.flush()
        assert [s for s, _ in stored(store, run.id)["other"]] == list(range(1000))


def test_a_point_logged_after_a_quiet_tick_is_written_without_waiting_for_the_next(
    tdir: Path, store: Store
) -> None:
    """A script logging less often than the writer's tick (here an hour) has each point
    written when it is logged; points logged less than a tick after the last ones taken
    wait for the writer's next batch together, as before."""
    from support import wait_for

    with start(tdir, nudge=True, strict=False) as run:
        assert run.flush()  # what init queued is written: nothing wakes the writer now
        run.log({"loss": 1.0}, step=0)  # nothing taken for a tick (ever): written now
        wait_for(lambda: stored(store, run.id).get("loss") == [(0, 1.0)], 30,
                 "the first point written without a flush")
        worker = run._worker
        assert worker is not None
        assert run.flush()  # that batch is counted (no heartbeat adds one: an hour apart)
        batches = worker.batches
        for i in range(1, 101):  # logged right after: not a batch each, though the
            run.log({"loss": 1.0 / (i + 1)}, step=i)  # writer could take each alone
            time.sleep(0.001)
        assert run.flush()
        assert worker.batches == batches + 1  # the flush's one batch took all 100
    assert len(stored(store, run.id)["loss"]) == 101


def test_a_pull_writes_what_the_writer_holds_without_waiting_for_its_tick(
    tdir: Path, store: Store
) -> None:
    """The remote sender pulls the writer just before it sends (``Worker.pull``): the
    points logged so far are written then, not at the next tick (an hour away here)."""
    with start(tdir) as run:
        for i in range(5):
            run.log({"loss": float(i)}, step=i)
        assert run._worker is not None
        assert run._worker.pull().wait(30)
        assert stored(store, run.id) == {"loss": [(i, float(i)) for i in range(5)]}
