"""One SSH link per host, shared by every launch on it and closed when the last lets go.

Opening a link first waits for the host's SSH port (:func:`~traindeck.remote.probe.
wait_for_port`: a host may still be booting), then connects with retries, within one time
limit. Launches that want the same host meanwhile wait for that one attempt; the one
waiting sees ``on_wait(seconds)`` for its "waiting for SSH on host:22 (12 s)" line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traindeck.remote.probe import wait_for_port
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.store.models import Host

#: ``on_moved(host name, old remote port, new remote port)``: a reverse forward came back
#: on another port after a reconnect (the old one was taken).
Moved = Callable[[str, int, int], None]


def target_of(host: Host, known_hosts: Path) -> SSHTarget:
    """How to reach a host record: its address, user, port and key (``None``: ssh-agent)."""
    return SSHTarget(name=host.name, host=host.address, user=host.user, port=host.port,
                     key=Path(host.key_path).expanduser() if host.key_path else None,
                     known_hosts=known_hosts)


@dataclass
class _Entry:
    #: Held while the link is being opened (launches for the same host wait for it).
    opening: threading.Lock = field(default_factory=threading.Lock)
    link: SSHLink | None = None
    users: int = 0


class LinkPool:
    """Ref-counted links by host name (see the module docstring)."""

    def __init__(self, *, probe_interval: float, wait_s: float,
                 options: Mapping[str, Any] | None = None,
                 on_moved: Moved | None = None) -> None:
        self.probe_interval, self.wait_s = probe_interval, wait_s
        self._options = dict(options or {})
        self._on_moved = on_moved
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # the entries' links and counts (never held long)

    def acquire(self, target: SSHTarget, *,
                on_wait: Callable[[float], None] | None = None) -> SSHLink:
        """The host's link (opened when there is none, or when the one there gave up),
        counted as one more user; raises what waiting and connecting raise."""
        with self._lock:
            entry = self._entries.setdefault(target.name, _Entry())
        began = time.monotonic()
        # Another launch may be opening this host's link: wait for it, calling on_wait
        # meanwhile (which may raise to give up: a launch cancelled while it waits).
        while not entry.opening.acquire(timeout=min(1.0, self.probe_interval)):
            if on_wait is not None:
                on_wait(time.monotonic() - began)
        try:
            with self._lock:
                link = entry.link
            if link is None or link.state.startswith(("failed", "closed")) \
                    or link.target != target:
                fresh = self._open(target, on_wait)
                with self._lock:
                    old, entry.link = entry.link, fresh
                if old is not None:
                    old.close()
            with self._lock:
                entry.users += 1
                assert entry.link is not None
                return entry.link
        finally:
            entry.opening.release()

    def _open(self, target: SSHTarget, on_wait: Callable[[float], None] | None) -> SSHLink:
        began = time.monotonic()
        wait_for_port(target.host, target.port, interval=self.probe_interval,
                      timeout=self.wait_s, on_wait=on_wait)
        left = max(10.0, self.wait_s - (time.monotonic() - began))
        name = target.name

        def moved(old: int, new: int) -> None:
            if self._on_moved is not None:
                self._on_moved(name, old, new)

        return SSHLink.open(target, retry_for=left, on_forward_moved=moved, **self._options)

    def release(self, name: str) -> None:
        """One user fewer; the link is closed when none is left."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return
            entry.users = max(0, entry.users - 1)
            link = None
            if entry.users == 0:
                link, entry.link = entry.link, None
        if link is not None:
            link.close()

    def close(self) -> None:
        """Close every link (what runs on the hosts runs on)."""
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
            links = [e.link for e in entries if e.link is not None]
            for entry in entries:
                entry.link, entry.users = None, 0
        for link in links:
            link.close()
