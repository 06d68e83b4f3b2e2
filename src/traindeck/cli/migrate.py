"""``traindeck migrate --from SRC --to DST``: copy a whole store into another.

From SQLite to PostgreSQL (a team outgrowing one file), or back. Rows are copied in pages,
each committed, so an interrupted copy (Ctrl-C, a lost connection) is run again and goes
on; then every table's row count and checksum are compared (``--no-verify`` skips it).
Run folders are not copied: serve the new store with ``--dir`` naming the same folder.
Stop the servers and training scripts writing to the source first: what they write during
the copy may be left behind.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from traindeck.store import InvalidInput, open_store, redact
from traindeck.store.migrate import copy_store, verify
from traindeck.store.tables import TableStore

from .output import cli_errors, console, fail
from .workspace import DEFAULT_DIR, DirOption


def _open(url: str, files_root: str) -> TableStore:
    store = open_store(url, files_root=files_root)
    if not isinstance(store, TableStore):  # pragma: no cover - every engine is one
        store.close()
        raise InvalidInput(f"cannot copy rows of {redact(url)}")
    return store


@cli_errors
def migrate(
    source: Annotated[str, typer.Option(
        "--from", metavar="SRC",
        help="The store to copy: sqlite:///file.db, a folder, or postgresql://…")],
    target: Annotated[str, typer.Option(
        "--to", metavar="DST",
        help="The store to copy into (created if missing): postgresql://…[?schema=name], "
             "sqlite:///file.db or a folder.")],
    dir: DirOption = DEFAULT_DIR,
    check: Annotated[bool, typer.Option(
        "--verify/--no-verify",
        help="Compare every table's row count and checksum after copying.")] = True,
) -> None:
    """Copy every run, series, event, checkpoint, media row, token… of one store into
    another; resumable (run it again after an interruption), then verified."""
    if source == target:
        fail("--from and --to name the same store")
    out, err = console(), console(stderr=True)
    with _open(source, dir) as src, _open(target, dir) as dst:
        columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("copying", total=None)

            def progress(table: str, done: int, total: int) -> None:
                bar.update(task, description=table, completed=done, total=total)

            copied = copy_store(src.engine_core, dst.engine_core, progress)
            checks = verify(src.engine_core, dst.engine_core, progress) if check else []
        out.print(f"copied {sum(copied.values())} rows of {len(copied)} tables from "
                  f"{src.location} to {dst.location}", highlight=False, soft_wrap=True)
        if not check:
            return
        bad = [c for c in checks if not c.ok]
        if bad:
            for c in bad:
                err.print(f"  {c.table}: {c.rows[0]} rows in the source, {c.rows[1]} in the "
                          "copy" + ("" if c.rows[0] != c.rows[1] else " (rows differ)"),
                          highlight=False)
            fail(f"the copy differs from the source in {len(bad)} tables (listed above): "
                 "did something write to either store meanwhile? Run it again to copy the "
                 "rest")
        out.print(f"verified: {len(checks)} tables, row counts and checksums equal",
                  highlight=False)
