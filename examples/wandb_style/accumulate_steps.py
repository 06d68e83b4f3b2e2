"""A wandb-style script that builds each step's row over several ``wandb.log`` calls.

The patterns wandb users rely on: ``commit=False`` to add to the current step, the implicit
step counter, an explicit ``step=`` that only moves forward, a ``wandb.Table`` of
predictions, ``wandb.save`` of a file at the end, and no ``wandb.finish()`` at all (the
run ends when the script does). Only the import differs from a wandb script.

    TRAINDECK_DIR=./traindeck python examples/wandb_style/accumulate_steps.py --steps 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile

import numpy as np

import traindeck.wandb as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--eval-every", type=int, default=10)
args = parser.parse_args()

wandb.init(project="accumulate", config={"steps": args.steps, "optimizer": "sgd"},
           settings=wandb.Settings(start_method="thread"))
wandb.config.update({"eval_every": args.eval_every})
wandb.config.schedule = "cosine"

rng = np.random.default_rng(1)
for i in range(args.steps):
    lr = 0.1 * 0.5 * (1 + math.cos(math.pi * i / args.steps))
    wandb.log({"lr": lr}, commit=False)          # same step as the loss below
    wandb.log({"loss": 1.0 / (i + 1)})           # commits the step, moves to the next
    if (i + 1) % args.eval_every == 0:
        wandb.log({"eval/score": i / args.steps}, commit=False)
        wandb.log({"eval/hist": rng.normal(size=200).tolist()}, commit=False)

# An explicit step: rows wait until a later step (or the end) commits them.
wandb.log({"late": 1.0}, step=100)
wandb.log({"late": 2.0}, step=105)
wandb.log({"ignored": 3.0}, step=50)             # behind the current step: dropped
wandb.log({"late_extra": 7.0}, step=105)         # joins step 105's row

table = wandb.Table(columns=["x", "prediction", "label"])
for x in range(3):
    table.add_data(x, x * 2, "even" if x % 2 == 0 else "odd")
wandb.log({"predictions": table}, step=106)

out_dir = tempfile.mkdtemp()
with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump({"best_loss": 1.0 / args.steps}, f)
wandb.save(os.path.join(out_dir, "metrics.json"), base_path=out_dir, policy="end")
wandb.run.summary["best_loss"] = 1.0 / args.steps
# no wandb.finish(): the run finishes when the script exits
