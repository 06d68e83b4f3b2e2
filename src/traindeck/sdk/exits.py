"""How a run notices the end of its process: ``atexit``, an uncaught exception, SIGTERM,
and the signals that arrive while the last points are written.

Each hook is installed with a way to take it back (a run that finishes restores what it
found); none of them knows the ``Run``: they are given what to call.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any


def install(*, on_exit: Callable[[], None], on_uncaught: Callable[[BaseException], None],
            on_sigterm: Callable[[int], None]) -> list[Callable[[], None]]:
    """Call ``on_exit`` at interpreter exit, ``on_uncaught`` with an exception nothing
    caught (before the previous ``sys.excepthook`` prints it), and ``on_sigterm`` on SIGTERM
    (main thread only; then the previous handler runs, or ``SystemExit(128 + signum)``
    unwinds the script). A script that ignores SIGTERM keeps ignoring it. Returns the
    functions that take the hooks back, in the order they were installed."""
    restore: list[Callable[[], None]] = []
    atexit.register(on_exit)
    restore.append(lambda: atexit.unregister(on_exit))
    previous_hook = sys.excepthook

    def excepthook(tp: type[BaseException], value: BaseException,
                   tb: TracebackType | None) -> None:
        on_uncaught(value)
        previous_hook(tp, value, tb)

    sys.excepthook = excepthook

    def restore_hook() -> None:
        if sys.excepthook is excepthook:
            sys.excepthook = previous_hook

    restore.append(restore_hook)
    if threading.current_thread() is not threading.main_thread():
        return restore
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return restore  # the script ignores SIGTERM on purpose

    def handler(signum: int, frame: FrameType | None) -> None:
        on_sigterm(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)

    def restore_signal() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    restore.append(restore_signal)
    return restore


def exit_status(exc: BaseException | None, signalled: bool) -> str:
    """The status a run ends with, from how its block or process ended."""
    if exc is None:
        return "interrupted" if signalled else "completed"
    if isinstance(exc, KeyboardInterrupt) or signalled:
        return "interrupted"
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return "completed"
    return "failed"


@contextmanager
def signals_deferred(note: Callable[[int], None]) -> Iterator[None]:
    """While the last points are written, SIGINT/SIGTERM only call ``note(signum)`` and
    say so on stderr (main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}

    def deferred(signum: int, frame: FrameType | None) -> None:
        note(signum)
        try:
            print("traindeck: finishing the run (writing what is left); one moment",
                  file=sys.stderr, flush=True)
        except Exception:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, deferred)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
