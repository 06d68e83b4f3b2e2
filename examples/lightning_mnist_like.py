"""A tiny PyTorch Lightning classifier on random "MNIST-like" data, tracked by traindeck.

    python examples/lightning_mnist_like.py                   # 3 epochs, a few seconds
    python examples/lightning_mnist_like.py --epochs 0 --sleep 0.02  # until stopped

Random 8x8 "images" whose class is decided by a fixed random projection, so the model
really learns. ``TraindeckLogger`` records ``train/loss`` every few steps, ``val/loss`` and
``val/acc`` every epoch, the hyperparameters (``save_hyperparameters``) as the config, and
the files ``ModelCheckpoint`` keeps (top 2 by ``val/loss``, the best marked) as the run's
checkpoints. ``TraindeckCallback`` serves the dashboard's buttons: ``validate`` (runs
validation now, answers its metrics), ``checkpoint`` (saves a full Trainer checkpoint now)
and ``stop`` (ends training after the current batch). ``--epochs 0`` trains until stopped.
``TRAINDECK_DIR`` says where the store is (``./traindeck`` by default).
"""

from __future__ import annotations

import argparse
import time

import lightning.pytorch as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from traindeck.integrations.lightning import TraindeckCallback, TraindeckLogger


class Classifier(L.LightningModule):
    def __init__(self, width: int = 32, lr: float = 0.05, sleep: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(),
                                 nn.Linear(width, 10))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> torch.Tensor:
        if self.hparams["sleep"]:
            time.sleep(self.hparams["sleep"])  # slow enough to steer from the dashboard
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> None:
        x, y = batch
        logits = self.net(x)
        self.log("val/loss", nn.functional.cross_entropy(logits, y))
        self.log("val/acc", (logits.argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"], momentum=0.9)


def data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    w = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    return TensorDataset(x, (x.flatten(1) @ w).argmax(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3, help="0: until stopped")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per training step")
    p.add_argument("--project", default="lightning-demo")
    args = p.parse_args()
    torch.manual_seed(0)
    logger = TraindeckLogger(project=args.project, name="mnist-like")
    trainer = L.Trainer(
        max_epochs=args.epochs or -1, logger=logger, accelerator="cpu", devices=1,
        log_every_n_steps=5, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[TraindeckCallback(),
                   L.callbacks.ModelCheckpoint(monitor="val/loss", mode="min", save_top_k=2)],
    )
    model = Classifier(width=args.width, lr=args.lr, sleep=args.sleep)
    train = DataLoader(data(640, seed=1), batch_size=32, shuffle=True)
    val = DataLoader(data(256, seed=2), batch_size=64)
    trainer.fit(model, train, val)
    print(f"trained {trainer.global_step} steps, {trainer.current_epoch} epochs")


if __name__ == "__main__":
    main()
