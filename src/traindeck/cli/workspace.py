"""Where the CLI finds the store: ``--store``/``TRAINDECK_STORE`` (a URL: PostgreSQL, or a
SQLite file), else the folder ``--dir``, else ``TRAINDECK_DIR``, else ``./traindeck``.
With a store URL, ``--dir`` names only the folder of the run files.

The environment is read here, at the edge (through the option's ``envvar``), and passed on
as plain paths; nothing below the CLI reads it.

Opening the store is also when a reader reaps: a run whose heartbeat stopped (its process
was killed, and no server is up to notice) is marked ``interrupted`` before the command
reads it. A run's files are found through :class:`~traindeck.runfiles.RunFiles`: paths the
store keeps relative to the run's folder are read against that folder, never against the
shell's current directory. Run folders live under the files root: ``--files-root``, else
``TRAINDECK_FILES_ROOT``, else the store's folder (for SQLite, beside its database).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Final

import typer

from traindeck.runfiles import RunFiles
from traindeck.store import NotFound, Run, Store, StoreError, db_path, is_postgres, open_store

from .output import fail

DEFAULT_DIR: Final = "traindeck"

# A str, not a Path: Path would fold the slashes of ``sqlite:///…``.
DirOption = Annotated[
    str,
    typer.Option(
        "--dir", "-d", envvar="TRAINDECK_DIR",
        help="The traindeck folder (its traindeck.db), a .db file or a sqlite:/// URL.",
    ),
]


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="TRAINDECK_STORE", metavar="URL",
        help="The store as a URL: postgresql://user@host:port/db[?schema=name] (or "
             "sqlite:///file.db); --dir then names only the folder of the run files.",
    ),
]


FilesRootOption = Annotated[
    str | None,
    typer.Option(
        "--files-root", envvar="TRAINDECK_FILES_ROOT", metavar="DIR",
        help="Where run folders live (runs/<id>/: checkpoints, media, artifacts); "
             "default: the store's folder.",
    ),
]


def open_workspace(where: Path | str, store_url: str | None = None) -> Store:
    """The store ``--store`` names (run files under ``where``), else the one in ``where``;
    created if there is none yet."""
    if store_url:
        return open_store(store_url, files_root=where)
    return open_store(where)


def open_existing_store(where: Path | str, store_url: str | None = None) -> Store:
    """Open the store at ``where`` (or ``store_url``), its stale runs reaped; a clear error
    (exit 1) when there is no SQLite store there yet.

    Reading commands never create an empty SQLite store as a side effect of a typo.
    """
    if not store_url or not is_postgres(store_url):
        path = db_path(store_url or where)
        if not path.exists():
            fail(
                f"no traindeck store at {path} (nothing tracked there yet?); "
                "pass --dir or set TRAINDECK_DIR"
            )
    store = open_workspace(where, store_url)
    try:
        store.reap_stale()
    except StoreError:
        pass  # busy or read-only: what is stored can still be read
    return store


def run_files(store: Store, files_root: str | Path | None = None) -> RunFiles:
    """The layout of the run folders: under ``files_root`` (``--files-root``) when given,
    else under the store's folder (for SQLite: beside its database)."""
    return RunFiles(store.files_root if files_root is None else files_root)


def stored_file(files: RunFiles, run_id: str, stored: str) -> Path:
    """Where a file the store records for a run is: a relative path read against the run's
    folder. A relative path written by an SDK that kept it relative to the script's
    directory (``d7/runs/<id>/checkpoints/…`` for ``TRAINDECK_DIR=d7``) is read from the
    part after ``runs/<id>/`` when the path as recorded does not exist."""
    path = files.resolve(run_id, stored)
    if path.exists() or Path(stored).is_absolute():
        return path
    parts = PurePosixPath(stored.replace("\\", "/")).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i:i + 2] == ("runs", run_id) and i + 2 < len(parts):
            legacy = files.run_dir(run_id).joinpath(*parts[i + 2:])
            return legacy if legacy.exists() else path
    return path


def resolve_run(store: Store, ref: str) -> Run:
    """The run whose id is ``ref``, or whose id starts with ``ref`` if only one does."""
    try:
        return store.get_run(ref)
    except NotFound:
        pass
    if ref:
        candidates, _ = store.list_runs(search=ref, limit=1000)
        matches = [r for r in candidates if r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(r.id for r in matches[:5])
            fail(f"run id {ref!r} is ambiguous: it starts {len(matches)} run ids ({ids}…)")
    fail(f"no run {ref!r} in {store.location} (see: traindeck runs ls)")
