"""Which checkpoint is best, and which ones retention may delete.

``best`` is ``"min:<metric>"`` or ``"max:<metric>"`` over the metrics given to
``save_checkpoint``/``log_checkpoint``. ``prune`` keeps the ``keep_last`` newest (by step),
the ``keep_best`` best, and always: the one marked best, the newest, and any named in
``protect`` (id or path: one being written or read). It deletes the file, its sidecar, then
the row; the store writes a ``checkpoint_deleted`` event with the reason for each.

Stored paths are read through the run's :class:`~traindeck.runfiles.RunFiles` (relative ones
against the run's folder, never against the current directory), and no file outside the run's
folder (or the extra ``roots`` a caller names, such as a run's own ``checkpoint_dir``) is ever
deleted: a checkpoint whose file lies elsewhere is kept, row and file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, Protocol

from ..runfiles import RunFiles, is_inside
from ..store import Checkpoint
from .files import fsync_dir, remove_path, sidecar_path


class CheckpointRows(Protocol):
    """What ``prune`` needs of where the rows live (a store, or the SDK's backend). The
    paths it lists are as stored (relative to the run's folder, or absolute)."""

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


def deletable(files: RunFiles, run_id: str, path: str | os.PathLike[str],
              roots: Iterable[str | os.PathLike[str]] = ()) -> bool:
    """Whether retention may delete ``path`` (on disk, resolved): it lies inside the run's
    folder or inside one of ``roots`` (links resolved: a link out of them does not count)."""
    return files.inside_run(run_id, path) or any(is_inside(path, r) for r in roots)


def delete_checkpoint_files(files: RunFiles, ck: Checkpoint,
                            roots: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Delete a checkpoint's file (or folder) and its sidecar, found through ``files``.

    ``PermissionError`` (and nothing is touched) when the file lies outside the run's folder
    and ``roots``."""
    path = files.resolve(ck.run_id, ck.path)
    if not deletable(files, ck.run_id, path, roots):
        raise PermissionError(f"{path} lies outside the folder of run {ck.run_id}; "
                              "traindeck does not delete it")
    remove_path(path)
    remove_path(sidecar_path(path))
    fsync_dir(path.parent)


def to_prune(
    checkpoints: Sequence[Checkpoint],
    files: RunFiles,
    run_id: str,
    *,
    keep_last: int | None,
    keep_best: int | None,
    best: str | BestSpec | None = None,
    protect: Iterable[str] = (),
    roots: Iterable[str | os.PathLike[str]] = (),
) -> list[Checkpoint]:
    """What ``prune`` would delete (nothing is touched): ``to_delete`` over the files as
    ``files`` finds them, less any whose file lies outside the run's folder and ``roots``.
    ``protect`` holds ids, or paths on disk (relative ones: against the current folder)."""
    roots = list(roots)
    on_disk = {c.id: files.resolve(run_id, c.path) for c in checkpoints}
    kept = [c.id for c in checkpoints if not deletable(files, run_id, on_disk[c.id], roots)]
    resolved = [replace(c, path=str(on_disk[c.id])) for c in checkpoints]
    doomed = {c.id for c in to_delete(resolved, keep_last=keep_last, keep_best=keep_best,
                                      best=best, protect=[*protect, *kept])}
    return [c for c in sorted(checkpoints, key=lambda c: c.step) if c.id in doomed]


def prune(
    store: CheckpointRows,
    files: RunFiles,
    run_id: str,
    *,
    keep_last: int | None,
    keep_best: int | None,
    best: str | BestSpec | None = None,
    protect: Iterable[str] = (),
    roots: Iterable[str | os.PathLike[str]] = (),
) -> list[Checkpoint]:
    """Delete the run's checkpoints beyond retention (files, sidecars and rows).

    Paths are read through ``files`` (wherever the caller runs). Never deletes the
    checkpoint marked best, the newest one, one whose id or path is in ``protect``, or one
    whose file lies outside the run's folder and ``roots``. Returns the deleted ones (as
    stored). A file that cannot be deleted keeps its row."""
    roots = list(roots)
    checkpoints = store.list_checkpoints(run_id)
    doomed = to_prune(checkpoints, files, run_id, keep_last=keep_last, keep_best=keep_best,
                      best=best, protect=protect, roots=roots)
    reason = "retention: " + ", ".join(
        f"{k}={v}" for k, v in (("keep_last", keep_last), ("keep_best", keep_best),
                                ("best", None if best is None else str(best)))
        if v is not None)
    deleted: list[Checkpoint] = []
    for ck in doomed:
        try:
            delete_checkpoint_files(files, ck, roots)
        except OSError:
            continue
        store.delete_checkpoint(ck.id, reason=reason)
        deleted.append(ck)
    return deleted
