"""``traindeck import tensorboard`` as a user runs it: logs written by the real
``torch.utils.tensorboard.SummaryWriter`` (scalars with wall times, NaN and ±Inf, an image,
hparams), imported by the installed CLI in a child process into a real store; read back
from the store and compared with TensorBoard's own reader."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import require_module

from traindeck.export.tensorboard import scalar_events
from traindeck.importing import run_id_for
from traindeck.importing.tfrecord import frame
from traindeck.runfiles import RunFiles
from traindeck.store import Store

T0 = 1_600_000_000.0
LOSS = [1.0 / (s + 1) for s in range(20)]
LOSS[3], LOSS[4], LOSS[5] = math.nan, math.inf, -math.inf


def writer(logdir: Path) -> Any:
    require_module("tensorboard")
    tb = require_module("torch.utils.tensorboard")
    return tb.SummaryWriter(log_dir=str(logdir))


def write_exp1(logs: Path) -> None:
    w = writer(logs / "exp1")
    for step, v in enumerate(LOSS):
        w.add_scalar("train/loss", v, step, walltime=T0 + step * 0.5)
        w.add_scalar("lr", 0.1, step, walltime=T0 + step * 0.5)
    image = np.zeros((3, 8, 6), dtype=np.uint8)
    image[0] = 255
    w.add_image("samples/red", image, 5, walltime=T0 + 3)
    w.add_hparams({"lr": 0.1, "optimizer": "adam", "layers": 3}, {"hparam/acc": 0.9},
                  run_name="hp")
    w.close()


def cli(store: Store, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "traindeck.cli", "import", "tensorboard", *args,
         "--dir", str(store.files_root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def reader_scalars(folder: Path, tag: str) -> list[tuple[int, float, float]]:
    ea_mod = require_module("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(folder), size_guidance={ea_mod.SCALARS: 0})
    ea.Reload()
    return [(e.step, e.wall_time, e.value) for e in ea.Scalars(tag)]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_import_keeps_scalars_times_images_and_hparams(store: Store, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_exp1(logs)
    w = writer(logs / "group" / "exp2")
    w.add_scalar("acc", 0.5, 7, walltime=T0 + 100)
    w.close()
    out = cli(store, str(logs), "--project", "tb", "--tag", "imported")
    assert "exp1: imported as run" in out and "group/exp2: imported as run" in out

    runs, total = store.list_runs(project="tb")
    assert total == 2  # the hparams subfolder is part of exp1, not a run of its own
    by_name = {r.name: r for r in runs}
    exp1 = by_name["exp1"]
    assert exp1.id == run_id_for("tensorboard:" + (logs / "exp1").resolve().as_posix())
    assert exp1.status == "completed" and exp1.tags == ["imported"]
    assert exp1.config == {"lr": 0.1, "optimizer": "adam", "layers": 3}

    p = store.read_points(exp1.id, "train/loss")
    expected = reader_scalars(logs / "exp1", "train/loss")
    assert p.steps.tolist() == [s for s, _, _ in expected] == list(range(20))
    assert p.times.tolist() == [t for _, t, _ in expected] == [T0 + s * 0.5 for s in range(20)]
    assert all(same(a, b) for a, (_, _, b) in zip(p.values.tolist(), expected, strict=True))
    assert all(same(a, float(np.float32(b))) for a, b in zip(p.values.tolist(), LOSS,
                                                             strict=True))
    keys = {s.key for s in store.metric_keys(exp1.id)}
    assert {"train/loss", "lr", "hparam/acc"} <= keys

    media = store.list_media(exp1.id)
    assert [(m.key, m.step, m.width, m.height) for m in media] == [("samples.red", 5, 6, 8)]
    png = RunFiles(store.files_root).resolve(exp1.id, media[0].path).read_bytes()
    assert png.startswith(b"\x89PNG")

    exp2 = by_name["group/exp2"]
    p2 = store.read_points(exp2.id, "acc")
    assert (p2.steps.tolist(), p2.times.tolist(), p2.values.tolist()) == ([7], [T0 + 100],
                                                                           [0.5])


def test_importing_twice_adds_nothing_and_a_grown_log_adds_only_new_points(
        store: Store, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    w = writer(logs / "run")
    for step in range(10):
        w.add_scalar("loss", float(step), step, walltime=T0 + step)
    w.close()
    first = cli(store, str(logs))
    assert "imported as run" in first and "(10 points" in first
    (run,), _ = store.list_runs(project="tensorboard")
    events = len(store.list_events(run.id))

    assert "run: already imported" in cli(store, str(logs))
    assert store.read_points(run.id, "loss").steps.tolist() == list(range(10))
    assert len(store.list_events(run.id)) == events  # nothing written at all

    # The same file grows (a training still writing), and a new writer adds a file.
    (events_file,) = (logs / "run").iterdir()
    with events_file.open("ab") as f:
        f.write(frame(scalar_events("loss", [10, 11], np.array([T0 + 10, T0 + 11]).astype(
            "<f8").tobytes(), np.array([10, 11], dtype="<f4").tobytes())))
    w = writer(logs / "run")
    for step in range(12, 15):
        w.add_scalar("loss", float(step), step, walltime=T0 + step)
    w.close()
    grown = cli(store, str(logs))
    assert "added 5 new points" in grown, grown
    p = store.read_points(run.id, "loss")
    assert p.steps.tolist() == list(range(15))
    assert p.times.tolist() == [T0 + s for s in range(15)]
    assert p.values.tolist() == [float(s) for s in range(15)]
    assert store.list_runs(project="tensorboard")[1] == 1
    assert "already imported" in cli(store, str(logs))


def test_a_record_cut_short_waits_for_the_rest(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "logs" / "live"
    folder.mkdir(parents=True)
    data = frame(scalar_events("x", [1, 2], np.array([T0, T0 + 1]).astype("<f8").tobytes(),
                               np.array([1, 2], dtype="<f4").tobytes()))
    path = folder / "events.out.tfevents.1.host"
    path.write_bytes(data[:-5])  # the writer is mid-record
    assert "(1 points" in cli(store, str(tmp_path / "logs"))
    path.write_bytes(data)
    assert "added 1 new points" in cli(store, str(tmp_path / "logs"))
    (run,), _ = store.list_runs(project="tensorboard")
    assert store.read_points(run.id, "x").steps.tolist() == [1, 2]


def test_a_folder_without_event_files_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "traindeck.cli", "import", "tensorboard",
         str(tmp_path / "empty"), "--dir", str(store.files_root)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "no TensorBoard event files" in proc.stderr


@pytest.mark.parametrize("steps", [[0, 1, 2], [5, 1_000_000, 2**40]])
def test_events_without_the_simple_shape_read_the_same(tmp_path: Path, steps: list[int]) -> None:
    """tf2-style tensor scalars (TensorBoard's own summary writer) read like simple ones."""
    require_module("tensorboard")
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from traindeck.importing.tfevents import decode
    from traindeck.importing.tfrecord import scan
    ev_pb2 = require_module("tensorboard.compat.proto.event_pb2")
    summary_pb2 = require_module("tensorboard.compat.proto.summary_pb2")
    tensor_pb2 = require_module("tensorboard.compat.proto.tensor_pb2")
    w = EventFileWriter(str(tmp_path))
    for i, step in enumerate(steps):
        value = summary_pb2.Summary.Value(tag="t", tensor=tensor_pb2.TensorProto(
            dtype=2, double_val=[i + 0.25]))  # DT_DOUBLE, shape []
        if i == 0:
            value.metadata.plugin_data.plugin_name = "scalars"
        w.add_event(ev_pb2.Event(wall_time=T0 + i, step=step,
                                 summary=summary_pb2.Summary(value=[value])))
    w.close()
    (path,) = tmp_path.iterdir()
    d = decode(scan(path.read_bytes()))
    ((s, t, v),) = d.scalars["t"]
    assert s.tolist() == steps and t.tolist() == [T0 + i for i in range(len(steps))]
    assert v.tolist() == [i + 0.25 for i in range(len(steps))]
