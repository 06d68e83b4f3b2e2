"""Importing runs from other trackers' logs into the store.

``core.py`` is what every importer shares (a run per source, exactly-once commits with a
cursor, original wall times; read its docstring to write an importer). ``tensorboard.py``
imports TensorBoard event files (``tfrecord.py`` frames them, ``tfevents.py`` decodes
them); ``mlflow.py`` imports an MLflow tracking store through MLflow's client. Nothing here
is imported by ``import traindeck``; the ``tensorboard`` package is imported only when an
event file needs its protos, ``mlflow`` only when an MLflow import starts.
"""

from __future__ import annotations

from .core import (
    IMPORT_EVENT,
    IMPORTED_STATUS,
    CommitResult,
    ImportedRun,
    Importer,
    Source,
    last_cursor,
    media_key,
    run_id_for,
)

__all__ = ["IMPORTED_STATUS", "IMPORT_EVENT", "CommitResult", "ImportedRun", "Importer",
           "Source", "last_cursor", "media_key", "run_id_for"]
