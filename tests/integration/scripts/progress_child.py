"""A training script with a known length, for the progress/speed/ETA tests.

    python progress_child.py --steps N [--sleep S] [--total T] [--set-total-at K]

``--total``: ``td.init(total_steps=T)``; ``--set-total-at K``: ``run.set_total(steps)`` at
step K. Prints ``READY <run_id>`` once the run exists; ``TRAINDECK_DIR`` (embedded) or
``TRAINDECK_URL`` (a server, over HTTP) says where it goes.
"""

from __future__ import annotations

import argparse
import sys
import time

import traindeck as td


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--sleep", type=float, default=0.02)
    ap.add_argument("--total", type=int)
    ap.add_argument("--set-total-at", type=int)
    args = ap.parse_args()
    run = td.init(project="progress", name="paced", total_steps=args.total,
                  heartbeat_interval=0.2, heartbeat_timeout=5.0, system_interval=0.5)
    print(f"READY {run.id}", flush=True)
    with run:
        for step in range(args.steps):
            if step == args.set_total_at:
                run.set_total(args.steps)
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            time.sleep(args.sleep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
