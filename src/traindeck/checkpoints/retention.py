"""Which checkpoint is best, and which ones retention may delete.

``best`` is ``"min:<metric>"`` or ``"max:<metric>"`` over the metrics given to
``save_checkpoint``/``log_checkpoint``. ``prune`` keeps the ``keep_last`` newest (by step),
the ``keep_best`` best, and always: the one marked best, the newest, and any named in
``protect`` (id or path: one being written or read). It deletes the file, its sidecar, then
the row; the store writes a ``checkpoint_deleted`` event with the reason for each.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..store import Checkpoint
from .files import fsync_dir, remove_path, sidecar_path


class CheckpointRows(Protocol):
    """What ``prune`` needs of where the rows live (a store, or the SDK's backend). The
    paths it lists are read as they are (relative ones against the current directory)."""

    def list_checkpoints(self, run_id: str) -> list[Checkpoint]: ...

    def delete_checkpoint(self, ck_id: str, reason: str | None = None) -> Any: ...


class BestSpec(NamedTuple):
    mode: str  # "min" | "max"
    key: str

    def value(self, ck: Checkpoint) -> float | None:
        """The checkpoint's metric, or None when it has none (or it is NaN)."""
        v = ck.metrics.get(self.key)
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return None if math.isnan(f) else f

    def better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def __str__(self) -> str:
        return f"{self.mode}:{self.key}"


def parse_best(spec: str | BestSpec | None) -> BestSpec | None:
    """``"min:val_loss"`` → ``BestSpec("min", "val_loss")``; ``None`` → ``None``."""
    if spec is None or isinstance(spec, BestSpec):
        return spec
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f'best is "min:<metric>" or "max:<metric>", got {spec!r}')
    mode, _, key = spec.partition(":")
    mode, key = mode.strip().lower(), key.strip()
    if mode not in ("min", "max") or not key:
        raise ValueError(f'best is "min:<metric>" or "max:<metric>", got {spec!r}')
    return BestSpec(mode, key)


def rank_best(checkpoints: Iterable[Checkpoint], best: str | BestSpec | None) -> list[Checkpoint]:
    """Checkpoints with the metric, best first (ties: the earlier step first)."""
    spec = parse_best(best)
    if spec is None:
        return []
    scored = [(v, ck) for ck in checkpoints if (v := spec.value(ck)) is not None]
    sign = 1.0 if spec.mode == "min" else -1.0
    scored.sort(key=lambda t: (sign * t[0], t[1].step, t[1].created_at))
    return [ck for _, ck in scored]


def is_new_best(candidate: Checkpoint | Any, current: Checkpoint | None,
                best: str | BestSpec | None) -> bool:
    """Whether ``candidate`` beats the run's ``current`` best (strictly)."""
    spec = parse_best(best)
    if spec is None:
        return False
    v = spec.value(candidate)
    if v is None:
        return False
    if current is None:
        return True
    cur = spec.value(current)
    return cur is None or spec.better(v, cur)


def _norm(p: str) -> str:
    return os.path.normcase(os.path.abspath(p))


def to_delete(
    checkpoints: Sequence[Checkpoint],
    *,
    keep_last: int | None,
    keep_best: int | None,
    best: str | BestSpec | None = None,
    protect: Iterable[str] = (),
) -> list[Checkpoint]:
    """What ``prune`` would delete (nothing is touched)."""
    if keep_last is None and keep_best is None:
        return []
    for name, n in (("keep_last", keep_last), ("keep_best", keep_best)):
        if n is not None and n < 0:
            raise ValueError(f"{name} must be >= 0, got {n}")
    protected = set(protect)
    protected_paths = {_norm(p) for p in protected}
    by_step = sorted(checkpoints, key=lambda c: (c.step, c.created_at), reverse=True)
    keep: set[str] = set()
    if by_step:
        newest_step = by_step[0].step
        keep.update(c.id for c in by_step if c.step == newest_step)
    keep.update(c.id for c in checkpoints if c.is_best)
    keep.update(c.id for c in checkpoints
                if c.id in protected or _norm(c.path) in protected_paths)
    if keep_last is not None:
        keep.update(c.id for c in by_step[:keep_last])
    else:
        # Only best-based retention: keep everything that has no metric to rank it by.
        spec = parse_best(best)
        keep.update(c.id for c in checkpoints if spec is None or spec.value(c) is None)
    if keep_best is not None:
        keep.update(c.id for c in rank_best(checkpoints, best)[:keep_best])
    elif keep_last is not None and best is not None:
        pass  # best marks are kept above; nothing else is kept for its metric
    return [c for c in sorted(checkpoints, key=lambda c: c.step) if c.id not in keep]


def delete_checkpoint_files(ck: Checkpoint) -> None:
    """Delete a checkpoint's file (or folder) and its sidecar."""
    remove_path(ck.path)
    remove_path(sidecar_path(ck.path))
    fsync_dir(Path(ck.path).parent)


def prune(
    store: CheckpointRows,
    run_id: str,
    *,
    keep_last: int | None,
    keep_best: int | None,
    best: str | BestSpec | None = None,
    protect: Iterable[str] = (),
) -> list[Checkpoint]:
    """Delete the run's checkpoints beyond retention (files, sidecars and rows).

    Never deletes the checkpoint marked best, the newest one, or one whose id or path is in
    ``protect``. Returns the deleted ones. A file that cannot be deleted keeps its row."""
    checkpoints = store.list_checkpoints(run_id)
    doomed = to_delete(checkpoints, keep_last=keep_last, keep_best=keep_best, best=best,
                       protect=protect)
    reason = "retention: " + ", ".join(
        f"{k}={v}" for k, v in (("keep_last", keep_last), ("keep_best", keep_best),
                                ("best", None if best is None else str(best)))
        if v is not None)
    deleted: list[Checkpoint] = []
    for ck in doomed:
        try:
            delete_checkpoint_files(ck)
        except OSError:
            continue
        store.delete_checkpoint(ck.id, reason=reason)
        deleted.append(ck)
    return deleted
