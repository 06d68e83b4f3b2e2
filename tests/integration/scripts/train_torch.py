"""A small torch model that trains with traindeck checkpoints (for the integration tests).

    python train_torch.py --name NAME --steps N [--every K] [--sleep S] [--slow-save S]

Resumes the run called NAME (``td.resume_or_create``) from its newest valid checkpoint.
Prints ``START <run_id> <first step> <resumed 0|1>``, ``SAVED <step> <path>`` after each
checkpoint, ``WRITING <step> <temp path>`` while a slow save has its temporary file on disk,
and ``DONE`` at the end. ``TRAINDECK_DIR`` says where the store is.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Any

import torch

import traindeck as td


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="torch")
    ap.add_argument("--steps", type=int, default=10**9)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--sleep", type=float, default=0.005)
    ap.add_argument("--keep-last", type=int, default=2)
    ap.add_argument("--keep-best", type=int, default=1)
    ap.add_argument("--slow-save", type=float, default=0.0,
                    help="seconds to sleep between the chunks of each checkpoint write")
    ap.add_argument("--slow-emergency", type=float, default=0.0,
                    help="the same for the emergency save only")
    args = ap.parse_args()

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    xv, yv = x[:128], y[:128]

    run = td.resume_or_create(args.name, project="ckpt", best="min:val_loss",
                              keep_last=args.keep_last, keep_best=args.keep_best,
                              heartbeat_interval=0.2, heartbeat_timeout=5.0,
                              system_interval=None)
    start = 0
    if run.is_resumed:
        last = run.last_checkpoint(expected_keys=["model", "opt", "step"])
        if last is not None:
            state = torch.load(last.path, weights_only=True, map_location="cpu")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            start = int(state["step"]) + 1
    print(f"START {run.id} {start} {int(run.is_resumed)}", flush=True)
    current = {"step": start - 1}

    def state() -> dict[str, Any]:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "step": current["step"],
                "pad": torch.zeros(1 << 18)}  # 1 MiB, so a slow save takes a while

    def slow(obj: dict[str, Any], step: int) -> Any:
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()

        pause = args.slow_save or args.slow_emergency

        def writer(path: Path) -> None:
            chunk = len(data) // 16 + 1
            with open(path, "wb") as fh:
                for i in range(0, len(data), chunk):
                    fh.write(data[i:i + chunk])
                    fh.flush()
                    if i == 0:
                        print(f"WRITING {step} {path}", flush=True)
                    time.sleep(pause)

        return writer

    # The emergency save (SIGTERM, Ctrl-C, a crash) calls it, at the last logged step.
    if args.slow_emergency:
        run.on_checkpoint(lambda: slow(state(), current["step"]))
    else:
        run.on_checkpoint(state)
    with run:
        for step in range(start, args.steps):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            run.log({"loss": loss.item()}, step=step)
            current["step"] = step
            if step > 0 and step % args.every == 0:
                with torch.no_grad():
                    val = torch.nn.functional.mse_loss(model(xv), yv).item()
                run.log({"val_loss": val}, step=step)
                obj: Any = state() if not args.slow_save else slow(state(), step)
                path = run.save_checkpoint(obj, step, metrics={"val_loss": val})
                print(f"SAVED {step} {path}", flush=True)
            time.sleep(args.sleep)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
