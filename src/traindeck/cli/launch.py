"""``traindeck launch TEMPLATE [k=v ...]``, ``traindeck cancel RUN``, ``traindeck resume CKPT``:
start, stop and continue runs through a running server's API (the server's launcher does the
work; it needs ``traindeck serve --templates DIR``).

The server is ``--url`` (``TRAINDECK_URL``, default ``http://127.0.0.1:8000``), with
``--token`` (``TRAINDECK_TOKEN``) when it requires one. ``launch --follow`` prints the run's
console as it comes until the run ends, and exits 0 only when it completed.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final, TextIO

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from traindeck.sdk.transport import auth_headers
from traindeck.store import TERMINAL_STATUSES

from .output import console, fail

DEFAULT_URL: Final = "http://127.0.0.1:8000"
#: Launch statuses after which its process is gone.
LAUNCH_ENDED: Final = ("completed", "failed", "cancelled")

UrlOption = Annotated[str, typer.Option(
    "--url", envvar="TRAINDECK_URL", metavar="URL", help="The traindeck server.")]
TokenOption = Annotated[str | None, typer.Option(
    "--token", envvar="TRAINDECK_TOKEN", metavar="TOKEN",
    help="Bearer token for the server (when it requires one).", show_default=False)]


class Api:
    """The few calls these commands make; every failure ends the command with a message."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, headers=auth_headers(token),
                                   timeout=httpx.Timeout(30.0, connect=5.0))

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.client.request(method, path, **kwargs)
        except httpx.ConnectError:
            fail(f"no traindeck server at {self.url}: start one with "
                 "`traindeck serve --templates DIR` (or give --url / TRAINDECK_URL)")
        except httpx.HTTPError as exc:
            fail(f"the server at {self.url} did not answer: {type(exc).__name__}: {exc}")
        if r.status_code >= 400:
            self._refused(r)
        return r.json()

    def _refused(self, r: httpx.Response) -> None:
        try:
            body = r.json()
        except ValueError:
            body = {}
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            err = console(stderr=True)
            for e in errors:
                if isinstance(e, dict):
                    err.print(f"{e.get('path', '$')}: {e.get('message', '')}", markup=False,
                              highlight=False, soft_wrap=True)
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if r.status_code == 401:
            message = f"{message or 'unauthorized'} (give a token with --token or TRAINDECK_TOKEN)"
        fail(f"{message or r.reason_phrase} (HTTP {r.status_code})")

    def close(self) -> None:
        self.client.close()


@contextmanager
def api(url: str, token: str | None) -> Iterator[Api]:
    client = Api(url or DEFAULT_URL, token)
    try:
        yield client
    finally:
        client.close()


def launch(
    template: Annotated[str, typer.Argument(metavar="TEMPLATE",
                                            help="A template of the server's templates folder.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        metavar="[OVERRIDE]...", help="Config overrides: key=value, +key=value, ~key.",
        show_default=False)] = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", "-p", metavar="P", help="A preset of the template (its overrides come "
        "before yours).", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", "-n", metavar="N", help="The run's name.", show_default=False)] = None,
    grace: Annotated[float, typer.Option(
        "--grace", metavar="S", min=0, max=3600,
        help="Seconds between SIGTERM and SIGKILL when the run is cancelled.")] = 10.0,
    max_restarts: Annotated[int, typer.Option(
        "--max-restarts", min=0, max=100,
        help="Restart a failed run up to this many times (from its last checkpoint).")] = 0,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Print the run's console until it ends; exit 0 only when "
        "it completed.")] = False,
    host: Annotated[str | None, typer.Option(
        "--host", metavar="NAME", help="Run on this SSH host (traindeck hosts); with "
        "--executor slurm: the cluster's login node.", show_default=False)] = None,
    executor: Annotated[str | None, typer.Option(
        "--executor", "-e", metavar="E", help="local, ssh or slurm (default: ssh with "
        "--host, else local).", show_default=False)] = None,
    resources: Annotated[list[str] | None, typer.Option(
        "--resource", "-r", metavar="K=V", help="A resource for the executor, e.g. -r gpus=2 "
        "-r partition=debug -r time=1:00:00 (repeatable).", show_default=False)] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Launch a run from a template of the server (`traindeck serve --templates DIR`).

    Prints the run's id and the launch's id. An invalid config prints each error as
    `PATH: message` and exits 1; nothing is created.
    """
    body = {"template": template, "overrides": list(overrides or []), "preset": preset,
            "name": name, "grace_s": grace, "retry": {"max_restarts": max_restarts},
            "executor": executor or ("ssh" if host else "local"), "host": host,
            "resources": parse_resources(resources or [])}
    with api(url, token) as server:
        launched = server.call("POST", "/api/launches", json=body)
        out = console()
        out.print(f"run {launched['run_id']}  launch {launched['id']}  {launched['status']}",
                  markup=False, highlight=False)
        if follow:
            status = follow_run(server, str(launched["run_id"]))
            if status != "completed":
                raise typer.Exit(1)


def parse_resources(items: list[str]) -> dict[str, object]:
    """``-r gpus=2 -r partition=debug`` → ``{"gpus": 2, "partition": "debug"}`` (whole
    numbers become ints; the executor checks the rest)."""
    out: dict[str, object] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            fail(f"--resource {item!r} is not KEY=VALUE")
        out[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return out


class DetailLine:
    """A launch's live detail on stderr: each new one on a line of its own ("waiting for
    SSH on gpu:22 (12 s)", "pending: Resources"); an upload as a progress bar on a
    terminal."""

    _UPLOAD: Final = re.compile(r"uploading (\d+)%")

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last: str | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def show(self, detail: str | None) -> None:
        if not detail or detail == self._last:
            return
        self._last = detail
        upload = self._UPLOAD.match(detail)
        if upload and self._stream.isatty():
            if self._bar is None:
                self._bar = Progress(TextColumn("traindeck: uploading"), BarColumn(),
                                     TextColumn("{task.description}"),
                                     console=Console(file=self._stream), transient=True)
                self._bar.start()
                self._task = self._bar.add_task("", total=100)
            if self._task is not None:
                self._bar.update(self._task, completed=int(upload.group(1)),
                                 description=detail.removeprefix("uploading "))
            return
        self.close()
        self._stream.write(f"traindeck: {detail}\n")
        self._stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = self._task = None


def follow_run(server: Api, run_id: str, interval: float = 0.25) -> str:
    """Print the run's console lines (stderr ones to stderr) until its launch has ended
    and every line is printed; the run's final status."""
    out, err = sys.stdout, sys.stderr
    after = 0
    said = DetailLine(err)
    try:
        while True:
            launches = server.call("GET", "/api/launches", params={"run_id": run_id})
            last = launches["launches"][-1] if launches["launches"] else None
            said.show(last.get("detail") if last else None)
            run = server.call("GET", f"/api/runs/{run_id}")
            over = (last is None or last["status"] in LAUNCH_ENDED) \
                and run["status"] in TERMINAL_STATUSES
            while True:  # drain what is there (after the end: every line)
                page = server.call("GET", f"/api/runs/{run_id}/logs",
                                   params={"after_seq": after, "limit": 1000})
                for line in page["lines"]:
                    stream = err if line["stream"] == "stderr" else out
                    stream.write(line["text"] + "\n")
                    after = int(line["seq"])
                out.flush()
                if len(page["lines"]) < 1000:
                    break
            if over:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        return "running"
    finally:
        said.close()
    status = str(run["status"])
    code = "" if run.get("exit_code") is None else f" (exit code {run['exit_code']})"
    console().print(f"run {run_id} ended: {status}{code}", markup=False, highlight=False)
    return status


def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The id of a launched run.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Cancel a launched run: SIGTERM to its process group, SIGKILL after its grace period."""
    with api(url, token) as server:
        run = server.call("POST", f"/api/runs/{run_id}/cancel")
    console().print(f"run {run['id']}  {run['status']}", markup=False, highlight=False)


def resume(
    checkpoint_id: Annotated[str, typer.Argument(
        metavar="CKPT_ID", help="A checkpoint's id (`traindeck ckpt ls RUN` lists them).")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Launch a checkpoint's run again, continuing the same run from that checkpoint.

    The script finds the checkpoint in `TRAINDECK_RESUME_CHECKPOINT`. Prints the run's id
    and the new launch's id.
    """
    with api(url, token) as server:
        launched = server.call("POST", f"/api/checkpoints/{checkpoint_id}/resume")
    console().print(f"run {launched['run_id']}  launch {launched['id']}  {launched['status']}",
                    markup=False, highlight=False)
