"""A real training script for the integration tests: logs, offers commands, handles signals.

    python train_child.py --steps N [--sleep S] [--marker PATH] [--name NAME]

Prints ``READY <run_id>`` once the run exists. ``TRAINDECK_DIR`` says where the store is.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import traindeck as td


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10**9)
    ap.add_argument("--sleep", type=float, default=0.01)
    ap.add_argument("--marker", type=Path)
    ap.add_argument("--name", default="child")
    ap.add_argument("--heartbeat-timeout", type=float, default=2.0)
    args = ap.parse_args()
    run = td.init(project="itest", name=args.name, config={"steps": args.steps},
                  heartbeat_interval=0.2, heartbeat_timeout=args.heartbeat_timeout,
                  system_interval=0.5)
    state = {"step": 0}

    @run.command("validate")
    def validate(scale: float = 1.0) -> dict[str, float]:
        return {"val_loss": scale / (state["step"] + 1), "at_step": state["step"]}

    print(f"READY {run.id}", flush=True)
    try:
        with run:
            for step in range(args.steps):
                state["step"] = step
                loss = math.nan if step == 3 else 1.0 / (step + 1)
                run.log({"loss": loss, "sent_at": time.time()}, step=step)
                if run.should_stop:
                    break
                time.sleep(args.sleep)
    finally:
        if args.marker is not None:
            args.marker.write_text(f"exit hook ran at step {state['step']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
