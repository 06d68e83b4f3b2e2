"""SSH hosts, for every engine: what a host record may hold (checked here, no SQL)."""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidInput

#: A host's name: what ``--host NAME`` and ``"host": NAME`` say.
HOST_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: A login name (POSIX portable, plus what cloud images use).
USER_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,63}")
#: A DNS name or an IPv4/IPv6 address.
ADDRESS: Final = re.compile(r"[A-Za-z0-9.:-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
MAX_PATH: Final = 4096


def check_host(name: str, user: str, address: str, port: int, key_path: str | None,
               workdir: str) -> str:
    """The address as stored (no brackets); ``InvalidInput`` saying what is wrong."""
    if not HOST_NAME.fullmatch(name):
        raise InvalidInput(f"{name!r} is not a host name (letters, digits, '.', '_', '-'; "
                           "64 at most)")
    if not USER_NAME.fullmatch(user):
        raise InvalidInput(f"{user!r} is not a user name")
    if not ADDRESS.fullmatch(address):
        raise InvalidInput(f"{address!r} is not a host address (a DNS name or an IP)")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"port {port!r} is not 1..65535")
    for what, path in (("key", key_path), ("workdir", workdir)):
        if path is not None and (not path or len(path) > MAX_PATH or "\0" in path
                                 or "\n" in path):
            raise InvalidInput(f"the {what} path is empty, too long or holds NUL/newline")
    return address.strip("[]")


def parse_destination(text: str) -> tuple[str, str, int]:
    """``user@host[:port]`` (``user@[::1]:2222`` for IPv6) → (user, address, port)."""
    user, at, rest = text.rpartition("@")
    if not at or not user:
        raise InvalidInput(f"{text!r} is not user@host[:port]")
    port = 22
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        if tail:
            if not tail.startswith(":"):
                raise InvalidInput(f"{text!r} is not user@host[:port]")
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
        port = _port(port_text, text)
    else:
        address = rest
    return user, address, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit():
        raise InvalidInput(f"{whole!r}: the port is not a number")
    return int(text)
