"""A real training script for the alert tests: logs one scenario, then waits or ends.

    python alert_child.py SCENARIO [--steps N] [--hold]

Prints ``READY <run_id>`` once the run exists and ``LOGGED`` when its scenario's points are
all logged (and flushed). ``--hold`` keeps the run running (heartbeating, logging nothing)
until stdin closes. ``TRAINDECK_DIR`` says where the store is.

Scenarios: ``nan`` (loss NaN at step 30), ``flapping`` (loss NaN at every 10th step),
``spike`` (noise around 1, one 50 at step 150), ``plateau`` (loss falls, then stays flat),
``threshold`` (val/acc climbs to 0.9 then drops to 0.3 after step 100), ``gpu``
(``sys/gpu0/util`` at 0: this machine has no GPU for the sampler to read), ``quiet`` (a few
steps, then nothing: with ``--hold``, a stall), ``alert`` (``run.alert(...)`` once).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import traindeck as td


def values(scenario: str, steps: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(0)
    i = np.arange(steps)
    if scenario == "nan":
        loss = 1.0 / (i + 1.0)
        loss[30] = math.nan
        return {"loss": loss.tolist()}
    if scenario == "flapping":
        loss = np.where(i % 10 == 9, math.nan, 1.0)
        return {"loss": loss.tolist()}
    if scenario == "spike":
        loss = 1.0 + rng.normal(0, 0.01, steps)
        loss[150] = 50.0
        return {"loss": loss.tolist()}
    if scenario == "plateau":
        return {"loss": np.maximum(1.0 - i / 50.0, 0.25).tolist()}
    if scenario == "threshold":
        acc = np.where(i <= 100, np.minimum(0.9, i / 100.0), 0.3)
        return {"val/acc": acc.tolist()}
    if scenario == "gpu":
        return {"sys/gpu0/util": [0.0] * steps}
    return {"loss": [1.0] * steps}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--system", type=float, default=None, help="system sampling interval")
    args = ap.parse_args()
    run = td.init(project="alerts", name=args.scenario, heartbeat_interval=0.2,
                  heartbeat_timeout=1.0, system_interval=args.system)
    print(f"READY {run.id}", flush=True)
    sys.stdin.readline()  # the test's rules are in place
    if args.scenario == "alert":
        run.log({"loss": 0.5}, step=7)
        run.alert("checkpoint disk almost full", "3 GB left on /ckpt", level="error")
    else:
        series = values(args.scenario, 5 if args.scenario == "quiet" else args.steps)
        for step in range(len(next(iter(series.values())))):
            row = {k: v[step] for k, v in series.items()}
            run.log(row, step=step)
            if args.scenario == "flapping" and math.isnan(row["loss"]):
                time.sleep(0.3)  # each NaN reaches the server in a batch of its own
    run.flush()
    print("LOGGED", flush=True)
    if args.hold:
        sys.stdin.readline()
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
