"""``traindeck runs``: list, show and delete runs, straight from the store."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.pretty import Pretty
from rich.table import Table
from rich.text import Text

from traindeck.runfiles import RunFiles
from traindeck.speed import progress as progress_of
from traindeck.store import LIVE_STATUSES, RUN_STATUSES, Run, Store
from traindeck.store.run_query import parse_query, parse_sort

from .output import (
    cli_errors,
    console,
    duration,
    fail,
    number,
    run_duration,
    status_badge,
    when,
)
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
    name="runs",
    help="List, show and delete runs.",
    no_args_is_help=True,
)

RunStatusOption = Annotated[
    list[str] | None,
    typer.Option(
        "--status", "-s",
        help=f"Only runs with this status (repeat for several): {', '.join(RUN_STATUSES)}.",
    ),
]


def steps_of(store: Store, run: Run) -> int | None:
    """How many training steps a run has logged: its highest non-``sys/`` step + 1."""
    latest = store.latest(run.id)
    steps = [step for key, (step, _, _) in latest.items() if not key.startswith("sys/")]
    return max(steps) + 1 if steps else None


def pace_cells(run: Run, steps: int | None) -> tuple[str, str, str]:
    """The progress (``42%``), speed (``12.3/s``) and ETA (``3m20s``) columns: the progress
    from the run's last step and total, the speed and ETA as the server last computed them
    (``-`` when unknown)."""
    done = progress_of(None if steps is None else steps - 1, run.total_steps,
                       completed=run.status == "completed")
    return ("-" if done is None else f"{done:.0%}",
            "-" if run.steps_per_s is None else f"{run.steps_per_s:.3g}/s",
            duration(run.eta_s))


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``
    (JSON has no spelling for them, and a NaN loss is exactly what a user must see)."""
    if isinstance(value, float) and not math.isfinite(value):
        return number(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@app.command("ls")
@cli_errors
def list_runs(
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")]
    = None,
    status: RunStatusOption = None,
    query: Annotated[str | None, typer.Option(
        "--q", "--query",
        help="Only runs matching this query, as the dashboard's run table takes it: "
             "'lr<0.01 status:running val/acc>0.9' (docs/api.md, 'Run table').")] = None,
    sort: Annotated[str | None, typer.Option(
        "--sort",
        help="Sort by these columns, comma-separated, '-' for descending: "
             "'-metric:val/acc:max,config:lr', 'duration' (default: newest first).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")]
    = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
) -> None:
    """List runs, newest first (or as --sort says), with their steps, progress, speed and ETA.

    Progress is the last step over the run's total_steps; speed (steps/s) and ETA are
    what a traindeck server following the store last computed ('-' when none did).
    """
    for s in status or []:
        if s not in RUN_STATUSES:
            fail(f"unknown status {s!r}; one of {', '.join(RUN_STATUSES)}")
    with open_existing_store(dir, store_url) as store:
        page = store.query_runs(
            parse_query(query).with_filters(project=project, status=status or None),
            sort=parse_sort(sort), limit=limit)
        runs, total = page.runs, page.total
        steps = {r.id: steps_of(store, r) for r in runs}
    out = console()
    if as_json:
        out.print_json(json.dumps(json_safe({
            "runs": [{**r.to_dict(), "steps": steps[r.id]} for r in runs], "total": total,
        }), default=str))
        return
    if not runs:
        out.print("no runs" + (" match" if project or status or query else " yet"))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "project", "name", "status"):
        table.add_column(col, no_wrap=True)
    for col in ("steps", "progress", "speed", "eta"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    now = time.time()
    for r in runs:
        took = run_duration(r.started_at, r.ended_at, now=lambda: now)
        n = steps[r.id]
        table.add_row(
            r.id, r.project, r.name, status_badge(r.status),
            "-" if n is None else str(n) + ("" if r.total_steps is None
                                            else f"/{r.total_steps}"),
            *pace_cells(r, n), when(r.created_at), duration(took),
        )
    out.print(table)
    if total > len(runs):
        out.print(f"{len(runs)} of {total} runs (use --limit to see more)", style="dim")


def _fields(run: Run, files: RunFiles) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    took = run_duration(run.started_at, run.ended_at)
    git = None
    if run.git_commit:
        git = run.git_commit[:12] + (" (dirty)" if run.git_dirty else "")
    rows: list[tuple[str, RenderableType | str | None]] = [
        ("id", run.id),
        ("project", run.project),
        ("name", run.name),
        ("status", status_badge(run.status)),
        ("created", when(run.created_at)),
        ("started", when(run.started_at)),
        ("ended", when(run.ended_at)),
        ("duration", duration(took)),
        ("total steps", None if run.total_steps is None else str(run.total_steps)),
        ("progress", None if run.progress is None else f"{run.progress:.1%}"),
        ("speed", None if run.steps_per_s is None else f"{run.steps_per_s:.3g} steps/s"),
        ("eta", None if run.eta_s is None else duration(run.eta_s)),
        ("heartbeat", when(run.heartbeat_at)),
        ("host", run.host),
        ("pid", None if run.pid is None else str(run.pid)),
        ("command", run.command),
        ("git", git),
        ("tags", ", ".join(run.tags) or None),
        ("notes", run.notes or None),
        ("commands", ", ".join(run.commands_offered) or None),
        ("files", os.path.abspath(files.run_dir(run.id))),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, value)
    return table


@app.command("show")
@cli_errors
def show(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="A run id (or its unique start).")],
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of panels.")]
    = False,
    files_root: FilesRootOption = None,
) -> None:
    """Show one run: its fields, config, summary, latest metrics and commands."""
    with open_existing_store(dir, store_url) as store:
        run = resolve_run(store, ref=run_ref)
        latest = store.latest(run.id)
        commands = store.list_commands(run.id, limit=20)
        files = run_files(store, files_root)
    out = console()
    if as_json:
        data: dict[str, Any] = {
            **run.to_dict(),
            "latest": {k: {"step": s, "time": t, "value": v} for k, (s, t, v) in latest.items()},
            "commands": [c.to_dict() for c in commands],
        }
        out.print_json(json.dumps(json_safe(data), default=str))
        return
    parts: list[RenderableType] = [Panel(_fields(run, files), title="run", title_align="left")]
    parts.append(Panel(Pretty(run.config) if run.config else Text("(none)", style="dim"),
                       title="config", title_align="left"))
    parts.append(Panel(Pretty(run.summary) if run.summary else Text("(none)", style="dim"),
                       title="summary", title_align="left"))
    metrics = Table(box=None, header_style="bold", pad_edge=False)
    for col, justify in (("metric", "left"), ("step", "right"), ("value", "right"),
                         ("time", "left")):
        metrics.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for key, (step, t, value) in latest.items():
        metrics.add_row(key, str(step), number(value), when(t))
    parts.append(Panel(metrics if latest else Text("(none)", style="dim"),
                       title="latest metrics", title_align="left"))
    cmds = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "name", "status", "created", "result"):
        cmds.add_column(col, no_wrap=col != "result", overflow="fold")
    for c in commands:
        outcome = c.error if c.error else ("" if c.result is None else json.dumps(c.result))
        cmds.add_row(c.id, c.name, c.status, when(c.created_at), outcome[:200])
    parts.append(Panel(cmds if commands else Text("(none)", style="dim"),
                       title="commands (newest first)", title_align="left"))
    out.print(Group(*parts))


@app.command("rm")
@cli_errors
def remove(
    run_refs: Annotated[list[str], typer.Argument(
        metavar="RUN", help="Run ids (or unique starts) to delete.")],
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Delete runs that are still live.")]
    = False,
    keep_files: Annotated[bool, typer.Option(
        "--keep-files", help="Keep each run's folder of files (checkpoints, media, "
        "artifacts); by default it is deleted with the run.")]
    = False,
    files_root: FilesRootOption = None,
) -> None:
    """Delete runs, with their metrics, events, commands and folder of files.

    Checkpoint files recorded outside a run's folder (where a framework wrote them) are
    never deleted; only their rows go.
    """
    out = console()
    with open_existing_store(dir, store_url) as store:
        files = run_files(store, files_root)
        runs: list[Run] = []
        for ref in run_refs:
            run = resolve_run(store, ref=ref)
            if run.id not in {r.id for r in runs}:
                runs.append(run)
        live = [r for r in runs if r.status in LIVE_STATUSES]
        if live and not force:
            fail(f"{', '.join(r.id for r in live)} still {live[0].status}; stop it first "
                 "or pass --force")
        for r in runs:
            out.print(Text.assemble(f"  {r.id}  {r.project}/{r.name}  ", status_badge(r.status)))
        what = "run" if len(runs) == 1 else f"{len(runs)} runs"
        if not yes and not typer.confirm(
            f"Delete {what}{'' if keep_files else ' and their files'}?", default=False
        ):
            fail("nothing deleted")
        for r in runs:
            if not keep_files:  # files first: a folder that cannot go keeps its run listed
                try:
                    files.remove_run(r.id)
                except OSError as exc:
                    fail(f"run {r.id} was kept: its folder {files.run_dir(r.id)} could not "
                         f"be deleted ({exc.strerror or exc}); fix that and run rm again")
            store.delete_run(r.id)
    out.print(f"deleted {what}" + ("" if keep_files else " and their files"))
