"""PyTorch Lightning with ``TraindeckLogger`` and ``TraindeckCallback``: the example
(``examples/lightning_mnist_like.py``) trains for real in a child process; what it logs is
in the store, and the dashboard's commands posted through a real server act on the
Trainer."""

from __future__ import annotations

from pathlib import Path

from framework_runs import live_example, points, run_example
from support import open_dir_store, require_module, wait_for

SCRIPT = "lightning_mnist_like.py"


def test_the_example_records_metrics_hyperparameters_and_its_checkpoints(tmp_path: Path) -> None:
    require_module("lightning.pytorch")
    tdir = tmp_path / "td"
    done = run_example(tdir, SCRIPT, "--epochs", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "trained 60 steps, 3 epochs" in done.stdout
    store = open_dir_store(tdir)
    try:
        [listed], _ = store.list_runs()
        run = store.get_run(listed.id)
        assert (run.status, run.project, run.name) == ("completed", "lightning-demo",
                                                       "mnist-like")
        assert run.config == {"width": 32, "lr": 0.05, "sleep": 0.0}
        # the Trainer's estimated_stepping_batches: progress and ETA in the dashboard
        assert run.total_steps == 60
        # 20 batches an epoch, logged every 5 steps at Lightning's step
        assert [s for s, _ in points(store, run.id, "train/loss")] == list(range(4, 60, 5))
        val = points(store, run.id, "val/loss")
        assert [s for s, _ in val] == [19, 39, 59]
        assert val[-1][1] < val[0][1]  # it learns
        assert [s for s, _ in points(store, run.id, "val/acc")] == [19, 39, 59]
        # ModelCheckpoint(top 2 by val/loss) wrote into the run's checkpoint folder; each
        # file is recorded at its step with its score, the lowest marked best
        cks = sorted(store.list_checkpoints(run.id), key=lambda c: c.step)
        assert [c.step for c in cks] == [20, 40, 60]
        assert [c.metrics["val/loss"] for c in cks] == [v for _, v in val]
        assert [c.is_best for c in cks] == [False, False, True]
        folder = tdir / "runs" / run.id / "checkpoints"
        assert sorted(p.name for p in folder.glob("*.ckpt")) == [
            "epoch=1-step=40.ckpt", "epoch=2-step=60.ckpt"]  # top 2 kept by Lightning
    finally:
        store.close()


def test_validate_checkpoint_and_stop_from_the_dashboard_act_on_the_trainer(
        tmp_path: Path) -> None:
    require_module("lightning.pytorch")
    with live_example(tmp_path, SCRIPT, "--epochs", "0", "--sleep", "0.02") as live:
        validate = live.command("validate")
        assert validate["status"] == "done", validate
        result = validate["result"]
        assert set(result["metrics"]) == {"val/loss", "val/acc"}
        assert 0.0 <= result["metrics"]["val/acc"] <= 1.0

        checkpoint = live.command("checkpoint")
        assert checkpoint["status"] == "done", checkpoint
        saved = Path(checkpoint["result"]["path"])
        assert saved.is_file() and saved.suffix == ".ckpt"

        stop = live.command("stop")
        assert stop["status"] == "done"
        assert live.proc.wait(60) == 0  # --epochs 0 trains until stopped
        store = open_dir_store(tmp_path / "td")
        try:
            wait_for(lambda: store.get_run(live.run_id).status == "cancelled", 30,
                     "cancelled after stop")
            # the validation ran inside training: its metrics are a point of the series
            assert (result["step"], result["metrics"]["val/loss"]) in points(
                store, live.run_id, "val/loss")
            [recorded] = [c for c in store.list_checkpoints(live.run_id)
                          if Path(c.path).name == saved.name]
            assert recorded.step == checkpoint["result"]["step"]
            import torch

            state = torch.load(saved, weights_only=False)
            assert state["global_step"] >= recorded.step and "state_dict" in state
        finally:
            store.close()
