"""How the CLI talks to the terminal: consoles, status badges, times, numbers, errors.

Colour and live views only on a terminal: a :class:`rich.console.Console` detects whether
its stream is a TTY (and honours ``NO_COLOR``); when it is not, output is plain text, wide
enough that ids and names are not cut.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from traindeck.store import StoreError

#: Width used when the output is not a terminal (a pipe, a file, a test runner).
PLAIN_WIDTH: Final = 160

STATUS_STYLES: Final[dict[str, str]] = {
    "queued": "cyan",
    "running": "bold green",
    "paused": "bold yellow",
    "completed": "blue",
    "failed": "bold red",
    "cancelled": "magenta",
    "interrupted": "red",
}

P = ParamSpec("P")
R = TypeVar("R")


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): rich on a terminal, plain and wide elsewhere."""
    stream = sys.stderr if stderr else sys.stdout
    probe = Console(file=stream, stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(file=stream, stderr=stderr, width=PLAIN_WIDTH, no_color=True,
                   highlight=False, emoji=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    console(stderr=True).print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(code)


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the store's and the OS's errors into a one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise  # typer's own ways out (both are RuntimeErrors)
        except StoreError as exc:
            fail(str(exc).strip("'\""))
        except OSError as exc:
            fail(f"{type(exc).__name__}: {exc}")
        except RuntimeError as exc:  # e.g. a store written by a newer traindeck
            fail(str(exc))

    return wrapper


def status_badge(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def when(ts: float | None) -> str:
    """A local date and time to the second, or ``-``."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def run_duration(started: float | None, ended: float | None, *,
                 now: Callable[[], float] = time.time) -> float | None:
    if started is None:
        return None
    return (ended if ended is not None else now()) - started


def number(value: float | None) -> str:
    """A metric value, short: NaN and infinities spelled out, 6 significant digits."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
