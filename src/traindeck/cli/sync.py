"""``traindeck sync``: upload spooled runs (offline ones, or batches a server missed).

Each spool (``<dir>/runs/<id>/spool/``) is sent oldest batch first, exactly as the SDK's
sender would; a batch leaves the spool only once the server acknowledged it, so an
interrupted sync continues where it stopped, and a batch sent twice is applied once (the
server keeps the batch ids). Running it again adds nothing. The batches carry everything
the run recorded: points, console lines, images, statuses, and its checkpoint records
(step, kind, metrics, size, sha256; the files stay where the run wrote them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from traindeck.sdk.lite_http import HttpxPoster
from traindeck.sdk.spool import Spool, SpoolBusy, find_spools
from traindeck.sdk.transport import (
    GROUP_BATCHES,
    GROUP_BYTES,
    BatchRejected,
    auth_headers,
    backoff,
    post_batches,
    set_aside,
)

from .output import cli_errors, console, fail

#: Attempts per batch before sync gives up on a server that does not answer.
ATTEMPTS = 6


@cli_errors
def sync(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Spool folders, run folders or traindeck folders "
                            "(default: --dir).", show_default=False, metavar="PATH"),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar="TRAINDECK_URL", metavar="URL",
                          help="The traindeck server to upload to.")
    ] = "",
    token: Annotated[
        str | None, typer.Option("--token", envvar="TRAINDECK_TOKEN", metavar="TOKEN",
                                 help="Bearer token for the server.", show_default=False)
    ] = None,
    dir: Annotated[
        str, typer.Option("--dir", "-d", envvar="TRAINDECK_DIR", metavar="DIR",
                          help="The traindeck folder searched when no PATH is given.")
    ] = "traindeck",
) -> None:
    """Upload spooled runs to a server, resumably (running it twice adds nothing)."""
    if not url:
        fail("give the server with --url URL (or TRAINDECK_URL)")
    url = url.rstrip("/")
    spools = find_spools(list(paths) if paths else [Path(dir)])
    out = console()
    if not spools:
        out.print("nothing to sync: no spooled batches found")
        return
    opened: list[tuple[str, Spool]] = []
    for folder in spools:
        try:
            spool = Spool(folder)
        except SpoolBusy:
            out.print(f"[yellow]skipped[/] {folder}: in use by a running process")
            continue
        if len(spool):
            opened.append((folder.parent.name, spool))
        else:
            spool.close()
    if not opened:
        out.print("nothing to sync: every spooled batch was already uploaded")
        return
    total = sum(s.pending_bytes for _, s in opened)
    batches = rejected = 0
    with httpx.Client(headers=auth_headers(token),
                      timeout=httpx.Timeout(60.0, connect=5.0)) as client, Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=out,
        transient=False,
    ) as progress:
        task = progress.add_task("uploading", total=total)
        poster = HttpxPoster(client, url)
        try:
            for run_id, spool in opened:
                progress.update(task, description=f"run {run_id}")
                singly = 0  # after a refused group: one by one, to find the bad batch
                while len(spool):
                    head = spool.peek(1 if singly else GROUP_BATCHES, GROUP_BYTES)
                    singly = max(singly - 1, 0)
                    regroup = False
                    for attempt in range(1, ATTEMPTS + 1):
                        try:
                            post_batches(poster, run_id, [p for _, p in head])
                            break
                        except BatchRejected as exc:
                            if len(head) > 1:
                                singly, regroup = len(head), True
                                break
                            path = set_aside(spool, head[0][0], head[0][1], str(exc))
                            out.print(f"[red]refused[/] batch {head[0][0]} of run {run_id}: "
                                      f"{exc} (kept in {path})")
                            rejected += 1
                            break
                        except (httpx.HTTPError, OSError) as exc:
                            if attempt == ATTEMPTS:
                                fail(f"{url} does not answer ({exc}); {batches} batches "
                                     "uploaded, the rest stay spooled: run sync again")
                            time.sleep(min(backoff(attempt), 5.0))
                    if regroup:
                        continue  # refused as a group: nothing acknowledged yet
                    spool.ack(head[-1][0])
                    batches += len(head)
                    progress.advance(task, sum(len(p) for _, p in head))
        finally:
            for _, spool in opened:
                spool.close()
    out.print(f"synced {batches} batches of {len(opened)} runs to {url}"
              + (f" ({rejected} refused)" if rejected else ""))
