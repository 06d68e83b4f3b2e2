"""Where the CLI finds the store: ``--dir``, else ``TRAINDECK_DIR``, else ``./traindeck``.

The environment is read here, at the edge (through the option's ``envvar``), and passed on
as plain paths; nothing below the CLI reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from traindeck.store import NotFound, Run, Store, db_path, open_store

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


def open_existing_store(where: Path | str) -> Store:
    """Open the store at ``where``; a clear error (exit 1) when there is none yet.

    Reading commands never create an empty store as a side effect of a typo.
    """
    path = db_path(where)
    if not path.exists():
        fail(
            f"no traindeck store at {path} (nothing tracked there yet?); "
            "pass --dir or set TRAINDECK_DIR"
        )
    return open_store(where)


def run_folder(where: Path | str, run_id: str) -> Path:
    """The folder the SDK gives a run for its files (``<dir>/runs/<id>``)."""
    return db_path(where).parent / "runs" / run_id


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
    fail(f"no run {ref!r} in {db_path(store.path)} (see: traindeck runs ls)")
