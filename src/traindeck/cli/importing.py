"""``traindeck import tensorboard DIR…`` and ``traindeck import mlflow URI``: other
trackers' logs as traindeck runs.

Each importer reads its source through the import core (``traindeck.importing``): one run
per source run (its id derived from the source), exactly-once commits that keep the
original wall times and steps, and a record of what was read, so importing again adds only
what is new ("already imported" when nothing is). The store is made if there is none yet.
A progress bar shows on a terminal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from traindeck.importing import Importer
from traindeck.importing import mlflow as mlf
from traindeck.importing import tensorboard as tb
from traindeck.importing.tfevents import MissingTensorBoard, protos

from .output import cli_errors, console, fail
from .workspace import (
    DEFAULT_DIR,
    DirOption,
    FilesRootOption,
    StoreOption,
    open_workspace,
    run_files,
)

app = typer.Typer(help="Import runs from other trackers' logs (TensorBoard, MLflow).",
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
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
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
    with open_workspace(dir, store_url) as store:
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
                out.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command("mlflow")
@cli_errors
def mlflow(
    uri: Annotated[str, typer.Argument(
        metavar="URI", help="The MLflow tracking URI: a server (http://host:5000), a local "
                            "mlruns folder or file:// URI, or a database (sqlite:///mlflow.db; "
                            "needs the full mlflow package).", show_default=False)],
    experiments: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Import only this experiment (by name; repeatable). "
                                   "Default: every active experiment.")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", "-p", help="Put every run in this project (default: a project per "
                                "experiment, named after it).")] = None,
    tags: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", help="Tag the imported runs (repeatable).")] = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    files_root: FilesRootOption = None,
) -> None:
    """Import an MLflow tracking store through MLflow's client: each run becomes a run (in a
    project named after its experiment), with its params (as config), tags, status, times
    and every metric's full history (steps and wall times as logged). Importing again adds
    only what the runs gained since."""
    if mlf.local_store(uri) is not None:
        # MLflow 3 refuses its file store unless this is set; reading one is what this is for.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        source = mlf.MLflowStore(uri)
        runs = [r for e in source.experiments(experiments or ()) for r in source.runs(e)]
    except mlf.MLflowUnavailable as exc:
        fail(str(exc))
    if not runs:
        fail(f"no MLflow runs at {uri}"
             + (f" in {', '.join(map(repr, experiments))}" if experiments else ""))
    out = console()
    err = console(stderr=True)
    with open_workspace(dir, store_url) as store:
        importer = Importer(store, run_files(store, files_root))
        with Progress(TextColumn("importing runs"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("import", total=len(runs))
            for mrun in runs:
                try:
                    got = mlf.import_run(importer, source, mrun, project=project,
                                         tags=tags or ())
                except mlf.MLflowUnavailable as exc:
                    fail(str(exc))
                res = got.result
                if res is None or not res.applied:
                    line = f"{mrun.label}: already imported"
                elif res.created:
                    line = f"{mrun.label}: imported as run {res.run_id} ({got.new_points} points)"
                else:
                    line = f"{mrun.label}: added {got.new_points} new points to run {res.run_id}"
                if got.status is not None:  # FAILED, KILLED; or ended since the last import
                    line += f" ({got.status})" if res is not None and res.created \
                        else f"; now {got.status}"
                out.print(line, markup=False, highlight=False, soft_wrap=True)
                bar.advance(task)
