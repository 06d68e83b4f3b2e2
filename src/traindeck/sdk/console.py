"""Console capture: the run tees ``sys.stdout`` and ``sys.stderr`` (``capture_console``).

``sys.stdout``/``sys.stderr`` are replaced by a :class:`Tee` that writes everything to the
original stream unchanged and then hands the text to a line splitter: complete lines (split
on ``\\n``; a ``\\r\\n`` ending loses its ``\\r``) go to the run as ``(time, stream, text)``
on an in-memory queue, which the run's background thread redacts and writes. A partial
line waits for its newline or the end of the run (not for ``flush()``: progress bars
flush many times a second). A carriage return starts the line over, as on a terminal, so
a progress bar redrawn with ``\r`` (tqdm, rich) is kept as the state it ended in, not as
thousands of lines. A line longer than ``MAX_LINE`` characters is cut there and marked
with ``… [N characters cut]``.

The tee never raises (a failure of capture is swallowed; the original write's own errors
propagate as they would have), never does I/O of its own, and is thread-safe (a short lock
around the line buffer). Writes made while a capture is already running in the same thread
(a report printed from inside the capture) pass through uncaptured.

One tee per stream per process: a second run started in the same process does not wrap
again, it takes the capture over (lines go to the newest run that captures); when a run
finishes it hands the capture back to the one before it, and the last one out puts the
original streams back (if nobody replaced them meanwhile: then the tee stays, passing
writes through).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

#: Longest line kept (characters); the rest is cut.
MAX_LINE: Final = 16 * 1024

LineSink = Callable[[float, str, str], None]

_registry_lock = threading.Lock()


class _Splitter:
    """Turns written text into whole lines, per stream. Not thread-safe by itself."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.parts: list[str] = []
        self.size = 0
        self.cut = 0  # characters dropped from the current (too long) line

    def feed(self, text: str, emit: Callable[[str, str], None]) -> None:
        while text:
            nl = text.find("\n")
            if nl < 0:
                self._add(text)
                return
            self._add(text[:nl])
            self.end(emit)
            text = text[nl + 1:]

    def _add(self, text: str) -> None:
        if text and self.parts and self.parts[-1].endswith("\r"):
            self._restart()  # "\r" then more text: the terminal overwrites the line
        back = text.rfind("\r", 0, len(text) - 1)
        if back >= 0:
            self._restart()
            text = text[back + 1:]
        room = MAX_LINE - self.size
        if len(text) > room:
            self.cut += len(text) - max(room, 0)
            text = text[:max(room, 0)]
        if text:
            self.parts.append(text)
            self.size += len(text)

    def _restart(self) -> None:
        self.parts, self.size, self.cut = [], 0, 0

    def end(self, emit: Callable[[str, str], None], *, partial: bool = False) -> None:
        if partial and not self.parts and not self.cut:
            return
        line = "".join(self.parts)
        if line.endswith("\r"):
            line = line[:-1]
        if self.cut:
            line += f"… [{self.cut} characters cut]"
        self.parts, self.size, self.cut = [], 0, 0
        emit(self.stream, line)


class Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through, captures lines."""

    def __init__(self, original: TextIO, stream: str) -> None:
        self._original = original
        self._stream = stream
        self._splitter = _Splitter(stream)
        self._lock = threading.Lock()
        self._busy = threading.local()
        #: The runs capturing, oldest first; lines go to the last one.
        self._sinks: list[LineSink] = []

    # -- what the program calls -----------------------------------------------------

    def write(self, text: str) -> int:
        n = self._original.write(text)
        self._capture(text)
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        # encoding, errors, fileno, isatty, buffer, …: those of the original stream.
        return getattr(self._original, name)

    @property
    def original(self) -> TextIO:
        return self._original

    # -- capture ---------------------------------------------------------------------

    def _emit(self, stream: str, text: str) -> None:
        if self._sinks:
            self._sinks[-1](time.time(), stream, text)

    def _capture(self, text: str | None) -> None:
        if not self._sinks or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            if text is not None and not isinstance(text, str):
                return
            with self._lock:
                if text is None:
                    self._splitter.end(self._emit, partial=True)
                else:
                    self._splitter.feed(text, self._emit)
        except Exception:
            pass  # capture must never break the program's output
        finally:
            self._busy.on = False

    def attach(self, sink: LineSink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def detach(self, sink: LineSink) -> None:
        """Stop capturing for ``sink``; a partial line goes to it first."""
        with self._lock:
            if sink not in self._sinks:
                return
            if self._sinks[-1] is sink:
                try:
                    self._splitter.end(self._emit, partial=True)
                except Exception:
                    pass
            self._sinks.remove(sink)

    @property
    def capturing(self) -> bool:
        return bool(self._sinks)


def _install(name: str, stream: str) -> Tee | None:
    current = getattr(sys, name, None)
    if isinstance(current, Tee):
        return current
    if current is None or not hasattr(current, "write"):
        return None
    tee = Tee(current, stream)
    setattr(sys, name, tee)
    return tee


def _uninstall(name: str, tee: Tee) -> None:
    if not tee.capturing and getattr(sys, name, None) is tee:
        setattr(sys, name, tee.original)


class ConsoleCapture:
    """One run's capture of both streams; ``close()`` ends it (idempotent)."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._tees: list[tuple[str, Tee]] = []
        with _registry_lock:
            for name, stream in (("stdout", "stdout"), ("stderr", "stderr")):
                tee = _install(name, stream)
                if tee is not None:
                    tee.attach(sink)
                    self._tees.append((name, tee))

    def close(self) -> None:
        with _registry_lock:
            tees, self._tees = self._tees, []
            for name, tee in tees:
                tee.detach(self._sink)
                _uninstall(name, tee)
