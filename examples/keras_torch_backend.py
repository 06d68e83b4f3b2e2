"""A tiny Keras 3 classifier (torch backend) on random data, tracked by traindeck.

    python examples/keras_torch_backend.py                      # 3 epochs, a few seconds
    python examples/keras_torch_backend.py --epochs 1000 --sleep 0.02   # until stopped

Random 16-feature points whose class is decided by a fixed random projection, so the model
really learns. ``TraindeckCallback`` records ``loss``/``accuracy`` every batch (global
batch steps), ``epoch/*`` and ``val_*`` every epoch, the optimizer's settings and the
model's size as the config, and the files of a ``ModelCheckpoint`` (best by
``val_loss``) as the run's checkpoints. It serves the dashboard's buttons: ``validate``
(``model.evaluate`` now, answers its metrics), ``checkpoint`` (``model.save`` now) and
``stop`` (ends ``fit`` after the current batch). ``TRAINDECK_DIR`` says where the store is
(``./traindeck`` by default).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from traindeck.integrations.keras import TraindeckCallback


class Slow(keras.callbacks.Callback):  # type: ignore[misc]
    """Sleeps after every batch, so a person can steer the run from the dashboard."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        time.sleep(self.seconds)


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(n, 16)).astype("float32")
    w = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    return x, (x @ w).argmax(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per training step")
    p.add_argument("--project", default="keras-demo")
    p.add_argument("--out", default="keras-checkpoints", help="ModelCheckpoint's folder")
    args = p.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(args.width, "relu"),
                              keras.layers.Dense(4)], name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(args.lr), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(512, seed=1)
    val = data(128, seed=2)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    best = keras.callbacks.ModelCheckpoint(
        os.path.join(args.out, "epoch{epoch:03d}.keras"), monitor="val_loss",
        save_best_only=True)
    callbacks = [best, TraindeckCallback(project=args.project, name="mlp",
                                         validation_data=val, checkpoints=best)]
    if args.sleep:
        callbacks.append(Slow(args.sleep))
    history = model.fit(x, y, batch_size=32, epochs=args.epochs, validation_data=val,
                        callbacks=callbacks, verbose=0)
    print(f"trained {len(history.epoch)} epochs, val_loss {history.history['val_loss'][-1]:.3f}")


if __name__ == "__main__":
    main()
