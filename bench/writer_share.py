"""How much of the training thread's time the run's background writer takes, and where
the writer's own time goes (embedded mode, a real SQLite store).

A loop of ``--steps`` ``run.log(m, step=i)`` calls of 5 realistic scalars (the dicts of
``bench/peers_side_by_side.py``, precomputed: a noisy decaying loss, an accuracy and a
gradient norm as float32-sourced floats, a cosine learning rate, an int epoch) is timed
three ways, ``--reps`` times each, interleaved:

- ``with_writer``: as in training; the writer drains every ``tick`` (0.05 s) meanwhile.
  ``loop_us_per_step`` is the loop's wall time / steps.
- ``enqueue_only``: the same loop with the writer held off (``tick`` of an hour: it
  wakes only at ``flush()``), timed in slices of ``--chunk`` steps with an untimed
  ``flush()`` between two (so the queue never holds more than a tick's worth, as with
  the writer running: a queue of all 100k records costs the loop more in allocation and
  garbage collection than the writer does), i.e. what ``log()`` itself costs.
- ``phases``: as ``with_writer``, with the writer's phases timed on its own thread
  (``time.thread_time`` around them; wrappers installed by this script, none in the SDK):
  ``drain`` (taking records off ``log()``'s queue), ``convert`` (records to columns and
  arrays), ``store_check`` (the store's ``chunks.prepare_many``: checks, sort, dedup),
  ``store_encode`` (``chunk_rows.write_series``: chunk encoding and its SQL),
  ``store_other`` (the rest of ``write_metrics``: series rows, summary, commit),
  ``other`` (the rest of the writer thread: its loop, commands, heartbeats).

The loop's own thread is split with the kernel's ``/proc/thread-self/schedstat`` into
time on a CPU, time runnable but preempted (other processes: a loaded machine) and time
blocked (waiting for the GIL the writer holds); ``*_unloaded`` figures are CPU + blocked,
what the loop costs on an otherwise idle machine.

The writer thread's CPU time (``pthread_getcpuclockid``) is measured from the first
``log()`` until ``flush()`` returns, per point. ``writer_share_us_per_step`` is the
loop's cost with the writer running less the enqueue-only cost: the training thread's
time lost to the writer (mostly waiting for the GIL it holds). Medians of the reps.
Prints one JSON object.

    .venv/bin/python bench/writer_share.py [--steps 100000] [--reps 3] [--chunk 10000] [--tick 0.05]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _workload import training_metrics

import traindeck as td

KEYS = ("loss", "acc", "lr", "grad_norm", "epoch")


class Phases:
    """Self CPU time of nested phases on the thread that runs them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[float]] = []  # [start, children]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.thread_time

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [clock(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                spent = clock() - frame[0]
                self.seconds[name] = self.seconds.get(name, 0.0) + spent - frame[1]
                self.calls[name] = self.calls.get(name, 0) + 1
                if self._stack:
                    self._stack[-1][1] += spent

        return timed


@contextmanager
def patched(phases: Phases) -> Iterator[None]:
    """Wrap the store's and the SDK's phase functions (those that exist) for the block."""
    targets = [
        ("traindeck.store.chunks", "prepare", "store_check"),  # trees before fa12022
        ("traindeck.store.chunks", "prepare_many", "store_check"),
        ("traindeck.store.chunk_rows", "write_series", "store_encode"),
        ("traindeck.store.metric_rows", "MetricTable.write_metrics", "store_other"),
        ("traindeck.sdk.worker", "Worker._drain_queue", "drain"),
        ("traindeck.sdk.worker", "Worker._flush", "convert"),  # its own time: arrays
        ("traindeck.sdk.columns", "Columns.add_records", "convert"),
        ("traindeck.sdk.columns", "Columns.arrays", "convert"),
    ]
    undo: list[tuple[Any, str, Any]] = []
    for module_name, attr, phase in targets:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, name):
            continue
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        undo.append((owner, name, original))
        setattr(owner, name, phases.wrap(phase, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def sched() -> tuple[float, float]:
    """This thread's time on a CPU and waiting for one (runnable), seconds: the kernel's
    ``schedstat`` (the rest of its wall time it was blocked: on the GIL, here)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting, _ = f.read().split()
    except (OSError, ValueError):
        return math.nan, math.nan
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def one(mode: str, metrics: list[dict[str, Any]], tmp: str, chunk: int,
        tick: float) -> dict[str, Any]:
    steps = len(metrics)
    phases = Phases()
    with patched(phases) if mode == "phases" else _nothing():
        run = td.init(project="bench", name=f"writer_share_{mode}", dir=tmp,
                      system_interval=None, capture_console=False,
                      tick=3600.0 if mode == "enqueue_only" else tick)
        worker = run._worker  # the writer thread, to read its CPU clock
        assert worker is not None and worker.ident is not None
        cpu_clock = time.pthread_getcpuclockid(worker.ident)
        log = run.log
        cpu0 = time.clock_gettime(cpu_clock)
        t0 = time.perf_counter()
        if mode != "enqueue_only":
            on0, wait0 = sched()
            for i, m in enumerate(metrics):
                log(m, step=i)
            loop = time.perf_counter() - t0
            on1, wait1 = sched()
            on, runnable = on1 - on0, wait1 - wait0
        else:  # slices of `chunk` steps, each written (untimed) before the next
            loop = on = runnable = 0.0
            for lo in range(0, steps, chunk):
                on0, wait0 = sched()
                t1 = time.perf_counter()
                for i, m in enumerate(metrics[lo:lo + chunk], lo):
                    log(m, step=i)
                loop += time.perf_counter() - t1
                on1, wait1 = sched()
                on += on1 - on0
                runnable += wait1 - wait0
                run.flush(timeout=600)
        ok = run.flush(timeout=600)
        durable = time.perf_counter() - t0
        cpu = time.clock_gettime(cpu_clock) - cpu0
        batches = worker.batches
        run.finish()
    if not ok:
        raise SystemExit("flush timed out")
    points = steps * len(KEYS)
    out: dict[str, Any] = {
        "loop_us_per_step": loop / steps * 1e6,
        # The loop's thread: on a CPU, blocked (the GIL), runnable but preempted.
        "loop_cpu_us_per_step": on / steps * 1e6,
        "loop_blocked_us_per_step": max(loop - on - runnable, 0.0) / steps * 1e6,
        "loop_preempted_us_per_step": runnable / steps * 1e6,
        "durable_s": durable,
        "writer_cpu_ns_per_point": cpu / points * 1e9,
        "writer_batches": batches,
    }
    if mode == "phases":
        known = sum(phases.seconds.values())
        split = {k: v / points * 1e9 for k, v in phases.seconds.items()}
        split["other"] = max(cpu - known, 0.0) / points * 1e9
        out["ns_per_point"] = split
        out["calls"] = dict(phases.calls)
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in results[0].items():
        if isinstance(v, dict) and k == "ns_per_point":
            names = {n for r in results for n in r[k]}
            out[k] = {n: round(statistics.median(r[k].get(n, 0.0) for r in results), 1)
                      for n in sorted(names)}
        elif isinstance(v, dict):
            out[k] = v
        else:
            m = statistics.median(r[k] for r in results)
            out[k] = round(m, 3) if isinstance(m, float) else m
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=10_000,
                    help="enqueue_only: steps logged between two (untimed) writes")
    ap.add_argument("--tick", type=float, default=0.05,
                    help="the writer's tick (td.init(tick=...); 0.05 s by default)")
    args = ap.parse_args()
    metrics = training_metrics(args.steps)
    modes = ("with_writer", "enqueue_only", "phases")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.reps):
        for mode in modes:
            with tempfile.TemporaryDirectory() as tmp:
                runs[mode].append(one(mode, metrics, tmp, args.chunk, args.tick))
    res = {m: median_of(r) for m, r in runs.items()}
    with_writer = res["with_writer"]["loop_us_per_step"]
    enqueue = res["enqueue_only"]["loop_us_per_step"]
    print(json.dumps({
        "benchmark": "writer_share",
        "steps": args.steps,
        "scalars_per_log": len(KEYS),
        "reps": args.reps,
        "loop_us_per_step_with_writer": with_writer,
        "loop_us_per_step_enqueue_only": enqueue,
        "writer_share_us_per_step": round(with_writer - enqueue, 3),
        # Robust to other load on the machine: the loop's thread's CPU time plus the time
        # it was blocked (waiting for the GIL), without the time others' processes took.
        "loop_us_per_step_with_writer_unloaded": round(
            res["with_writer"]["loop_cpu_us_per_step"]
            + res["with_writer"]["loop_blocked_us_per_step"], 3),
        "loop_us_per_step_enqueue_only_unloaded": round(
            res["enqueue_only"]["loop_cpu_us_per_step"]
            + res["enqueue_only"]["loop_blocked_us_per_step"], 3),
        "loop_blocked_us_per_step_with_writer": res["with_writer"]["loop_blocked_us_per_step"],
        "loop_preempted_us_per_step_with_writer":
            res["with_writer"]["loop_preempted_us_per_step"],
        "writer_cpu_ns_per_point": res["with_writer"]["writer_cpu_ns_per_point"],
        "log_to_durable_points_per_s": round(args.steps * len(KEYS)
                                             / res["with_writer"]["durable_s"]),
        "writer_batches": res["with_writer"]["writer_batches"],
        "phases_ns_per_point": res["phases"]["ns_per_point"],
        "phases_loop_us_per_step": res["phases"]["loop_us_per_step"],
        "phase_calls": res["phases"]["calls"],
        "tick_s": args.tick,
        "switch_interval_s": sys.getswitchinterval(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
