"""wandb-style scripts (``examples/wandb_style/``), unchanged but for the import, in real
child processes with only ``TRAINDECK_DIR`` set: what they log is in the store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import clean_env, open_dir_store

from traindeck.store import Run, Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "wandb_style"


def run_script(tdir: Path, script: str, *args: str, cwd: Path | None = None,
               **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env("WANDB_")
    env.update(TRAINDECK_DIR=str(tdir), TRAINDECK_STRICT="1", **env_extra)
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                          capture_output=True, text=True, timeout=240, cwd=cwd)


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    return tmp_path / "td"


@pytest.fixture
def reader(tdir: Path) -> Iterator[Store]:
    tdir.mkdir()
    s = open_dir_store(tdir)
    yield s
    s.close()


def runs(store: Store) -> list[Run]:
    found, _ = store.list_runs()
    return [store.get_run(r.id) for r in found]


def points(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    p = store.read_points(run_id, key)
    return list(zip(p.steps.tolist(), p.values.tolist(), strict=True))


def test_numpy_training_script(tdir: Path, reader: Store) -> None:
    done = run_script(tdir, "train_numpy.py", "--epochs", "4", "--batches", "10")
    assert done.returncode == 0, done.stderr
    [run] = runs(reader)
    assert (run.status, run.project, run.name) == ("completed", "blobs", "softmax-numpy")
    assert run.tags == ["numpy", "baseline", "group:softmax", "job_type:train"]
    assert run.notes == "softmax regression on three blobs"
    assert run.config == {"epochs": 4, "batches": 10, "batch_size": 64, "lr": 0.5, "seed": 0}
    # 10 training steps then one validation row per epoch: 11 steps an epoch
    loss = points(reader, run.id, "train/loss")
    assert [s for s, _ in loss] == [e * 11 + b for e in range(4) for b in range(10)]
    assert loss[-1][1] < loss[0][1]
    # val/* is plotted against the epoch (define_metric step_metric)
    val_acc = points(reader, run.id, "val/acc")
    assert [s for s, _ in val_acc] == [0, 1, 2, 3] and val_acc[-1][1] > 0.9
    assert [s for s, _ in points(reader, run.id, "epoch")] == [10, 21, 32, 43]
    for stat in ("min", "p25", "p50", "p75", "max", "mean", "std"):
        assert [s for s, _ in points(reader, run.id, f"weights/{stat}")] == [10, 21, 32, 43]
    media = reader.list_media(run.id)
    assert [(m.key, m.step, m.caption) for m in media] == [
        ("decision", 10 + 11 * e, f"epoch {e}") for e in range(4)]
    assert all((m.width, m.height) == (32, 32) for m in media)
    s = run.summary
    assert s["val/loss.min"] == min(v for _, v in points(reader, run.id, "val/loss"))
    assert s["val/acc.max"] == max(v for _, v in val_acc) == s["final_val_acc"]
    assert s["train/loss.min"] == min(v for _, v in loss) and s["train/loss"] == loss[-1][1]
    assert "val/acc" not in s and s["epochs_run"] == 4
    assert done.stderr.count("watch() is a no-op") == 1
    assert f"run {run.id} (softmax-numpy) in blobs" in done.stdout


def test_commit_false_implicit_steps_and_no_finish(tdir: Path, reader: Store) -> None:
    done = run_script(tdir, "accumulate_steps.py", "--steps", "20", "--eval-every", "5")
    assert done.returncode == 0, done.stderr
    [run] = runs(reader)
    assert run.status == "completed"  # ended by the exit hook: no finish() in the script
    assert run.config == {"steps": 20, "optimizer": "sgd", "eval_every": 5,
                          "schedule": "cosine"}
    # lr (commit=False) and loss share each step
    assert [s for s, _ in points(reader, run.id, "lr")] == list(range(20))
    assert [s for s, _ in points(reader, run.id, "loss")] == list(range(20))
    # eval rows added after step i's commit join the next step
    assert [s for s, _ in points(reader, run.id, "eval/score")] == [5, 10, 15, 20]
    assert [s for s, _ in points(reader, run.id, "eval/hist/p50")] == [5, 10, 15, 20]
    # explicit steps: moved forward, rows joined, a step behind dropped (warned once)
    assert points(reader, run.id, "late") == [(100, 1.0), (105, 2.0)]
    assert points(reader, run.id, "late_extra") == [(105, 7.0)]
    assert "ignored" not in {k.key for k in reader.metric_keys(run.id)}
    assert done.stderr.count("step 50 is below the current step 105") == 1
    artifacts = tdir / "runs" / run.id / "artifacts"
    assert (artifacts / "tables" / "predictions_106.csv").read_text().splitlines() == [
        "x,prediction,label", "0,0,even", "1,2,odd", "2,4,even"]
    assert (artifacts / "metrics.json").read_text() == '{"best_loss": 0.05}'
    assert run.summary["best_loss"] == 0.05 and run.summary["loss"] == 0.05
    assert run.summary["late_extra"] == 7.0  # the last row, committed at the end


def test_with_block_completes_or_fails(tdir: Path, reader: Store) -> None:
    done = run_script(tdir, "context_run.py", "--epochs", "4", "--id", "ctx-ok")
    assert done.returncode == 0, done.stderr
    failed = run_script(tdir, "context_run.py", "--fail-at", "2", "--id", "ctx-bad")
    assert failed.returncode == 1 and "diverged at epoch 2" in failed.stderr
    ok, bad = reader.get_run("ctx-ok"), reader.get_run("ctx-bad")
    assert ok.status == "completed" and bad.status == "failed"
    assert ok.config == {"epochs": 4, "width": 16}
    assert [s for s, _ in points(reader, "ctx-ok", "acc")] == [0, 1, 2, 3]
    assert ok.summary["acc.max"] == 0.8 and ok.summary["final_acc"] == 0.8
    assert [s for s, _ in points(reader, "ctx-ok", "activations/p50")] == [0, 1, 2, 3]
    media = reader.list_media("ctx-ok")
    assert sorted((m.step, m.caption or "") for m in media if m.key == "sample") == [
        (s, c) for s in range(4) for c in ("", "eye")]
    events = reader.list_events("ctx-ok")
    alerts = [e.payload for e in events if e.kind == "alert"]
    assert alerts == [{"title": "accuracy", "text": f"acc {a:.2f} at epoch {e}",
                       "level": "INFO"} for e, a in ((2, 0.75), (3, 0.8))]
    assert done.stderr.count("wandb.Video is not supported") == 1
    assert done.stderr.count("'phase' not stored") == 1
    assert [e.payload["error"] for e in reader.list_events("ctx-bad") if e.kind == "error"] \
        == ["RuntimeError: diverged at epoch 2"]
    assert [s for s, _ in points(reader, "ctx-bad", "acc")] == [0, 1]
    # resume="allow" with the same id continues the run's steps
    again = run_script(tdir, "context_run.py", "--epochs", "2", "--id", "ctx-ok")
    assert again.returncode == 0, again.stderr
    assert [s for s, _ in points(reader, "ctx-ok", "acc")] == [0, 1, 2, 3, 4, 5]
    assert reader.get_run("ctx-ok").status == "completed"


def test_wandb_mode_disabled_records_nothing(tdir: Path, reader: Store) -> None:
    done = run_script(tdir, "context_run.py", WANDB_MODE="disabled")
    assert done.returncode == 0, done.stderr
    assert runs(reader) == []
