"""Points per second of ``traindeck import tensorboard``, end to end, into a fresh store.

Synthesizes a TensorBoard log of ``--points`` scalars (4 tags, interleaved by step, as a
training loop's ``add_scalar`` calls write them: the same bytes as
``torch.utils.tensorboard``'s, made by traindeck's own event encoder because
``SummaryWriter`` itself would take minutes for a million calls), then times finding the
run folder, reading, decoding and writing every point into a new SQLite store, and a
second import (nothing new: "already imported"). Prints one JSON object.

    .venv/bin/python bench/import_tfevents.py [--points 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from traindeck.export.tensorboard import file_version_event, scalar_events
from traindeck.importing import Importer
from traindeck.importing import tensorboard as tb
from traindeck.importing.tfrecord import frame
from traindeck.store import open_store

TAGS = ("train/loss", "train/acc", "lr", "grad_norm")


def synthesize(path: Path, points: int) -> int:
    per = points // len(TAGS)
    steps = np.arange(1, per + 1).tolist()
    times = (1.7e9 + np.arange(per) * 0.05).astype("<f8").tobytes()
    rng = np.random.default_rng(0)
    parts = [scalar_events(tag, steps, times, rng.random(per).astype("<f4").tobytes())
             for tag in TAGS]
    records = [file_version_event(1.7e9)] + [r for group in zip(*parts, strict=True)
                                             for r in group]
    data = frame(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        size = synthesize(logs / "run1" / "events.out.tfevents.1700000000.host.1.0",
                          args.points)
        store = open_store(Path(tmp) / "store")
        t0 = time.perf_counter()
        importer = Importer(store)
        outcomes = [tb.import_run(importer, r, project="bench") for r in tb.find_runs(logs)]
        wall = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = [tb.import_run(importer, r, project="bench") for r in tb.find_runs(logs)]
        again_s = time.perf_counter() - t1
        stored = sum(s.count for o in outcomes if o.result is not None
                     for s in store.metric_keys(o.result.run_id))
        store.close()
    points = sum(o.result.points for o in outcomes if o.result is not None)
    print(json.dumps({
        "benchmark": "import_tfevents",
        "points": points,
        "stored_points": stored,
        "file_mb": round(size / 1e6, 1),
        "import_s": round(wall, 3),
        "points_per_s": round(points / wall),
        "reimport_s": round(again_s, 3),
        "reimport_unchanged": all(o.unchanged for o in again),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "processor": platform.machine()},
    }))


if __name__ == "__main__":
    main()
