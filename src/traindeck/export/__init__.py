"""Exporting runs' metrics to files: CSV and Parquet, raw points or exact buckets, and
TensorBoard event files (``tensorboard.py``).

Engine-neutral: everything goes through the ``Store`` interface (``metric_keys``,
``read_points`` in step windows, ``read_buckets``). ``blocks.py`` reads, ``csv.py`` and
``parquet.py`` write, ``stream.py`` ties them into one streamed export for the CLI
(``traindeck export``) and the server (``GET /api/runs/{id}/export``).
"""

from __future__ import annotations

from .blocks import BUCKET_COLUMNS, POINT_COLUMNS, Block, matches, parse_keys
from .parquet import MissingDependency
from .stream import FORMATS, MAX_BUCKETS, Export, prepare

__all__ = ["BUCKET_COLUMNS", "FORMATS", "MAX_BUCKETS", "POINT_COLUMNS", "Block", "Export",
           "MissingDependency", "matches", "parse_keys", "prepare"]
