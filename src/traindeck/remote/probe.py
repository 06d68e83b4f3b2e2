"""Waiting for a host's SSH port: a booting host refuses (or drops) connections for a while,
so a launch probes the TCP port every few seconds, shows how long it has waited, and gives
up with a clear error after a set time."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from traindeck.remote.errors import PortTimeout


def tcp_answers(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection to ``host:port``; ``OSError`` when it fails."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def wait_for_port(host: str, port: int, *, interval: float = 3.0, timeout: float = 300.0,
                  on_wait: Callable[[float], None] | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep,
                  probe: Callable[[str, int, float], None] = tcp_answers) -> float:
    """Probe ``host:port`` every ``interval`` seconds until a TCP connection succeeds;
    returns the seconds waited. ``on_wait(elapsed)`` is called after each failed probe (for
    "waiting for SSH on host:22 (12 s)"). :class:`PortTimeout` after ``timeout`` seconds.
    ``clock``, ``sleep`` and ``probe`` are seams for tests."""
    start = clock()
    while True:
        try:
            probe(host, port, max(0.1, min(interval, 5.0)))
            return clock() - start
        except OSError as exc:
            last = exc.strerror or str(exc) or type(exc).__name__
        elapsed = clock() - start
        if elapsed >= timeout:
            raise PortTimeout(
                f"SSH on {host}:{port} did not answer within {timeout:.0f} s (last: {last}). "
                "Is the host up, and is that its SSH port?")
        if on_wait is not None:
            on_wait(elapsed)
        sleep(min(interval, max(0.0, timeout - elapsed)))
