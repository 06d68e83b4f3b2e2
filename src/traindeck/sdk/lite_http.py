"""The sender's connection to the server: keep-alive HTTP/1.1 on the standard library.

A remote run's sender posts a batch every tick (fifty runs: a thousand requests a second
on one server). Through ``httpx`` each request cost the training process about 0.6 ms of
CPU, through ``http.client`` about a third of that (``bench/sdk_post.py``), and that CPU
is the training process's. :class:`Poster` sends the POSTs over one connection, kept open
between them; a connection the server closed while it idled is opened again and the
request sent once more (a batch sent twice is applied once: the server keeps its id).

``httpx`` stays where it does what this does not: :func:`open_poster` gives an
:class:`HttpxPoster` when a proxy applies to the server's URL (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``; on macOS and Windows also the system's
settings) or the URL carries a user and password. TLS is verified with the
context ``httpx`` would use (``SSL_CERT_FILE``/``SSL_CERT_DIR``, else certifi's roots).
"""

from __future__ import annotations

import http.client
import socket
import urllib.request
from collections.abc import Mapping
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx

#: Seconds to connect.
CONNECT_TIMEOUT: Final = 5.0


class SendError(OSError):
    """The request did not get an answer: the connection failed or broke."""


class BatchPoster(Protocol):
    """POSTs to one server: ``post(path, body)`` → ``(status, body)``; raises ``OSError``
    (or ``httpx.HTTPError``) when no answer came."""

    def post(self, path: str, body: bytes) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


class Poster:
    """Keep-alive POSTs over ``http.client`` (one thread at a time)."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._timeout = timeout
        self._context = httpx.create_ssl_context() if self._https else None
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=CONNECT_TIMEOUT,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=CONNECT_TIMEOUT)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self._timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        while True:
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.request("POST", self._prefix + path, body=body,
                                   headers=self._headers)
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                # a kept-alive connection the server closed while idle fails at once:
                # send again on a new one (only then, and only once)
                if reused and isinstance(exc, (http.client.RemoteDisconnected,
                                               BrokenPipeError, ConnectionResetError)):
                    continue
                if isinstance(exc, OSError):
                    raise
                raise SendError(f"{type(exc).__name__}: {exc}") from exc
            if resp.will_close:
                self.close()
            return resp.status, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpxPoster:
    """The same over an ``httpx.Client`` (proxies; ``traindeck sync``)."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self._client = client
        self._url = url.rstrip("/")

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        resp = self._client.post(self._url + path, content=body)
        return resp.status_code, resp.content

    def close(self) -> None:
        self._client.close()


def uses_proxy(url: str) -> bool:
    """Whether a proxy applies to ``url``: from the environment, or on macOS and Windows
    the system's settings (``urllib.request.getproxies``, as ``httpx`` reads them)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def open_poster(url: str, headers: Mapping[str, str], timeout: float) -> BatchPoster:
    """The cheapest poster that reaches ``url`` as ``httpx`` would (``httpx`` itself for
    a proxy, or a user and password written in the URL)."""
    parts = urlsplit(url)
    if uses_proxy(url) or parts.username is not None:
        return HttpxPoster(httpx.Client(headers=dict(headers),
                                        timeout=httpx.Timeout(timeout,
                                                              connect=CONNECT_TIMEOUT)), url)
    return Poster(url, headers, timeout)
