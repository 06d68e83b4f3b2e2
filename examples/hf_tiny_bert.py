"""A tiny BERT classifier trained by the Hugging Face ``Trainer``, tracked by traindeck.

    pip install 'traindeck[huggingface]'
    python examples/hf_tiny_bert.py            # a few seconds on a CPU
    traindeck serve                            # then open the dashboard

The model is built from a config (no download) and learns a made-up rule on random
tokens: the label is whether the first token is even. ``TraindeckCallback`` records the
Trainer's logs (``train/loss``, ``eval/loss``, ``eval/accuracy``), its arguments as the
run's config and its checkpoints, and lets the dashboard stop it, save a checkpoint or
evaluate.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is built locally
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from traindeck.integrations.huggingface import TraindeckCallback

VOCAB = 100
LENGTH = 16


class RandomTokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """``n`` rows of random token ids; the label is whether the first token is even."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, VOCAB, (n, LENGTH), generator=g)
        self.labels = (self.ids[:, 0] % 2 == 0).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def tiny_model(seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                        intermediate_size=37, vocab_size=VOCAB,
                        max_position_embeddings=LENGTH, num_labels=2)
    return BertForSequenceClassification(config)


def accuracy(prediction: Any) -> dict[str, float]:
    logits, labels = prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--output-dir", default="hf_tiny_bert_out")
    ap.add_argument("--project", default="hf-tiny-bert")
    ap.add_argument("--name", default="tiny-bert")
    args = ap.parse_args()

    training_args = TrainingArguments(
        output_dir=args.output_dir, max_steps=args.steps, learning_rate=1e-3,
        per_device_train_batch_size=16, per_device_eval_batch_size=64,
        logging_steps=10, eval_strategy="steps", eval_steps=20, save_steps=20,
        metric_for_best_model="eval_loss", greater_is_better=False,
        use_cpu=True, disable_tqdm=True, report_to="none", seed=0,
    )
    callback = TraindeckCallback(project=args.project, name=args.name)
    trainer = Trainer(model=tiny_model(), args=training_args,
                      train_dataset=RandomTokens(512, seed=1),
                      eval_dataset=RandomTokens(128, seed=2),
                      compute_metrics=accuracy, callbacks=[callback])
    trainer.train()
    run = callback.run
    print(f"run {run.id if run else '-'}: best checkpoint {trainer.state.best_model_checkpoint}")


if __name__ == "__main__":
    main()
