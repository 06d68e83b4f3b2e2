"""A wandb-style training script: softmax regression on three Gaussian blobs, in numpy.

Written the way wandb's quickstart writes it; the one line that differs is the import
(``import traindeck.wandb as wandb`` instead of ``import wandb``). Run it with
``TRAINDECK_DIR`` pointing at a traindeck folder and open the run in ``traindeck serve``.

    TRAINDECK_DIR=./traindeck python examples/wandb_style/train_numpy.py --epochs 5
"""

from __future__ import annotations

import argparse

import numpy as np

import traindeck.wandb as wandb


def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    y = rng.integers(0, 3, size=n)
    x = centres[y] + rng.normal(scale=0.7, size=(n, 2))
    return x, y


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return p


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    wandb.login()
    run = wandb.init(project="blobs", name="softmax-numpy", config=args,
                     tags=["numpy", "baseline"], group="softmax", job_type="train",
                     notes="softmax regression on three blobs")
    config = wandb.config
    print(f"run {run.id} ({run.name}) in {run.project}; url: {run.url}")

    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch")
    wandb.define_metric("val/loss", step_metric="epoch", summary="min")
    wandb.define_metric("val/acc", step_metric="epoch", summary="max")
    wandb.define_metric("train/loss", summary="min,last")

    rng = np.random.default_rng(config.seed)
    w = np.zeros((2, 3))
    b = np.zeros(3)
    wandb.watch(w, log="all")  # wandb would hook a torch model; a documented no-op here
    x_val, y_val = make_data(rng, 300)

    for epoch in range(config.epochs):
        for _ in range(config["batches"]):
            x, y = make_data(rng, config.batch_size)
            p = softmax(x @ w + b)
            loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
            grad = p.copy()
            grad[np.arange(len(y)), y] -= 1
            grad /= len(y)
            w -= config.lr * x.T @ grad
            b -= config.lr * grad.sum(axis=0)
            wandb.log({"train/loss": loss, "train/acc": np.mean(p.argmax(1) == y)})

        p_val = softmax(x_val @ w + b)
        val_loss = float(-np.mean(np.log(p_val[np.arange(len(y_val)), y_val] + 1e-12)))
        val_acc = float(np.mean(p_val.argmax(1) == y_val))
        grid = np.stack(np.meshgrid(np.linspace(-4, 4, 32), np.linspace(-4, 4, 32)), -1)
        probs = softmax(grid.reshape(-1, 2) @ w + b).reshape(32, 32, 3)
        wandb.log({"epoch": epoch, "val/loss": val_loss, "val/acc": val_acc,
                   "weights": wandb.Histogram(w.ravel()),
                   "decision": wandb.Image(probs, caption=f"epoch {epoch}")})

    wandb.summary["final_val_acc"] = val_acc
    run.summary.update({"epochs_run": config.epochs})
    wandb.finish()


if __name__ == "__main__":
    main()
