"""traindeck's own known_hosts file: which host keys it trusts, scanning a host's key and
trusting it (``traindeck hosts trust NAME``).

The file has OpenSSH's format (``[host]:port type base64`` lines, mode 0600), so ``ssh -o
UserKnownHostsFile=…`` reads it too; the caller passes its path. Host keys are never
accepted on first use: a key enters the file only through :func:`trust_host_key`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import asyncssh

from traindeck.remote.errors import HostKey, SSHError


def known_host_name(host: str, port: int) -> str:
    """The name OpenSSH files a host under: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def host_key(key: asyncssh.SSHKey) -> HostKey:
    """A :class:`HostKey` from an asyncssh public key."""
    text = key.export_public_key("openssh").decode("ascii").split()
    return HostKey(algorithm=key.get_algorithm(), fingerprint=key.get_fingerprint("sha256"),
                   openssh=f"{text[0]} {text[1]}")


def load(path: Path) -> asyncssh.SSHKnownHosts:
    """The known hosts in ``path`` (none when the file does not exist yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    return asyncssh.import_known_hosts(text)


def _matches(known: asyncssh.SSHKnownHosts, host: str, port: int) -> list[asyncssh.SSHKey]:
    return list(known.match(host, host, port)[0])


def trusted_keys(path: Path, host: str, port: int) -> tuple[HostKey, ...]:
    """The keys ``path`` trusts for ``host:port``."""
    keys = (host_key(k) for k in _matches(load(path), host, port))
    return tuple(dict.fromkeys(keys))  # a line can match by name and by address: once


def scan_host_key(host: str, port: int = 22, timeout: float = 10.0) -> HostKey:
    """The key ``host:port`` presents (a handshake, no login). Callable from any thread,
    also one that runs an event loop."""
    result: list[HostKey] = []
    failure: list[BaseException] = []

    async def scan() -> None:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host, port, config=None), timeout)
        if key is None:
            raise SSHError(f"{host}:{port} presented no host key")
        result.append(host_key(key))

    def work() -> None:
        try:
            asyncio.run(scan())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, name=f"ssh-scan-{host}:{port}", daemon=True)
    worker.start()
    worker.join()
    if failure:
        exc = failure[0]
        if isinstance(exc, SSHError):
            raise exc
        raise SSHError(f"could not read the host key of {host}:{port}: "
                       f"{exc or type(exc).__name__}") from exc
    return result[0]


def trust_host_key(path: Path, host: str, port: int, key: HostKey, *,
                   replace: bool = False) -> None:
    """Trust ``key`` for ``host:port`` from now on: appended to ``path`` (made 0600, its
    folder 0700, when missing). ``replace``: first drop every entry that matches
    ``host:port`` (a reinstalled host whose old key must no longer be trusted)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = f"{known_host_name(host, port)} {key.openssh}\n"
    if replace and path.exists():
        kept = [old for old in path.read_text(encoding="utf-8").splitlines(keepends=True)
                if not old.strip() or old.lstrip().startswith("#")
                or not _matches(asyncssh.import_known_hosts(old), host, port)]
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(kept)
            out.write(line)
        os.replace(tmp, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line)
