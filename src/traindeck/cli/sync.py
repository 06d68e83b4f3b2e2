"""``traindeck sync``: upload spooled runs (offline ones, or batches a server missed).

Each spool (``<dir>/runs/<id>/spool/``) is sent oldest batch first, exactly as the SDK's
sender would; a batch leaves the spool only once the server acknowledged it, so an
interrupted sync continues where it stopped, and a batch sent twice is applied once (the
server keeps the batch ids). Running it again adds nothing.
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

from traindeck.sdk.sink import BatchRejected, auth_headers, backoff, post_batch, set_aside
from traindeck.sdk.spool import Spool, SpoolBusy, find_spools

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
    batches = sent = rejected = 0
    with httpx.Client(headers=auth_headers(token),
                      timeout=httpx.Timeout(60.0, connect=5.0)) as client, Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=out,
        transient=False,
    ) as progress:
        task = progress.add_task("uploading", total=total)
        try:
            for run_id, spool in opened:
                progress.update(task, description=f"run {run_id}")
                for seq, payload in spool:
                    for attempt in range(1, ATTEMPTS + 1):
                        try:
                            post_batch(client, url, run_id, payload)
                            break
                        except BatchRejected as exc:
                            path = set_aside(spool, seq, payload, str(exc))
                            out.print(f"[red]refused[/] batch {seq} of run {run_id}: {exc} "
                                      f"(kept in {path})")
                            rejected += 1
                            break
                        except (httpx.HTTPError, OSError) as exc:
                            if attempt == ATTEMPTS:
                                fail(f"{url} does not answer ({exc}); {sent} batches "
                                     "uploaded, the rest stay spooled: run sync again")
                            time.sleep(min(backoff(attempt), 5.0))
                    spool.ack(seq)
                    batches += 1
                    sent += 1
                    progress.advance(task, len(payload))
        finally:
            for _, spool in opened:
                spool.close()
    out.print(f"synced {batches} batches of {len(opened)} runs to {url}"
              + (f" ({rejected} refused)" if rejected else ""))
