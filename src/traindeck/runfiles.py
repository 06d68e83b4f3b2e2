"""Where a run's files live: the one place that knows the layout of a run's folder.

A files root holds one folder per run::

    <root>/runs/<run id>/
        checkpoints/      what save_checkpoint writes (and the sidecars of those files)
        media/<key>/      logged images (the key made safe for a folder name: safe_name)
        artifacts/        files the run or the launcher leaves
        console/          a launched process's raw stdout and stderr (the launcher's)
        launch/           the launcher's files (effective config, exit status)
        spool/            the remote SDK's durable queue of unsent batches

The root does not have to sit beside the database: by default it is the store's folder
(embedded SQLite), and a server given ``--dir`` with another engine names it on its own.
Paths recorded in the store for files inside a run's folder are kept relative to that
folder (POSIX separators), so a store and its files can move together; a path outside it
stays absolute.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Final

#: The sub-folders of a run's folder, by purpose.
CHECKPOINTS: Final = "checkpoints"
MEDIA: Final = "media"
ARTIFACTS: Final = "artifacts"
CONSOLE: Final = "console"
SPOOL: Final = "spool"
LAUNCH: Final = "launch"
#: Folders of a run never served as artifacts: the SDK's queue of unsent batches, and the
#: launcher's raw console files (unredacted: the console is served from the store,
#: redacted) and its working files (the effective config, the exit status).
PRIVATE: Final = frozenset({SPOOL, CONSOLE, LAUNCH})

#: Characters a media key keeps in its folder name; any other becomes ``_``.
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(key: str) -> str:
    """The folder name of a (checked) media key: characters other than ``A-Za-z0-9._-``
    become ``_``."""
    return _UNSAFE.sub("_", key)


def media_rel(key: str, filename: str) -> str:
    """Where a media file of ``key`` lies, relative to its run's folder (the form the store
    keeps): ``media/<safe key>/<filename>``."""
    return f"{MEDIA}/{safe_name(key)}/{filename}"


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies strictly inside ``root`` once ``..`` and links are resolved."""
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return real != base and os.path.commonpath([real, base]) == base


class RunFiles:
    """The layout of run folders under one files root."""

    __slots__ = ("root",)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFiles({str(self.root)!r})"

    @property
    def runs(self) -> Path:
        """The folder that holds every run's folder."""
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def checkpoints(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CHECKPOINTS

    def media(self, run_id: str, key: str | None = None) -> Path:
        """The run's media folder, or the folder of one key (made safe: ``safe_name``)."""
        folder = self.run_dir(run_id) / MEDIA
        return folder if key is None else folder / safe_name(key)

    def media_file(self, run_id: str, key: str, filename: str) -> Path:
        """Where a media file is on disk (``media_rel`` read against the run's folder)."""
        return self.run_dir(run_id) / media_rel(key, filename)

    def artifacts(self, run_id: str) -> Path:
        return self.run_dir(run_id) / ARTIFACTS

    def console(self, run_id: str) -> Path:
        return self.run_dir(run_id) / CONSOLE

    def spool(self, run_id: str) -> Path:
        return self.run_dir(run_id) / SPOOL

    def stored_path(self, run_id: str, path: str | os.PathLike[str]) -> str:
        """The form in which the store keeps ``path``: relative to the run's folder (POSIX
        separators) when it lies inside it, else absolute. A relative ``path`` is read
        against the current directory, where the script that names it runs."""
        absolute = Path(os.path.abspath(path))
        run_dir = Path(os.path.abspath(self.run_dir(run_id)))
        for base, target in ((run_dir, absolute),
                             (Path(os.path.realpath(run_dir)), Path(os.path.realpath(absolute)))):
            try:
                rel = target.relative_to(base)
            except ValueError:
                continue
            if rel.parts:
                return PurePosixPath(*rel.parts).as_posix()
        return str(absolute)

    def resolve(self, run_id: str, stored: str) -> Path:
        """Where a path the store keeps is on disk: a relative one read against the run's
        folder, an absolute one as it is.

        An older SDK kept paths relative to the script's folder
        (``d7/runs/<id>/checkpoints/…`` for ``TRAINDECK_DIR=d7``): when the path read
        against the run's folder does not exist, the part after ``runs/<id>/`` is taken
        if that exists."""
        path = Path(stored)
        if path.is_absolute():
            return path
        run_dir = self.run_dir(run_id)
        found = run_dir / path
        if "runs" not in stored or os.path.lexists(found):
            return found
        parts = PurePosixPath(stored.replace("\\", "/")).parts
        for i in range(len(parts) - 2, -1, -1):
            if parts[i:i + 2] == ("runs", run_id) and i + 2 < len(parts):
                legacy = run_dir.joinpath(*parts[i + 2:])
                return legacy if os.path.lexists(legacy) else found
        return found

    def inside_run(self, run_id: str, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` lies strictly inside the run's folder (links resolved)."""
        return is_inside(path, self.run_dir(run_id))

    def remove_run(self, run_id: str) -> bool:
        """Delete the run's folder and all in it; whether there was one. Never follows a
        link out of the root: a run folder that is itself a link is unlinked, not walked."""
        folder = self.run_dir(run_id)
        if folder.is_symlink():
            folder.unlink()
            return True
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True
