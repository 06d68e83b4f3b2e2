"""``traindeck ckpt``: list, pick, verify and prune a run's checkpoints, from the store.

RUN defaults to the newest run. ``pick`` is made for ``$(traindeck ckpt pick)``: the table
and the question go to stderr, only the chosen path to stdout.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table
from rich.text import Text

from traindeck.checkpoints import parse_best, prune, to_prune, verify
from traindeck.runfiles import RunFiles
from traindeck.store import Checkpoint, Run, Store

from .output import cli_errors, console, fail, number, when
from .workspace import (
    DEFAULT_DIR,
    DirOption,
    FilesRootOption,
    StoreOption,
    open_existing_store,
    resolve_run,
    run_files,
)

app = typer.Typer(
    name="ckpt",
    help="List, pick, verify and prune a run's checkpoints.",
    no_args_is_help=True,
)

#: Metrics shown as a checkpoint's quality, the first one present.
QUALITY_KEYS: Final = ("quality", "val_acc", "val_accuracy", "acc", "accuracy", "val_score",
                       "score", "psnr", "val_psnr", "ssim", "f1", "val_f1")
LOSS_KEYS: Final = ("loss", "val_loss", "train_loss")

RunArgument = Annotated[str | None, typer.Argument(
    metavar="RUN", help="A run id (or its unique start); default: the newest run.")]
LastOption = Annotated[int, typer.Option(
    "--last", "-n", min=1, help="Show this many of the newest checkpoints.")]


def pick_run(store: Store, ref: str | None) -> Run:
    """The run ``ref`` names, or the newest run when it is ``None``."""
    if ref is not None:
        return resolve_run(store, ref=ref)
    runs, _ = store.list_runs(limit=1)
    if not runs:
        fail("no runs yet in this store; nothing has checkpoints")
    return runs[0]


def human_size(size: int | None) -> str:
    """``512 B``, ``1.5 KiB``, ``23.4 MiB``, ``1.2 GiB``; ``-`` when unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def metric(ck: Checkpoint, keys: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of ``keys`` among the checkpoint's metrics, as ``(key, value)``."""
    for key in keys:
        if key in ck.metrics and ck.metrics[key] is not None:
            return key, ck.metrics[key]
    return None


def show_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and 0 < abs(value) < 1e-3:
        return f"{value:.3e}"
    return number(float(value)) if isinstance(value, float) else str(value)


def file_path(files: RunFiles, ck: Checkpoint) -> Path:
    """The checkpoint's file; a relative path is read against the run's folder."""
    return files.resolve(ck.run_id, ck.path)


def verify_file(files: RunFiles, ck: Checkpoint) -> tuple[bool, str]:
    """``verify``, with an OS error on an odd path (too long, a NUL) an invalid file too."""
    try:
        return verify(ck, files=files)
    except (OSError, ValueError) as exc:
        return False, f"unreadable: {exc}"[:500]


def newest(store: Store, run: Run, last: int) -> list[Checkpoint]:
    """The run's ``last`` newest checkpoints (by step), oldest first; fails when none."""
    cks = store.list_checkpoints(run.id, sort="step", descending=True, limit=last)
    if not cks:
        fail(f"run {run.id} ({run.project}/{run.name}) has no checkpoints")
    return cks[::-1]


def table(run: Run, cks: list[Checkpoint]) -> Table:
    """Numbered 1 (oldest shown) to N (newest); ★ marks the best, ✗ an invalid file."""
    qualities = [metric(c, QUALITY_KEYS) for c in cks]
    names = {q[0] for q in qualities if q is not None}
    quality_header = names.pop() if len(names) == 1 else "quality"
    t = Table(box=None, header_style="bold", pad_edge=False,
              title=f"{run.id}  {run.project}/{run.name}", title_justify="left")
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("step", justify="right", no_wrap=True)
    t.add_column("kind", no_wrap=True)
    t.add_column(quality_header, justify="right", no_wrap=True)
    t.add_column("loss", justify="right", no_wrap=True)
    t.add_column("size", justify="right", no_wrap=True)
    t.add_column("date", no_wrap=True)
    t.add_column("", no_wrap=True)
    for i, (ck, quality) in enumerate(zip(cks, qualities, strict=True), start=1):
        if quality is None:
            q = "-"
        elif quality_header == "quality" and quality[0] != "quality":
            q = f"{quality[0]} {show_value(quality[1])}"
        else:
            q = show_value(quality[1])
        loss = metric(ck, LOSS_KEYS)
        flags = Text()
        if ck.is_best:
            flags.append("★", style="bold yellow")
        if ck.valid is False:
            flags.append("✗", style="bold red")
        t.add_row(str(i), f"{ck.step:,}", ck.kind, q,
                  "-" if loss is None else show_value(loss[1]), human_size(ck.size),
                  when(ck.created_at)[:16], flags)
    return t


@app.command("ls")
@cli_errors
def list_checkpoints(
    run_ref: RunArgument = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    last: LastOption = 10,
) -> None:
    """List a run's newest checkpoints, by step: ★ the best, ✗ a file that failed verify."""
    with open_existing_store(dir, store_url) as store:
        run = pick_run(store, run_ref)
        cks = newest(store, run, last)
    console().print(table(run, cks))


def ask(count: int) -> int:
    """Read a choice from stdin: 1..count, or Enter for ``count`` (the newest)."""
    prompt = f"Which checkpoint? (number 1-{count}, Enter for the newest): "
    while True:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input (Ctrl-D)
            sys.stderr.write("\n")
            fail("no checkpoint picked")
        answer = line.strip()
        if not answer:
            return count
        if answer.isdigit() and 1 <= int(answer) <= count:
            return int(answer)
        sys.stderr.write(f"{answer!r} is not a number from 1 to {count}; try again\n")


@app.command("pick")
@cli_errors
def pick(
    run_ref: RunArgument = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    files_root: FilesRootOption = None,
    last: LastOption = 10,
) -> None:
    """Ask which of the newest checkpoints to use; print its path.

    Enter takes the newest. The table and the question go to stderr, only the path to
    stdout, so that ckpt=$(traindeck ckpt pick) works. Ctrl-C or Ctrl-D: exit 1.
    """
    with open_existing_store(dir, store_url) as store:
        run = pick_run(store, run_ref)
        cks = newest(store, run, last)
        files = run_files(store, files_root)
    console(stderr=True).print(table(run, cks))
    try:
        choice = ask(len(cks))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        fail("no checkpoint picked")
    chosen = cks[choice - 1]
    if chosen.valid is False:
        console(stderr=True).print(Text.assemble(
            ("warning: ", "bold yellow"),
            f"step {chosen.step:,} failed verification (traindeck ckpt verify --all)"))
    sys.stdout.write(f"{file_path(files, chosen)}\n")
    sys.stdout.flush()


@app.command("verify")
@cli_errors
def verify_checkpoints(
    run_ref: RunArgument = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    files_root: FilesRootOption = None,
    all_: Annotated[bool, typer.Option(
        "--all", "-a", help="Every checkpoint of the run, not only the newest.")] = False,
) -> None:
    """Check the newest checkpoint's file (exists, sha256, loads), or all with --all.

    The result is recorded (ls marks invalid files ✗); exits 1 if any is invalid.
    """
    out = console()
    with open_existing_store(dir, store_url) as store:
        run = pick_run(store, run_ref)
        cks = (store.list_checkpoints(run.id, sort="step", descending=False) if all_
               else store.list_checkpoints(run.id, sort="step", descending=True, limit=1))
        if not cks:
            fail(f"run {run.id} ({run.project}/{run.name}) has no checkpoints")
        t = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("step", "result", "path"):
            t.add_column(col, no_wrap=col != "path", overflow="fold")
        bad = 0
        files = run_files(store, files_root)
        for ck in cks:
            valid, reason = verify_file(files, ck)
            store.set_checkpoint_valid(ck.id, valid, reason or None)
            bad += not valid
            result = Text("ok", style="green") if valid else Text(
                f"✗ {reason or 'invalid'}", style="bold red")
            t.add_row(f"{ck.step:,}", result, ck.path)
    out.print(t)
    if bad:
        fail(f"{bad} of {len(cks)} checkpoint{'s' if len(cks) != 1 else ''} invalid")
    out.print(f"{len(cks)} checkpoint{'s' if len(cks) != 1 else ''} ok")


@app.command("prune")
@cli_errors
def prune_checkpoints(
    keep_last: Annotated[int, typer.Option(
        "--keep-last", min=0, help="Keep this many of the newest checkpoints (by step).")],
    keep_best: Annotated[int, typer.Option(
        "--keep-best", min=0, help="Also keep this many of the best, ranked by --best.")],
    run_ref: RunArgument = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    files_root: FilesRootOption = None,
    best: Annotated[str | None, typer.Option(
        "--best", metavar="min:METRIC|max:METRIC",
        help="How --keep-best ranks checkpoints, e.g. max:val_acc or min:loss; without it "
             "only the checkpoint marked best is kept for being best.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
) -> None:
    """Delete a run's checkpoints (files and rows) except the newest and the best.

    The newest checkpoint and the one marked best are always kept.
    """
    try:
        spec = parse_best(best)
    except ValueError as exc:
        fail(str(exc))
    out = console()
    with open_existing_store(dir, store_url) as store:
        run = pick_run(store, run_ref)
        cks = store.list_checkpoints(run.id)
        if not cks:
            fail(f"run {run.id} ({run.project}/{run.name}) has no checkpoints")
        files = run_files(store, files_root)
        # Paths are read against the run's folder (as everywhere in traindeck), and files
        # outside it are never deleted (their checkpoints are kept).
        doomed = to_prune(cks, files, run.id, keep_last=keep_last, keep_best=keep_best,
                          best=spec)
        if not doomed:
            out.print(f"nothing to prune: all {len(cks)} checkpoints of run {run.id} are kept")
            return
        for ck in doomed:
            out.print(f"  step {ck.step:,}  {ck.kind}  {human_size(ck.size)}  {ck.path}")
        question = (f"Delete these {len(doomed)} of the {len(cks)} checkpoints of run {run.id} "
                    f"({run.project}/{run.name}), files included?")
        if not yes and not typer.confirm(question, default=False):
            fail("nothing deleted")
        deleted = prune(store, files, run.id, keep_last=keep_last, keep_best=keep_best,
                        best=spec)
    kept = len(cks) - len(deleted)
    out.print(f"deleted {len(deleted)} of {len(cks)} checkpoints; {kept} kept")
    if len(deleted) < len(doomed):
        fail(f"{len(doomed) - len(deleted)} could not be deleted (see their files' permissions)")
