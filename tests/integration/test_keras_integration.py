"""Keras 3 (torch backend) with ``TraindeckCallback``: the example
(``examples/keras_torch_backend.py``) trains for real in a child process; what it logs is
in the store, and the dashboard's commands posted through a real server act on ``fit``."""

from __future__ import annotations

from pathlib import Path

import pytest
from framework_runs import live_example, points, run_example
from support import open_dir_store, require_module, wait_for

SCRIPT = "keras_torch_backend.py"


@pytest.fixture(autouse=True)
def _keras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras 3 on the torch backend (TensorFlow is not needed), or skip/fail for it."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    require_module("keras")


def test_the_example_records_batches_epochs_config_and_its_checkpoints(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    done = run_example(tdir, SCRIPT, "--epochs", "3", "--out", str(tmp_path / "ck"),
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = open_dir_store(tdir)
    try:
        [listed], _ = store.list_runs()
        run = store.get_run(listed.id)
        assert (run.status, run.project, run.name) == ("completed", "keras-demo", "mlp")
        assert {k: run.config[k] for k in ("epochs", "steps", "model.name", "model.params",
                                           "optimizer.name", "optimizer.beta_1")} == {
            "epochs": 3, "steps": 16, "model.name": "mlp", "model.params": 676,
            "optimizer.name": "adam", "optimizer.beta_1": 0.9}
        assert abs(run.config["optimizer.learning_rate"] - 0.01) < 1e-6
        assert run.total_steps == 48  # epochs times steps per epoch: progress and ETA
        # 512 points in batches of 32: 16 global batch steps an epoch
        assert [s for s, _ in points(store, run.id, "loss")] == list(range(48))
        assert [s for s, _ in points(store, run.id, "accuracy")] == list(range(48))
        val = points(store, run.id, "val_loss")
        assert [s for s, _ in val] == [15, 31, 47] and val[-1][1] < val[0][1]
        assert points(store, run.id, "epoch") == [(15, 0.0), (31, 1.0), (47, 2.0)]
        assert [s for s, _ in points(store, run.id, "epoch/loss")] == [15, 31, 47]
        # ModelCheckpoint(save_best_only, val_loss): each file recorded at its epoch's
        # last step with its val_loss; the best one marked
        cks = sorted(store.list_checkpoints(run.id), key=lambda c: c.step)
        saved = [c for c in cks if Path(c.path).parent == tmp_path / "ck"]
        assert saved and saved == cks
        by_step = dict(val)
        assert all(c.metrics["val_loss"] == by_step[c.step] for c in saved)
        best = min(saved, key=lambda c: c.metrics["val_loss"])
        assert [c.id for c in saved if c.is_best] == [best.id]
    finally:
        store.close()


def test_validate_checkpoint_and_stop_from_the_dashboard_act_on_fit(tmp_path: Path) -> None:
    with live_example(tmp_path, SCRIPT, "--epochs", "100000", "--sleep", "0.02") as live:
        validate = live.command("validate")
        assert validate["status"] == "done", validate
        result = validate["result"]
        assert set(result["metrics"]) == {"val_loss", "val_accuracy"}

        checkpoint = live.command("checkpoint")
        assert checkpoint["status"] == "done", checkpoint
        saved = Path(checkpoint["result"]["path"])
        assert saved.is_file() and saved.suffix == ".keras"

        assert live.command("stop")["status"] == "done"
        assert live.proc.wait(60) == 0  # 100000 epochs: it ended because it was stopped
        store = open_dir_store(tmp_path / "td")
        try:
            wait_for(lambda: store.get_run(live.run_id).status == "cancelled", 30,
                     "cancelled after stop")
            assert (result["step"], result["metrics"]["val_loss"]) in points(
                store, live.run_id, "val_loss")
            [recorded] = [c for c in store.list_checkpoints(live.run_id)
                          if Path(c.path).name == saved.name]
            assert recorded.step == checkpoint["result"]["step"]
        finally:
            store.close()
        import keras

        model = keras.saving.load_model(saved)
        assert model.name == "mlp" and model.count_params() == 676
