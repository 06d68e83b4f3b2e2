"""Importing TensorBoard logs: each folder of event files becomes one traindeck run.

:func:`find_runs` walks each given folder for ``events.out.tfevents.*`` files; every folder
that holds some is a run, named after its path relative to the given folder (the given
folder's own name when the files lie directly in it), as TensorBoard names its runs. One
exception, for ``SummaryWriter.add_hparams`` of ``torch.utils.tensorboard``, which writes
the hyperparameters into a new subfolder of the run: a subfolder of a run whose events
hold ``hparams`` plugin data is read as part of that run (its hparams become the run's
config, its scalars the run's).

:func:`import_runs` imports them through the import core (``core.py``): the run's id comes
from the folder's absolute path, and the cursor is ``{file: bytes read}`` per event file,
so importing again reads only what the files gained since (nothing: "already imported").
Records are read by ``tfrecord.scan`` and decoded by ``tfevents.decode``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .core import CommitResult, Importer, Source
from .tfevents import Decoded, decode
from .tfrecord import scan

#: What an event file's name starts with.
EVENTS_PREFIX: Final = "events.out.tfevents."
#: A subfolder is checked for hparams only when its event files are this small.
HPARAMS_FOLDER_MAX: Final = 1 << 20


@dataclass(slots=True)
class RunFolder:
    """A run's folder, its name, and its event files (relative to the folder)."""

    path: Path
    name: str
    files: list[str] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Outcome:
    """What importing one run did."""

    folder: RunFolder
    result: CommitResult | None
    #: True when nothing was new since the last import.
    unchanged: bool
    #: Records skipped for a bad CRC.
    corrupt: int


def _event_files(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder)
                      if e.name.startswith(EVENTS_PREFIX) and e.is_file())
    except OSError:
        return []


def _has_hparams(folder: Path, files: Sequence[str]) -> bool:
    if sum((folder / f).stat().st_size for f in files) > HPARAMS_FOLDER_MAX:
        return False
    out = Decoded()
    for f in files:
        decode(scan((folder / f).read_bytes()), out)
    return bool(out.hparams)


def find_runs(root: Path) -> list[RunFolder]:
    """The run folders under ``root``, by name (hparams subfolders folded into their run)."""
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    found: dict[Path, RunFolder] = {}
    for here, dirs, _ in os.walk(root):
        dirs.sort()
        folder = Path(here)
        files = _event_files(folder)
        if not files:
            continue
        rel = folder.relative_to(root).as_posix()
        name = root.name if rel == "." else rel
        parent = next((found[p] for p in folder.parents if p in found), None)
        if parent is not None and _has_hparams(folder, files):
            sub = folder.relative_to(parent.path).as_posix()
            parent.files += [f"{sub}/{f}" for f in files]
            continue
        found[folder] = RunFolder(folder, name or "run", files)
    return sorted(found.values(), key=lambda r: r.name)


def total_bytes(runs: Iterable[RunFolder]) -> int:
    return sum((r.path / f).stat().st_size for r in runs for f in r.files)


def import_run(importer: Importer, folder: RunFolder, *, project: str,
               tags: Sequence[str] = (), on_bytes: Callable[[int], None] | None = None
               ) -> Outcome:
    """Import one run folder: what its files gained since the last import, at once."""
    key = "tensorboard:" + folder.path.as_posix()
    run = importer.open(Source(key=key, project=project, name=folder.name, tags=list(tags),
                               origin=str(folder.path)))
    before: dict[str, Any] = dict((run.cursor or {}).get("files", {}))
    cursor: dict[str, int] = {}
    decoded = Decoded()
    corrupt = 0
    for name in folder.files:
        path = folder.path / name
        start = int(before.get(name, 0))
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
        rec = scan(data)
        decode(rec, decoded)
        corrupt += rec.corrupt
        cursor[name] = start + rec.end
        if on_bytes is not None:
            on_bytes(len(data))
    if run.exists and cursor == {k: int(v) for k, v in before.items()}:
        return Outcome(folder, None, True, corrupt)
    for tag, parts in decoded.scalars.items():
        for steps, times, values in parts:
            run.add_points(tag, steps, times, values)
    for tag, step, data, ext in decoded.images:
        run.add_image(tag, step, data, ext=ext)
    if decoded.hparams:
        run.set_config(decoded.hparams)
    return Outcome(folder, run.commit({"files": cursor}), False, corrupt)


__all__ = ["EVENTS_PREFIX", "Outcome", "RunFolder", "find_runs", "import_run", "total_bytes"]
