"""``traindeck demo``: a server and a few real training runs, so a newcomer sees it all move.

The demo starts ``traindeck serve`` and ``--runs`` copies of ``examples/numpy_mlp.py`` (a
numpy MLP learning a spiral, with different learning rates and widths), each as a child
process in its own session. The runs train until Ctrl-C (so the dashboard's buttons stay
live for as long as the demo does); ``--steps N`` ends each after N steps instead. Ctrl-C
in the terminal reaches only the demo (the children have their own sessions), which
then stops its children in order: the runs get SIGTERM and are waited for (they save a last
checkpoint and end ``interrupted``; SIGKILL only after a grace period), then the server.
Children write their output to ``<dir>/logs/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Final

import httpx
import typer
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from traindeck.store import Store, open_store

from .output import cli_errors, console, fail, number, status_badge
from .serve import DEFAULT_PORT, PortOption

DEMO_PROJECT: Final = "demo"
DEFAULT_DEMO_DIR: Final = Path("traindeck-demo")
#: (learning rate, hidden width) of the demo runs, in order; more runs cycle with new seeds.
CONFIGS: Final = ((0.05, 32), (0.2, 64), (0.02, 128), (0.1, 16))
#: How long the server may take to answer /health.
STARTUP_TIMEOUT: Final = 60.0
#: How long stopped children get to finish before SIGKILL.
GRACE: Final = 20.0
#: Seconds between looks at the children (and refreshes of the live table).
WATCH_INTERVAL: Final = 0.5
#: Steps between checkpoints of a run that trains until Ctrl-C.
ENDLESS_CHECKPOINT_EVERY: Final = 5000


def default_script() -> Path:
    """``examples/numpy_mlp.py``: the copy the wheel ships (``traindeck/_examples/``), or
    the one of the source checkout this package runs from (editable installs)."""
    package = Path(__file__).resolve().parents[1]
    shipped = package / "_examples" / "numpy_mlp.py"
    if shipped.is_file():
        return shipped
    return package.parents[1] / "examples" / "numpy_mlp.py"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    run_id: str | None = None
    ended: bool = False


@dataclass
class Demo:
    """The demo's children and how to start, watch and stop them."""

    dir: Path
    port: int
    runs: int
    steps: int
    rate: float
    script: Path
    out: Console
    host: str = "127.0.0.1"
    server: Child | None = None
    children: list[Child] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    all_done: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        log = log_path.open("ab")
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops children itself
        )
        return Child(name, proc, log_path, log)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
        env.update(TRAINDECK_DIR=str(self.dir), TRAINDECK_PROJECT=DEMO_PROJECT,
                   PYTHONUNBUFFERED="1")
        return env

    def start_server(self) -> None:
        argv = [sys.executable, "-m", "traindeck.cli", "serve", "--host", self.host,
                "--port", str(self.port), "--dir", str(self.dir)]
        self.server = self._spawn("server", argv, self._env())
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.proc.poll() is not None:
                fail(f"the server exited with code {self.server.proc.returncode}:\n"
                     + log_tail(self.server.log_path))
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        fail(f"the server did not answer at {self.url} within {STARTUP_TIMEOUT:.0f}s:\n"
             + log_tail(self.server.log_path))

    def start_runs(self) -> None:
        for i in range(self.runs):
            lr, width = CONFIGS[i % len(CONFIGS)]
            seed = i // len(CONFIGS)
            name = f"mlp-lr{lr:g}-w{width}" + (f"-s{seed}" if seed else "")
            every = max(100, self.steps // 10) if self.steps else ENDLESS_CHECKPOINT_EVERY
            argv = [sys.executable, str(self.script), "--name", name, "--lr", str(lr),
                    "--width", str(width), "--seed", str(seed), "--steps", str(self.steps),
                    "--max-rate", str(self.rate), "--checkpoint-every", str(every)]
            self.children.append(self._spawn(name, argv, self._env()))

    def find_runs(self, store: Store) -> None:
        """Match children to their runs by pid (the SDK records it)."""
        if all(c.run_id for c in self.children):
            return
        runs, _ = store.list_runs(project=DEMO_PROJECT, limit=200)
        by_pid = {r.pid: r.id for r in runs if r.created_at >= self.started_at - 1}
        for c in self.children:
            if c.run_id is None:
                c.run_id = by_pid.get(c.proc.pid)

    def table(self, store: Store) -> RenderableType:
        table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left",
                      title=f"traindeck demo at {self.url}")
        for col in ("run", "id", "status", "step", "loss", "acc"):
            table.add_column(col, no_wrap=True,
                             justify="right" if col in ("step", "loss", "acc") else "left")
        for c in self.children:
            status: Text | str = "starting"
            step = loss = acc = "-"
            if c.run_id is not None:
                status = status_badge(store.get_run(c.run_id).status)
                latest = store.latest(c.run_id)
                if "loss" in latest:
                    at, _, value = latest["loss"]
                    step, loss = str(at), number(round(value, 4))
                if "acc" in latest:
                    acc = number(round(latest["acc"][2], 3))
            table.add_row(c.name, c.run_id or "-", status, step, loss, acc)
        return table

    def check_children(self) -> None:
        """Report children that ended; a dead server ends the demo."""
        assert self.server is not None
        if self.server.proc.poll() is not None:
            fail(f"the server exited with code {self.server.proc.returncode}:\n"
                 + log_tail(self.server.log_path))
        for c in self.children:
            if not c.ended and c.proc.poll() is not None:
                c.ended = True
                if not self.out.is_terminal:
                    say(self.out, f"run {c.name} exited with code {c.proc.returncode}")
        if self.children and all(c.ended for c in self.children) and not self.all_done:
            self.all_done = True
            say(self.out, f"all demo runs finished; the dashboard stays up at {self.url} "
                          "until Ctrl-C")

    def watch(self, store: Store) -> None:
        """Until Ctrl-C: follow the children (a live table on a terminal)."""
        if not self.out.is_terminal:
            while True:
                self.check_children()
                time.sleep(WATCH_INTERVAL)
        with Live(console=self.out, auto_refresh=False) as live:
            while True:
                self.check_children()
                self.find_runs(store)
                live.update(self.table(store), refresh=True)
                time.sleep(WATCH_INTERVAL)

    def stop(self) -> None:
        """SIGTERM the runs and wait for them, then the server; SIGKILL what lingers."""
        for group in (self.children, [self.server] if self.server else []):
            for c in group:
                signal_group(c.proc, signal.SIGTERM)
            deadline = time.monotonic() + GRACE
            for c in group:
                try:
                    c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say(self.out, f"{c.name} did not stop within {GRACE:.0f}s; killing it")
                    signal_group(c.proc, signal.SIGKILL)
                    c.proc.wait()
                c.log.close()


def say(out: Console, message: str) -> None:
    """Print a line now, even into a pipe (a parent process may be waiting for it)."""
    out.print(message, highlight=False)
    out.file.flush()


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal a child's process group (it leads its own session), if it is still there."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@contextmanager
def interrupts() -> Iterator[None]:
    """Ctrl-C (even where a shell started the demo with SIGINT ignored) and SIGTERM both
    raise KeyboardInterrupt, so either stops the children cleanly."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = (signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.signal(signal.SIGTERM, handler))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while stopping (stopping is bounded by ``GRACE``)."""
    previous = (signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@cli_errors
def demo(
    port: PortOption = DEFAULT_PORT,
    dir: Annotated[Path, typer.Option(
        "--dir", "-d", help="Folder for the demo's store, run files and logs.")]
    = DEFAULT_DEMO_DIR,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, max=16,
                                      help="How many training runs to start.")] = 2,
    steps: Annotated[int, typer.Option(
        "--steps", min=0, help="End each run after this many training steps "
                               "(0, the default: they train until Ctrl-C).")] = 0,
    rate: Annotated[float, typer.Option(
        "--rate", min=0, help="Most steps per second per run (0: as fast as possible).")]
    = 300.0,
    open_browser: Annotated[bool, typer.Option(
        "--open", help="Open the dashboard in a browser.")] = False,
    script: Annotated[Path | None, typer.Option(
        "--script", help="The training script to run: examples/numpy_mlp.py of this "
                         "checkout, or a script taking the same arguments.")] = None,
) -> None:
    """Start the server and a few real training runs; Ctrl-C stops them all cleanly.

    The runs train until Ctrl-C (or for --steps N steps); open the printed URL to watch the
    charts and press validate, sample, checkpoint, pause or stop.
    """
    out = console()
    script = (script or default_script()).resolve()
    if not script.is_file():
        fail(f"no training script at {script}; the demo runs examples/numpy_mlp.py from a "
             "source checkout (pass --script PATH to use another copy)")
    host = "127.0.0.1"
    if not port_is_free(host, port):
        fail(f"port {port} on {host} is in use; pass --port with a free one")
    dir = dir.resolve()
    dir.mkdir(parents=True, exist_ok=True)
    d = Demo(dir=dir, port=port, runs=runs, steps=steps, rate=rate, script=script, out=out,
             host=host)
    with interrupts():
        try:
            if out.is_terminal:
                with out.status("starting the server…"):
                    d.start_server()
            else:
                d.start_server()
            d.start_runs()
            say(out, f"traindeck demo: dashboard at {d.url}  (store: {dir})")
            for c in d.children:
                say(out, f"  run {c.name}: pid {c.proc.pid}, log {c.log_path}")
            say(out, "Ctrl-C stops the runs and the server.")
            if open_browser:
                webbrowser.open_new_tab(d.url)
            with open_store(dir) as store:
                d.watch(store)
        except KeyboardInterrupt:
            pass
        finally:
            with uninterruptible():
                if d.children or d.server:
                    say(out, "stopping the runs and the server…")
                d.stop()
    with open_store(dir) as store:
        d.find_runs(store)
        for c in d.children:
            status = store.get_run(c.run_id).status if c.run_id else "never started"
            out.print(Text.assemble(f"  {c.name} {c.run_id or ''}: ",
                                    status_badge(status)))
    out.print(f"stopped; the runs stay in {dir} (traindeck serve --dir {dir})",
              highlight=False)
