"""Which recorded files the server may open or delete: only those under its serve roots.

A checkpoint may be recorded anywhere (users keep checkpoints where their framework writes
them), but the server reads or deletes a recorded path only when its real path (``..`` and
every symbolic link resolved) lies inside one of the folders it was told to serve: the data
folder (where run folders live) and the folders named with ``traindeck serve --serve-root
DIR`` (:attr:`Settings.serve_roots`). Anything else is refused with 403 and a message that
says how to allow its folder, so a read token cannot fetch ``/etc/…`` or ``~/.ssh/…``
through a checkpoint row. The store's own files are never served, even inside a root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from traindeck.runfiles import RunFiles, is_inside
from traindeck.store import Conflict


class ServedFiles:
    """The data folder's layout plus the roots whose files may be served or deleted."""

    def __init__(self, files: RunFiles, extra_roots: Sequence[str | os.PathLike[str]] = (),
                 protected: Callable[[str], bool] = lambda path: False) -> None:
        self.files = files
        self.roots: tuple[Path, ...] = (files.root, *(Path(r) for r in extra_roots))
        self._protected = protected

    def resolve(self, run_id: str, stored: str) -> Path:
        """Where a recorded path is on disk (a relative one is inside the run's folder)."""
        return self.files.resolve(run_id, stored)

    def allowed(self, path: str | os.PathLike[str]) -> Path:
        """The real path of ``path`` when the server may open it; else raises: 403 for a
        path outside every root (or one of the store's own files), ``Conflict`` (409) for
        a path the OS cannot name (a NUL byte, too long)."""
        try:
            real = Path(os.path.realpath(path))
            inside = any(is_inside(real, root) for root in self.roots)
        except (OSError, ValueError) as exc:
            raise Conflict(f"cannot read {str(path)!r}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
        if not inside:
            raise HTTPException(403, self.refusal(path, real))
        if self._protected(str(real)):
            raise HTTPException(403, f"{path} is one of the store's own files; the server "
                                     "never serves or deletes it")
        return real

    def refusal(self, path: str | os.PathLike[str], real: Path) -> str:
        via = "" if str(real) == os.path.abspath(path) else f" (a link to {real})"
        roots = ", ".join(str(r) for r in self.roots)
        return (f"{path}{via} lies outside the folders this server serves ({roots}); to "
                f"allow it, restart the server with: traindeck serve --serve-root "
                f"{real.parent} (or add that folder to TRAINDECK_SERVE_ROOTS)")


def get_served_files(request: Request) -> ServedFiles:
    served: ServedFiles = request.app.state.served_files
    return served


ServedFilesDep = Annotated[ServedFiles, Depends(get_served_files)]
