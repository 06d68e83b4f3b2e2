"""``traindeck import tensorboard DIR…``: other trackers' logs as traindeck runs.

Each importer reads its source through the import core (``traindeck.importing``): one run
per source run (its id derived from the source), exactly-once commits that keep the
original wall times and steps, and a record of what was read, so importing again adds only
what is new ("already imported" when nothing is). The store is made if there is none yet.
A progress bar shows on a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from traindeck.importing import Importer
from traindeck.importing import tensorboard as tb
from traindeck.importing.tfevents import MissingTensorBoard, protos
from traindeck.store import open_store

from .output import cli_errors, console, fail
from .workspace import DEFAULT_DIR, DirOption, FilesRootOption, run_files

app = typer.Typer(help="Import runs from other trackers' logs (TensorBoard).",
                  no_args_is_help=True)


@app.command("tensorboard")
@cli_errors
def tensorboard(
    dirs: Annotated[list[Path], typer.Argument(
        metavar="DIR", help="Folders of TensorBoard logs (searched for "
                            "events.out.tfevents.* files).", show_default=False)],
    project: Annotated[str, typer.Option(
        "--project", "-p", help="The project the runs go to.")] = "tensorboard",
    tags: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", help="Tag the imported runs (repeatable).")] = None,
    dir: DirOption = DEFAULT_DIR,
    files_root: FilesRootOption = None,
) -> None:
    """Import TensorBoard logs: each folder of event files becomes a run, named after its
    path under DIR, with its scalars (steps and wall times as logged), images and hparams
    (as config). Importing again adds only what the logs gained since."""
    try:
        protos()
    except MissingTensorBoard as exc:
        fail(str(exc))
    runs = [r for d in dirs for r in tb.find_runs(d)]
    if not runs:
        fail("no TensorBoard event files (events.out.tfevents.*) under "
             + ", ".join(str(d) for d in dirs))
    out = console()
    err = console(stderr=True)
    with open_store(dir) as store:
        importer = Importer(store, run_files(store, files_root))
        with Progress(TextColumn("importing"), BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("import", total=tb.total_bytes(runs))
            for folder in runs:
                got = tb.import_run(importer, folder, project=project, tags=tags or (),
                                    on_bytes=lambda n: bar.advance(task, n))
                res = got.result
                if res is None or not res.applied:
                    line = f"{folder.name}: already imported"
                elif res.created:
                    line = (f"{folder.name}: imported as run {res.run_id} "
                            f"({res.points} points, {res.images} images)")
                else:
                    line = (f"{folder.name}: added {res.points} new points and {res.images} "
                            f"images to run {res.run_id}")
                if got.corrupt:
                    line += f" ({got.corrupt} corrupt records skipped)"
                out.print(line, highlight=False, soft_wrap=True)
