"""Framework integrations: each module imports its framework, so import the one you use.

- :mod:`traindeck.integrations.lightning`: ``TraindeckLogger`` and ``TraindeckCallback``
  for PyTorch Lightning (``pip install 'traindeck[lightning]'``).
- :mod:`traindeck.integrations.keras`: ``TraindeckCallback`` for Keras 3
  (``pip install 'traindeck[keras]'``).
- :mod:`traindeck.integrations.huggingface`: a ``TrainerCallback`` for Hugging Face
  Transformers (``pip install 'traindeck[huggingface]'``).

This package imports nothing itself, so ``import traindeck`` never loads a framework.
"""
