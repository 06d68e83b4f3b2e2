"""``traindeck export RUN…``: runs' metrics to a CSV or Parquet file, straight from the store.

Long format, one row per point (``run_id, key, step, time, value``), or with ``--buckets N``
one row per exact bucket of each series (min/max/mean of its finite values, its count and
its non-finite counts). ``--keys`` keeps the series named, exactly or by glob. The file is
written as it is read (a run of any length, bounded memory) under a ``.part`` name and
renamed when complete, so a failed export never leaves a truncated file behind; ``--out -``
writes to stdout. A progress bar shows on a terminal.

``--format tensorboard`` writes a TensorBoard log directory (``--out``, default
``traindeck-tensorboard``): ``<out>/<run name>/events.out.tfevents.<created>.traindeck`` per
run, so ``tensorboard --logdir <out>`` shows the runs; ``--out x.tar`` or ``--out -`` writes
that directory as a tar instead (as ``GET /api/runs/{id}/export?format=tensorboard`` does).
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from traindeck.export import FORMATS, MAX_BUCKETS, Export, parse_keys, prepare

from .output import cli_errors, console, fail
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store, resolve_run


class _Chunks(io.RawIOBase):
    """A stream of an export's chunks, read as a file (for ``tarfile``)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _write(export: Export, out: Path | None, *, folder: bool = False) -> None:
    err = console(stderr=True)
    with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("export", total=export.total)

        def progress(n: int) -> None:
            bar.advance(task, n)

        if folder and out is not None:
            with tarfile.open(fileobj=io.BufferedReader(_Chunks(export.chunks(progress))),
                              mode="r|") as tar:
                tar.extractall(out, filter="data")
            return
        if out is None:
            for data in export.chunks(progress):
                sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        part = out.with_name(out.name + ".part")
        try:
            with open(part, "wb") as f:
                for data in export.chunks(progress):
                    f.write(data)
            os.replace(part, out)
        finally:
            part.unlink(missing_ok=True)


@cli_errors
def export(
    runs: Annotated[list[str], typer.Argument(
        metavar="RUN", help="Run ids (or their unique starts).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help=f"File format: {', '.join(FORMATS)}.")] = "csv",
    keys: Annotated[list[str] | None, typer.Option(
        "--keys", "-k",
        help="Only these metric keys: exact keys or globs (val/*), repeat or comma-separate; "
             "default: every key.")] = None,
    buckets: Annotated[int | None, typer.Option(
        "--buckets", "-b", min=1, max=MAX_BUCKETS,
        help="Export each series as at most N exact buckets (min/max/mean) instead of raw "
             "points.")] = None,
    out: Annotated[str | None, typer.Option(
        "--out", "-o", help="The file to write ('-': stdout); default: RUN.csv for one run, "
                            "traindeck-export.csv for several (.parquet alike); for "
                            "tensorboard a log directory (default traindeck-tensorboard), "
                            "or a .tar file.")] = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
) -> None:
    """Export runs' metrics to CSV or Parquet (long format: run_id, key, step, time, value),
    or as TensorBoard event files (a log directory, or a tar with --out x.tar or -)."""
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    patterns = parse_keys(keys)
    with open_existing_store(dir, store_url) as store:
        run_ids = [resolve_run(store, ref).id for ref in runs]
        job = prepare(store, run_ids, fmt, keys=patterns, buckets=buckets)
        if not job.series:
            fail("no metric series to export" + (" matches --keys" if patterns else ""))
        folder = fmt == "tensorboard" and out != "-" and not (out or "").endswith(".tar")
        if out == "-":
            target = None
        elif folder:
            target = Path(out or "traindeck-tensorboard")
        elif out is not None:
            target = Path(out)
        else:
            stem = run_ids[0] if len(set(run_ids)) == 1 else "traindeck-export"
            target = Path(stem + job.suffix)
        _write(job, target, folder=folder)
    if target is not None:
        what = "buckets" if buckets is not None else "points"
        console(stderr=True).print(f"wrote {job.rows} {what} of {len(job.series)} series "
                                   f"to {target}", highlight=False)
