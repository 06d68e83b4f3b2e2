"""``traindeck store compact``: bring a store written by an older traindeck up to date.

Metric chunks that an older version wrote raw are packed (pcodec, see
``traindeck.store.packing``), and every series gets its chunk groups (the coarse rollup that
keeps long reads flat). Reads and writes work the whole time, before, during and after: the
command only makes the file smaller and long reads faster. It commits as it goes, so an
interrupted compaction (Ctrl-C, a full disk) keeps what it did; run it again to finish.
"""

from __future__ import annotations

import os

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from traindeck.store import SQLiteStore

from .output import cli_errors, console
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store

app = typer.Typer(help="Maintain the store file.", no_args_is_help=True)


def _size(path: str) -> int:
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


@app.command("compact")
@cli_errors
def compact(dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Pack the metric chunks an older traindeck wrote and make their coarse rollups
    (resumable; the store stays usable meanwhile)."""
    store = open_existing_store(dir, store_url)
    path = str(store.path) if isinstance(store, SQLiteStore) else None
    before = _size(path) if path else 0
    err = console(stderr=True)
    try:
        with Progress(TextColumn("compacting"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("compact", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = store.compact_metrics(progress)
    finally:
        store.close()
    out = console()
    size = (f"; the file: {before / 1e6:.1f} MB before, {_size(path) / 1e6:.1f} MB now (the "
            "space freed inside it is reused by later writes)") if path else ""
    out.print(f"{result.chunks_repacked} chunks packed, {result.groups_made} chunk groups made "
              f"or grown, {result.groups_updated} brought up to date{size}")
