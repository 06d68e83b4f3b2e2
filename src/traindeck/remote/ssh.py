"""The SSH link a remote executor talks through: one asyncssh connection to one host, used
through plain blocking calls from any thread (its event loop runs on a daemon thread of its
own: the launcher is threaded, not async).

- **Host keys are always checked** against traindeck's own known_hosts file
  (:mod:`traindeck.remote.known_hosts`): an unknown key raises :class:`HostKeyUnknown` (its
  type and SHA256 fingerprint, and ``traindeck hosts trust NAME``), a different key than the
  trusted one :class:`HostKeyChanged`. Neither is retried.
- **Connecting** retries for ``retry_for`` seconds (a host whose port just opened may still
  refuse for a moment); a refused key raises :class:`AuthenticationFailed` at once. Waiting
  for the port itself is :func:`traindeck.remote.probe.wait_for_port`.
- **When the connection drops** the link reconnects by itself with exponential backoff
  (capped at ``backoff_cap`` seconds) and sets its reverse forwards up again on the same
  remote ports when it can. Calls made meanwhile raise :class:`Disconnected` at once, so
  nobody blocks on a dead host; :attr:`SSHLink.state` says what is going on.
- Passwords are never used (key or ssh-agent only) and the key's passphrase is only handed
  to the key reader: it appears in no message and no log line. Command lines are not logged
  or put in messages either (they may carry a secret).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import asyncssh

from traindeck.remote import known_hosts
from traindeck.remote.errors import (
    AuthenticationFailed,
    CommandTimeout,
    Disconnected,
    HostKeyChanged,
    HostKeyUnknown,
    KeyUnusable,
    SSHError,
    Unreachable,
)
from traindeck.remote.loop import LoopThread

log = logging.getLogger(__name__)

T = TypeVar("T")
#: ``progress(bytes done, bytes in all)``, called on the link's own thread (so it must not
#: call the link itself; hand the numbers to another thread).
Progress = Callable[[int, int], None]
#: Where reverse forwards listen on the remote host: loopback only, never its public side.
REMOTE_BIND = "127.0.0.1"
_FIRST_BACKOFF = 0.5
#: Errors that end a connection (or an attempt to make one); the link reconnects.
_TRANSIENT = (OSError, asyncssh.Error)


@dataclass(frozen=True)
class SSHTarget:
    """A host to reach: ``name`` (as ``traindeck hosts`` knows it), where, as whom, with
    which key (``None``: the ssh-agent at ``SSH_AUTH_SOCK``, then ~/.ssh's default keys) and
    which known_hosts file to check its key against (traindeck's own)."""

    name: str
    host: str
    user: str
    known_hosts: Path
    port: int = 22
    key: Path | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class RunResult(NamedTuple):
    """A finished remote command: exit status (negative: killed by that signal; -1:
    unknown), its stdout and stderr (UTF-8, undecodable bytes replaced)."""

    exit_status: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ReverseForward:
    """Connections to ``127.0.0.1:remote_port`` on the host reach ``local_host:local_port``
    here."""

    remote_port: int
    local_host: str
    local_port: int


@dataclass
class _Forward:
    remote_port: int
    local_host: str
    local_port: int
    listener: asyncssh.SSHListener | None


class _Client(asyncssh.SSHClient):
    """Remembers the host key the server presented when it was not a trusted one."""

    def __init__(self) -> None:
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.presented = key
        return False


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(reason) or type(exc).__name__


class SSHLink:
    """A self-healing SSH connection to ``target`` (see the module docstring). Make it with
    :meth:`open` (connects or raises); every method may be called from any thread."""

    def __init__(self, target: SSHTarget, *, passphrase: str | None = None,
                 connect_timeout: float = 10.0, retry_for: float = 30.0,
                 backoff_cap: float = 10.0, keepalive_interval: float = 10.0,
                 keepalive_count_max: int = 3,
                 on_forward_moved: Callable[[int, int], None] | None = None) -> None:
        self.target = target
        self._passphrase = passphrase
        self.connect_timeout = connect_timeout
        self.retry_for = retry_for
        self.backoff_cap = backoff_cap
        self._keepalive = (keepalive_interval, keepalive_count_max)
        self._on_forward_moved = on_forward_moved
        self._loop = LoopThread(f"ssh-{target.name}")
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock: asyncio.Lock | None = None
        self._key: asyncssh.SSHKey | None = None
        self._fatal: SSHError | None = None
        self._forwards: list[_Forward] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._up = threading.Event()
        self._closed = False
        self._down_since: float | None = None
        self._attempts = 0
        self._last_error = ""

    @classmethod
    def open(cls, target: SSHTarget, **options: Any) -> SSHLink:
        """A connected link (options as for the constructor); raises what
        :meth:`connect` raises."""
        link = cls(target, **options)
        try:
            link.connect()
        except BaseException:
            link.close()
            raise
        return link

    # -- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._fatal is None and not self._closed

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the link to be up; whether it is."""
        self._up.wait(timeout)
        return self.connected

    @property
    def state(self) -> str:
        """One line for a human: connected, reconnecting (since when, last error), failed."""
        if self._closed:
            return "closed"
        if self._fatal is not None:
            return f"failed: {self._fatal}"
        if self.connected:
            return f"connected to {self.target.address}"
        if self._down_since is None:
            return f"not connected to {self.target.address}"
        waited = time.monotonic() - self._down_since
        return (f"reconnecting to {self.target.address} ({waited:.0f} s, attempt "
                f"{self._attempts}; last error: {self._last_error or 'none yet'})")

    @property
    def forwards(self) -> list[ReverseForward]:
        """The reverse forwards the link keeps, with their current remote ports."""
        return [ReverseForward(f.remote_port, f.local_host, f.local_port)
                for f in list(self._forwards)]

    # -- connecting ------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, retrying transient failures for ``retry_for`` seconds. Raises
        :class:`HostKeyUnknown`, :class:`HostKeyChanged`, :class:`AuthenticationFailed`,
        :class:`KeyUnusable` (none of them retried) or :class:`Unreachable`."""
        if self._closed:
            raise Disconnected(f"the SSH link to {self.target.name} is closed")
        if self._supervisor is not None:  # connected before: it reconnects by itself
            if not self.wait_connected(self.retry_for):
                raise self._fatal or Unreachable(f"{self.target.name}: {self.state}")
            return
        self._loop.call(self._first_connect())

    def _load_key(self, path: Path) -> asyncssh.SSHKey:
        if self._key is None:
            try:
                self._key = asyncssh.read_private_key(str(path), self._passphrase)
            except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                raise KeyUnusable(f"cannot use the SSH key {path} for {self.target.name}: "
                                  f"{_describe(exc)}") from None
        return self._key

    async def _connect_once(self) -> asyncssh.SSHClientConnection:
        t = self.target
        clients: list[_Client] = []

        def client_factory() -> _Client:
            clients.append(_Client())
            return clients[-1]

        keys: dict[str, Any] = {}
        if t.key is not None:
            keys = {"client_keys": [self._load_key(t.key)], "agent_path": None}
        try:
            return await asyncssh.connect(
                t.host, t.port, username=t.user, known_hosts=known_hosts.load(t.known_hosts),
                client_factory=client_factory, config=None, password_auth=False,
                kbdint_auth=False, gss_auth=False, host_based_auth=False,
                connect_timeout=self.connect_timeout, keepalive_interval=self._keepalive[0],
                keepalive_count_max=self._keepalive[1], **keys)
        except asyncssh.HostKeyNotVerifiable as exc:
            presented = clients[-1].presented if clients else None
            if presented is None:
                raise SSHError(f"the SSH host key of {t.name} ({t.host}:{t.port}) could not "
                               f"be verified: {_describe(exc)}") from None
            key = known_hosts.host_key(presented)
            trusted = known_hosts.trusted_keys(t.known_hosts, t.host, t.port)
            if trusted:
                raise HostKeyChanged(t.name, t.host, t.port, key, trusted) from None
            raise HostKeyUnknown(t.name, t.host, t.port, key) from None
        except asyncssh.PermissionDenied:
            how = f"key {t.key}" if t.key is not None else "ssh-agent and default keys"
            raise AuthenticationFailed(
                f"authentication failed for {t.user}@{t.host}:{t.port} ({how}): the server "
                f"refused it. Is the public key in ~{t.user}/.ssh/authorized_keys on "
                f"{t.name}?") from None

    async def _first_connect(self) -> None:
        deadline = time.monotonic() + self.retry_for
        delay = _FIRST_BACKOFF
        while True:
            try:
                conn = await self._connect_once()
                break
            except _TRANSIENT as exc:
                self._last_error = _describe(exc)
                if time.monotonic() + delay > deadline:
                    raise Unreachable(
                        f"could not connect to {self.target.name} ({self.target.address}) "
                        f"within {self.retry_for:.0f} s: {self._last_error}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_cap)
        await self._went_up(conn)
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _went_up(self, conn: asyncssh.SSHClientConnection) -> None:
        await self._restore_forwards(conn)
        self._conn, self._sftp, self._down_since, self._attempts = conn, None, None, 0
        self._up.set()
        log.info("SSH connected to %s (%s)", self.target.name, self.target.address)

    async def _supervise(self) -> None:
        """Wait for the connection to drop, then reconnect with backoff; forever, until
        the link is closed or a host key or authentication error makes retrying useless."""
        while not self._closed and self._conn is not None:
            await self._conn.wait_closed()
            if self._closed:
                return
            self._conn, self._sftp = None, None
            self._up.clear()
            self._down_since, self._attempts = time.monotonic(), 0
            for fwd in self._forwards:
                fwd.listener = None
            log.warning("SSH connection to %s lost; reconnecting", self.target.name)
            delay = _FIRST_BACKOFF
            while not self._closed:
                self._attempts += 1
                try:
                    conn = await self._connect_once()
                except SSHError as exc:
                    self._fatal = exc
                    self._up.set()
                    log.error("SSH link to %s gave up: %s", self.target.name, exc)
                    return
                except _TRANSIENT as exc:
                    self._last_error = _describe(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff_cap)
                    continue
                await self._went_up(conn)
                break

    async def _restore_forwards(self, conn: asyncssh.SSHClientConnection) -> None:
        for fwd in self._forwards:
            try:
                fwd.listener = await conn.forward_remote_port(
                    REMOTE_BIND, fwd.remote_port, fwd.local_host, fwd.local_port)
            except asyncssh.ChannelListenError:
                try:
                    fwd.listener = await conn.forward_remote_port(
                        REMOTE_BIND, 0, fwd.local_host, fwd.local_port)
                except _TRANSIENT as exc:
                    log.warning("reverse forward to %s:%s on %s not restored: %s",
                                fwd.local_host, fwd.local_port, self.target.name,
                                _describe(exc))
                    continue
                old, fwd.remote_port = fwd.remote_port, fwd.listener.get_port()
                log.warning("reverse forward on %s moved from port %s to %s (taken)",
                            self.target.name, old, fwd.remote_port)
                if self._on_forward_moved is not None:
                    self._on_forward_moved(old, fwd.remote_port)
            except _TRANSIENT as exc:  # the new connection dropped already: next round
                log.warning("reverse forwards on %s not restored: %s", self.target.name,
                            _describe(exc))
                return

    # -- calls -----------------------------------------------------------------------------

    def _call(self, what: str,
              op: Callable[[asyncssh.SSHClientConnection], Coroutine[Any, Any, T]],
              timeout: float | None = None) -> T:
        """Run ``op`` with the live connection on the loop; :class:`Disconnected` at once
        when there is none, or when the connection drops during ``op``."""
        if self._closed:
            raise Disconnected(f"the SSH link to {self.target.name} is closed")

        async def go() -> T:
            if self._fatal is not None:
                raise self._fatal
            conn = self._conn
            if conn is None:
                raise Disconnected(f"{what}: not connected; {self.state}")
            try:
                return await op(conn)
            except (asyncssh.DisconnectError, asyncssh.SFTPConnectionLost,
                    ConnectionError) as exc:
                raise Disconnected(f"{what}: the connection to {self.target.name} dropped "
                                   f"({_describe(exc)}); it reconnects by itself") from None
            except asyncssh.ChannelOpenError as exc:
                if conn.is_closed() or conn is not self._conn:
                    raise Disconnected(f"{what}: the connection to {self.target.name} "
                                       "dropped; it reconnects by itself") from None
                raise SSHError(f"{what} on {self.target.name}: {_describe(exc)}") from None
            except asyncssh.SFTPNoSuchFile as exc:
                raise FileNotFoundError(f"{what} on {self.target.name}: "
                                        f"{_describe(exc)}") from None
            except asyncssh.SFTPError as exc:
                raise SSHError(f"{what} on {self.target.name}: {_describe(exc)}") from None

        try:
            return self._loop.call(go(), timeout)
        except concurrent.futures.CancelledError:  # closed meanwhile
            raise Disconnected(f"the SSH link to {self.target.name} is closed") from None

    async def _sftp_client(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        if self._sftp_lock is None:
            self._sftp_lock = asyncio.Lock()
        async with self._sftp_lock:
            if self._sftp is None or conn is not self._conn:
                self._sftp = await conn.start_sftp_client()
            return self._sftp

    def run(self, command: str, *, input: str | None = None,
            timeout: float = 60.0) -> RunResult:
        """Run ``command`` through the remote user's shell; stdin is ``input``.
        :class:`CommandTimeout` after ``timeout`` seconds (the channel is closed; a process
        that ignores that runs on)."""
        async def op(conn: asyncssh.SSHClientConnection) -> RunResult:
            try:
                done = await asyncio.wait_for(
                    conn.run(command, input=input, check=False, errors="replace"), timeout)
            except TimeoutError:
                raise CommandTimeout(f"a remote command on {self.target.name} did not finish "
                                     f"within {timeout:.0f} s") from None
            if done.returncode is None and conn.is_closed():
                raise Disconnected(f"the connection to {self.target.name} dropped while a "
                                   "remote command ran (whether it finished is unknown); it "
                                   "reconnects by itself")
            status = done.returncode if done.returncode is not None else -1
            return RunResult(status, str(done.stdout or ""), str(done.stderr or ""))

        return self._call("running a command", op)

    def put(self, local: Path, remote: str, *, progress: Progress | None = None) -> None:
        """Upload ``local`` to ``remote`` over SFTP (written to ``remote.part``, renamed
        when complete, so ``remote`` never holds half a file; an upload cut short leaves
        the ``.part``, which the next one overwrites)."""
        async def op(conn: asyncssh.SSHClientConnection) -> None:
            sftp = await self._sftp_client(conn)
            part = remote + ".part"
            await sftp.put(str(local), part, progress_handler=_handler(progress))
            await sftp.posix_rename(part, remote)

        self._call(f"uploading {local.name}", op)

    def get(self, remote: str, local: Path, *, progress: Progress | None = None) -> None:
        """Download ``remote`` into ``local`` (via ``local.part``, renamed when complete).
        ``FileNotFoundError`` when ``remote`` does not exist."""
        part = local.with_name(local.name + ".part")

        async def op(conn: asyncssh.SSHClientConnection) -> None:
            sftp = await self._sftp_client(conn)
            await sftp.get(remote, str(part), progress_handler=_handler(progress))

        try:
            self._call(f"downloading {remote}", op)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, local)

    def read_from(self, remote_path: str, offset: int, max_bytes: int = 1 << 20) -> bytes:
        """Up to ``max_bytes`` of ``remote_path`` from byte ``offset`` (empty at or past its
        end): for following a file that grows. ``FileNotFoundError`` when it does not
        exist."""
        async def op(conn: asyncssh.SSHClientConnection) -> bytes:
            sftp = await self._sftp_client(conn)
            async with sftp.open(remote_path, "rb") as f:
                data = await f.read(max_bytes, offset)
            return data if isinstance(data, bytes) else data.encode()

        return self._call(f"reading {remote_path}", op)

    def reverse_forward(self, remote_port: int, local_host: str, local_port: int) -> int:
        """Make connections to ``127.0.0.1:remote_port`` on the host (0: a free port) reach
        ``local_host:local_port`` here, through this link; returns the remote port. Set up
        again after every reconnect, on the same port when it is free (else another one:
        ``on_forward_moved(old, new)`` and :attr:`forwards` tell)."""
        async def op(conn: asyncssh.SSHClientConnection) -> int:
            try:
                listener = await conn.forward_remote_port(REMOTE_BIND, remote_port,
                                                          local_host, local_port)
            except asyncssh.ChannelListenError as exc:
                raise SSHError(f"{self.target.name} refused to listen on port {remote_port}: "
                               f"{_describe(exc)}") from None
            self._forwards.append(_Forward(listener.get_port(), local_host, local_port,
                                           listener))
            return listener.get_port()

        return self._call("forwarding a port", op)

    def cancel_forward(self, remote_port: int) -> None:
        """Stop the reverse forward on ``remote_port`` (no-op when there is none)."""
        async def stop() -> None:
            for fwd in [f for f in self._forwards if f.remote_port == remote_port]:
                self._forwards.remove(fwd)
                if fwd.listener is not None:
                    fwd.listener.close()

        if not self._closed:
            self._loop.call(stop())

    def close(self) -> None:
        """Close the connection and stop the link's thread (what runs remotely runs on)."""
        if self._closed:
            return
        self._closed = True
        self._up.set()

        async def shut() -> None:
            if self._supervisor is not None:
                self._supervisor.cancel()
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
                await asyncio.wait_for(conn.wait_closed(), 5)

        try:
            self._loop.call(shut(), 10)
        except (TimeoutError, OSError, asyncssh.Error):
            pass
        self._loop.close()


def _handler(progress: Progress | None) -> Callable[[bytes, bytes, int, int], None] | None:
    if progress is None:
        return None
    return lambda _src, _dst, done, total: progress(done, total)
