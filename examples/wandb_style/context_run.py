"""A wandb-style script using ``with wandb.init() as run:``: the run ends with the block,
``failed`` if an exception leaves it. Only the import differs from a wandb script.

    TRAINDECK_DIR=./traindeck python examples/wandb_style/context_run.py
    TRAINDECK_DIR=./traindeck python examples/wandb_style/context_run.py --fail-at 3
"""

from __future__ import annotations

import argparse

import numpy as np

import traindeck.wandb as wandb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--fail-at", type=int, default=-1)
    parser.add_argument("--id", default=None)
    args = parser.parse_args()

    with wandb.init(project="ctx", name="context-run", id=args.id, resume="allow",
                    config={"epochs": args.epochs}, mode="online") as run:
        run.config.update({"width": 16}, allow_val_change=True)
        run.define_metric("acc", summary="max")
        rng = np.random.default_rng(0)
        for epoch in range(run.step, run.step + args.epochs):
            if epoch == args.fail_at:
                raise RuntimeError(f"diverged at epoch {epoch}")
            acc = 1 - 1 / (epoch + 2)
            counts, edges = np.histogram(rng.normal(loc=epoch, size=500), bins=20)
            run.log({"acc": acc, "activations": wandb.Histogram(np_histogram=(counts, edges)),
                     "sample": [wandb.Image(np.full((8, 8), epoch * 20, dtype=np.uint8)),
                                wandb.Image(np.eye(8), caption="eye")],
                     "phase": "train"})
            if acc > 0.7:
                run.alert(title="accuracy", text=f"acc {acc:.2f} at epoch {epoch}",
                          level=wandb.AlertLevel.INFO)
        run.summary["final_acc"] = acc
        wandb.Video("clip.mp4")  # not supported by traindeck: one warning, nothing else
        print(f"finished {run.id} at step {run.step}")


if __name__ == "__main__":
    main()
