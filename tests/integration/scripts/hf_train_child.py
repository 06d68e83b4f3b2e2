"""A Hugging Face ``Trainer`` that trains until the dashboard stops it (integration tests).

    python hf_train_child.py --output-dir DIR [--sleep S]

The tiny model and data of ``examples/hf_tiny_bert.py``; no evaluation or checkpoint is
scheduled (``eval_steps`` beyond reach, ``save_strategy="no"``), so any that happen were
asked for by a command. Prints ``READY <run_id>`` once training has begun.
``TRAINDECK_DIR`` says where the store is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))

from hf_tiny_bert import RandomTokens, tiny_model
from transformers import Trainer, TrainerCallback, TrainingArguments

from traindeck.integrations.huggingface import TraindeckCallback


class Pace(TrainerCallback):  # type: ignore[misc]
    """Says READY once the run exists; sleeps a little each step (a shared CPU)."""

    def __init__(self, tracker: TraindeckCallback, sleep: float) -> None:
        self.tracker = tracker
        self.sleep = sleep

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = self.tracker.run
        assert run is not None
        print(f"READY {run.id}", flush=True)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        time.sleep(self.sleep)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output-dir", required=True)
    ap.add_argument("--sleep", type=float, default=0.02)
    args = ap.parse_args()
    training_args = TrainingArguments(
        output_dir=args.output_dir, max_steps=1_000_000, learning_rate=1e-3,
        per_device_train_batch_size=8, logging_steps=5, eval_strategy="steps",
        eval_steps=1_000_000, save_strategy="no", use_cpu=True, disable_tqdm=True,
        report_to="none", seed=0)
    tracker = TraindeckCallback(project="hf-itest", name="commands",
                                heartbeat_interval=0.2, system_interval=None)
    trainer = Trainer(model=tiny_model(), args=training_args,
                      train_dataset=RandomTokens(64, seed=1),
                      eval_dataset=RandomTokens(32, seed=2),
                      callbacks=[tracker, Pace(tracker, args.sleep)])
    trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
