"""Checkpoints: naming, safe writing, verification and retention.

The store keeps the rows (``Store.add_checkpoint`` and friends); this package deals with the
files. The SDK (``Run.save_checkpoint`` …) and the CLI/REST (``traindeck ckpt``) both use it.
"""

from __future__ import annotations

from .files import (
    BYTES_EXT,
    atomic_write,
    path_size,
    read_sidecar,
    remove_stale_temps,
    save_object,
    sha256_file,
    sidecar_path,
    write_sidecar,
)
from .naming import (
    DEFAULT_EXT,
    DEFAULT_TEMPLATE,
    EXTENSIONS,
    NAME_RE,
    SUFFIX_KINDS,
    ParsedName,
    format_name,
    parse_name,
    sort_by_step,
)
from .retention import (
    BestSpec,
    deletable,
    delete_checkpoint_files,
    is_new_best,
    parse_best,
    prune,
    rank_best,
    to_delete,
    to_prune,
)
from .verify import verify

__all__ = [
    "BYTES_EXT",
    "DEFAULT_EXT",
    "DEFAULT_TEMPLATE",
    "EXTENSIONS",
    "NAME_RE",
    "SUFFIX_KINDS",
    "BestSpec",
    "ParsedName",
    "atomic_write",
    "deletable",
    "delete_checkpoint_files",
    "format_name",
    "is_new_best",
    "parse_best",
    "parse_name",
    "path_size",
    "prune",
    "rank_best",
    "read_sidecar",
    "remove_stale_temps",
    "save_object",
    "sha256_file",
    "sidecar_path",
    "sort_by_step",
    "to_delete",
    "to_prune",
    "verify",
    "write_sidecar",
]
