"""``examples/numpy_mlp.py`` in a real child process, writing a real store: it learns, it
logs, it answers commands, it checkpoints, it stops cleanly. Nothing is mocked."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import clean_env, open_dir_store, wait_for

from traindeck.store import Store

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "numpy_mlp.py"



def start(tdir: Path, *args: str) -> subprocess.Popen[str]:
    env = clean_env()
    env.update(TRAINDECK_DIR=str(tdir), TRAINDECK_PROJECT="itest", TRAINDECK_STRICT="1")
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    return tmp_path / "td"


@pytest.fixture
def reader(tdir: Path) -> Iterator[Store]:
    tdir.mkdir()
    s = open_dir_store(tdir)
    yield s
    s.close()


def only_run_id(store: Store) -> str | None:
    runs, _ = store.list_runs()
    return runs[0].id if runs else None


def test_it_learns_and_everything_lands_in_the_store(tdir: Path, reader: Store) -> None:
    proc = start(tdir, "--steps", "600", "--max-rate", "0", "--checkpoint-every", "250",
                 "--name", "learns", "--system-interval", "0.2")
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    run_id = only_run_id(reader)
    assert run_id is not None
    run = reader.get_run(run_id)
    assert (run.status, run.project, run.name) == ("completed", "itest", "learns")
    assert run.config["lr"] == 0.1 and run.config["steps"] == 600
    assert {"validate", "sample", "checkpoint"} <= set(run.commands_offered)
    loss = reader.read_points(run_id, "loss")
    assert list(loss.steps) == list(range(600))
    first, last = float(np.mean(loss.values[:50])), float(np.mean(loss.values[-50:]))
    assert last < 0.7 * first, (first, last)
    keys = {s.key for s in reader.metric_keys(run_id)}
    assert {"loss", "acc", "lr", "grad_norm", "val/loss", "val/acc"} <= keys
    assert any(k.startswith("sys/") for k in keys)
    assert run.summary["final_val_acc"] > 0.5
    folder = tdir / "runs" / run_id / "checkpoints"
    # Each checkpoint has its metadata sidecar <name>.json next to it.
    ckpts = sorted(p.name for p in folder.iterdir() if p.suffix != ".json")
    assert all((folder / (n + ".json")).is_file() for n in ckpts)
    assert ckpts == ["checkpoint_step_0000250.npz", "checkpoint_step_0000500.npz",
                     "checkpoint_step_0000599.npz"]
    with np.load(tdir / "runs" / run_id / "checkpoints" / ckpts[-1]) as saved:
        assert int(saved["step"]) == 599
        assert saved["w0"].shape == (2, 64)
    assert run.summary["last_checkpoint"].endswith("checkpoint_step_0000599.npz")


def command(store: Store, run_id: str, name: str, **args: Any) -> Any:
    cmd = store.create_command(run_id, name, args)
    done = wait_for(lambda: (c := store.get_command(cmd.id)).status in ("done", "failed") and c,
                    what=f"command {name}")
    assert done.status == "done", done.error
    return done.result


def test_commands_reach_the_training_loop(tdir: Path, reader: Store) -> None:
    proc = start(tdir, "--steps", "10000000", "--max-rate", "300", "--width", "16")
    try:
        run_id = wait_for(lambda: only_run_id(reader), what="the run")
        wait_for(lambda: "checkpoint" in reader.get_run(run_id).commands_offered,
                 what="commands offered")
        wait_for(lambda: "loss" in reader.latest(run_id), what="first points")
        result = command(reader, run_id, "validate")
        assert set(result) == {"val_loss", "val_acc", "step"}
        wait_for(lambda: "val/acc" in reader.latest(run_id), what="val/acc logged")
        samples = command(reader, run_id, "sample", n=3)
        assert len(samples) == 3
        assert {"x", "label", "pred", "confidence"} == set(samples[0])
        saved = command(reader, run_id, "checkpoint")
        assert Path(saved["path"]).is_file()
        assert Path(saved["path"]).name == f"checkpoint_step_{saved['step']:07d}.npz"
        command(reader, run_id, "pause")
        wait_for(lambda: reader.get_run(run_id).status == "paused", what="paused")
        command(reader, run_id, "resume")
        wait_for(lambda: reader.get_run(run_id).status == "running", what="running again")
        command(reader, run_id, "stop")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "stopped from the dashboard" in out
    assert reader.get_run(run_id).status == "cancelled"  # stopped by a user (defect 7)


def test_sigterm_ends_the_run_interrupted_with_a_checkpoint(tdir: Path,
                                                            reader: Store) -> None:
    proc = start(tdir, "--steps", "10000000", "--max-rate", "300", "--checkpoint-every", "0")
    try:
        run_id = wait_for(lambda: only_run_id(reader), what="the run")
        wait_for(lambda: reader.latest(run_id).get("loss", (0,))[0] >= 20, what="some steps")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = reader.get_run(run_id)
    assert run.status == "interrupted"
    ckpts = list((tdir / "runs" / run_id / "checkpoints").glob("checkpoint_step_*.npz"))
    assert len(ckpts) == 1  # the one saved on the way out
