"""A small numpy MLP learning to classify a 3-arm spiral, tracked and steered by traindeck.

    python examples/numpy_mlp.py --steps 20000 --lr 0.1 --width 64
    python examples/numpy_mlp.py --steps 0        # trains until stopped (what the demo runs)

Real gradient descent (SGD with momentum, warmup + cosine learning rate) on a real, if
small, problem. Every step logs ``loss``, ``acc``, ``lr`` and ``grad_norm``; system load is
sampled every second. The run offers three dashboard buttons:

``validate``    computes loss and accuracy on a held-out set, logs them as ``val/loss`` and
                ``val/acc`` and returns them.
``sample``      returns a few held-out points with the true and predicted class.
``checkpoint``  saves the weights now (they are also saved every ``--checkpoint-every`` steps
                and when the run ends) as ``<run.dir>/checkpoints/checkpoint_step_0001234.npz``.

Every ``--image-every`` steps the run logs an image, ``decision``: the classes the model
predicts over the plane (one colour per arm) with the held-out points on top; the dashboard's
image panel steps through them. Every ``--print-every`` steps it prints a progress line,
which the SDK captures into the run's console log.

``stop``, ``pause`` and ``resume`` are built into the SDK: ``run.should_stop`` ends the loop,
pause blocks ``run.log()`` until resumed. ``--max-rate`` caps the steps per second (the
demo keeps it at a few hundred so the charts move at a watchable pace; 0 means as fast as
possible). ``--steps 0`` trains until the run is stopped (dashboard, Ctrl-C, SIGTERM), the
learning rate restarting its warmup-free cosine every ``--cycle`` steps, so the demo's runs
stay live for as long as the demo does. ``TRAINDECK_DIR`` says where the store is
(``./traindeck`` by default).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import traindeck

CLASSES = 3


def spiral(n: int, rng: np.random.Generator, noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of a 3-arm spiral in 2-D and their arm (class)."""
    labels = rng.integers(0, CLASSES, size=n)
    radius = rng.uniform(0.05, 1.0, size=n)
    angle = labels * (2 * math.pi / CLASSES) + radius * 6.0 + rng.normal(0, noise, size=n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x.astype(np.float64), labels


class MLP:
    """Two hidden tanh layers and a softmax output; forward and backward by hand."""

    def __init__(self, width: int, rng: np.random.Generator) -> None:
        sizes = [2, width, width, CLASSES]
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            self.params[f"w{i}"] = rng.normal(0, 1 / math.sqrt(fan_in), size=(fan_in, fan_out))
            self.params[f"b{i}"] = np.zeros(fan_out)
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        p = self.params
        h1 = np.tanh(x @ p["w0"] + p["b0"])
        h2 = np.tanh(h1 @ p["w1"] + p["b1"])
        logits = h2 @ p["w2"] + p["b2"]
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs, [x, h1, h2]

    def loss_acc(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        probs, _ = self.forward(x)
        loss = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
        return loss, float((probs.argmax(axis=1) == y).mean())

    def step(self, x: np.ndarray, y: np.ndarray, lr: float,
             momentum: float = 0.9) -> tuple[float, float, float]:
        """One SGD step on a batch: returns (loss, accuracy, gradient norm)."""
        p = self.params
        probs, (a0, h1, h2) = self.forward(x)
        n = len(y)
        loss = float(-np.log(probs[np.arange(n), y] + 1e-12).mean())
        acc = float((probs.argmax(axis=1) == y).mean())
        d = probs.copy()
        d[np.arange(n), y] -= 1.0
        d /= n
        grads = {"w2": h2.T @ d, "b2": d.sum(axis=0)}
        d = (d @ p["w2"].T) * (1 - h2**2)
        grads.update(w1=h1.T @ d, b1=d.sum(axis=0))
        d = (d @ p["w1"].T) * (1 - h1**2)
        grads.update(w0=a0.T @ d, b0=d.sum(axis=0))
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads.values()))
        for k, g in grads.items():
            self.velocity[k] = momentum * self.velocity[k] - lr * g
            p[k] += self.velocity[k]
        return loss, acc, norm


def schedule(step: int, total: int, peak: float, warmup: int, cycle: int = 20_000) -> float:
    """Linear warmup to ``peak``, then cosine decay to 5% of it over ``total`` steps; with
    ``total`` 0 (no end) the decay restarts from ``peak`` every ``cycle`` steps."""
    if total <= 0:
        if step < warmup:
            return peak * (step + 1) / warmup
        return schedule((step - warmup) % cycle, cycle, peak, 0)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def save_checkpoint(model: MLP, folder: Path, step: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint_step_{step:07d}.npz"
    tmp = path.with_name(path.stem + ".tmp.npz")
    arrays: dict[str, Any] = {"step": np.array(step), **model.params}
    np.savez(tmp, **arrays)
    tmp.replace(path)  # atomic: a reader never sees half a checkpoint
    return path


PALETTE = np.array([[255, 176, 0], [0, 229, 255], [255, 95, 210]], dtype=np.float64)


def decision_image(model: MLP, x: np.ndarray, y: np.ndarray, size: int = 96) -> np.ndarray:
    """An RGB picture of the predicted class over [-1.1, 1.1]², held-out points on top."""
    lin = np.linspace(-1.1, 1.1, size)
    gx, gy = np.meshgrid(lin, lin[::-1])
    probs, _ = model.forward(np.stack([gx.ravel(), gy.ravel()], axis=1))
    conf = probs.max(axis=1, keepdims=True)
    img = (PALETTE[probs.argmax(axis=1)] * (0.15 + 0.35 * conf)).reshape(size, size, 3)
    cols = np.clip(((x[:, 0] + 1.1) / 2.2 * (size - 1)).round().astype(int), 0, size - 1)
    rows = np.clip(((1.1 - x[:, 1]) / 2.2 * (size - 1)).round().astype(int), 0, size - 1)
    img[rows, cols] = PALETTE[y]
    return img.astype(np.uint8)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=None, help="default: TRAINDECK_PROJECT, else 'default'")
    ap.add_argument("--name", default=None)
    ap.add_argument("--steps", type=int, default=20_000, help="0: until stopped")
    ap.add_argument("--cycle", type=int, default=20_000,
                    help="with --steps 0: steps per learning-rate cycle")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=2000)
    ap.add_argument("--image-every", type=int, default=500, help="0: no images")
    ap.add_argument("--print-every", type=int, default=250, help="0: no progress lines")
    ap.add_argument("--max-rate", type=float, default=300.0,
                    help="most steps per second (0: no limit)")
    ap.add_argument("--system-interval", type=float, default=1.0)
    ap.add_argument("--dir", default=None, help="traindeck folder (default: TRAINDECK_DIR)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = spiral(4000, rng)
    x_val, y_val = spiral(1000, rng)
    model = MLP(args.width, rng)
    config = {k: v for k, v in vars(args).items() if k not in ("project", "name", "dir")}
    run = traindeck.init(
        project=args.project, name=args.name, config=config, tags=["numpy", "spiral"],
        dir=args.dir, system_interval=args.system_interval or None,
    )
    ckpt_dir = Path(run.dir or ".") / "checkpoints"
    state: dict[str, Any] = {"step": 0}

    def checkpoint_now(step: int) -> Path:
        path = save_checkpoint(model, ckpt_dir, step)
        # run.log_checkpoint is the SDK's checkpoint record (DESIGN §4); older SDKs lack it.
        log_checkpoint = getattr(run, "log_checkpoint", None)
        if log_checkpoint is not None:
            log_checkpoint(path, step=step, metrics={"loss": state.get("loss", math.nan)})
        run.summary["last_checkpoint"] = str(path)
        return path

    @run.command("validate")
    def validate() -> dict[str, float]:
        loss, acc = model.loss_acc(x_val, y_val)
        run.log({"val/loss": loss, "val/acc": acc}, step=state["step"])
        best = run.summary.get("best_val_acc")
        if best is None or acc > best:
            run.summary["best_val_acc"] = acc
        return {"val_loss": loss, "val_acc": acc, "step": state["step"]}

    @run.command("sample")
    def sample(n: int = 5) -> list[dict[str, Any]]:
        idx = rng.choice(len(x_val), size=max(1, min(int(n), 50)), replace=False)
        probs, _ = model.forward(x_val[idx])
        return [
            {"x": [round(float(v), 3) for v in x_val[i]], "label": int(y_val[i]),
             "pred": int(pr.argmax()), "confidence": round(float(pr.max()), 3)}
            for i, pr in zip(idx, probs, strict=True)
        ]

    @run.command("checkpoint")
    def checkpoint() -> dict[str, Any]:
        path = checkpoint_now(state["step"])
        return {"path": str(path), "step": state["step"]}

    length = f"{args.steps} steps" if args.steps > 0 else "until stopped"
    print(f"traindeck run {run.id} ({run.project}/{run.name}): {length}", flush=True)
    steps: Iterable[int] = (range(run.step, args.steps) if args.steps > 0
                            else itertools.count(run.step))
    started = time.monotonic()
    with run:
        try:
            for step in steps:
                state["step"] = step
                lr = schedule(step, args.steps, args.lr, args.warmup, args.cycle)
                batch = rng.integers(0, len(x_train), size=args.batch)
                loss, acc, grad_norm = model.step(x_train[batch], y_train[batch], lr)
                state["loss"] = loss
                run.log({"loss": loss, "acc": acc, "lr": lr, "grad_norm": grad_norm}, step=step)
                if run.should_stop:
                    print(f"stopped from the dashboard at step {step}", flush=True)
                    break
                if args.checkpoint_every and step > 0 and step % args.checkpoint_every == 0:
                    checkpoint_now(step)
                if args.image_every and step % args.image_every == 0:
                    run.log_image("decision", decision_image(model, x_val[:300], y_val[:300]),
                                  step=step, caption=f"step {step}, loss {loss:.3f}")
                if args.print_every and step % args.print_every == 0:
                    print(f"step {step:>7}  loss {loss:.4f}  acc {acc:.3f}  lr {lr:.5f}  "
                          f"|g| {grad_norm:.3f}", flush=True)
                if args.max_rate > 0:
                    ahead = started + (step + 1) / args.max_rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    elif ahead < -1.0:  # fell behind (paused, slow machine): don't race
                        started = time.monotonic() - (step + 1) / args.max_rate
            val_loss, val_acc = model.loss_acc(x_val, y_val)
            run.log({"val/loss": val_loss, "val/acc": val_acc}, step=state["step"])
            run.summary.update(final_val_loss=val_loss, final_val_acc=val_acc)
            print(f"done: val_loss={val_loss:.4f} val_acc={val_acc:.3f}", flush=True)
        finally:
            # A final checkpoint on every way out: done, stopped, Ctrl-C or SIGTERM.
            checkpoint_now(state["step"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
