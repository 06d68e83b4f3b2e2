"""The sender's keep-alive connection (``sdk/lite_http.py``) against real HTTP servers on
127.0.0.1: answers come back, one connection carries many requests, a connection the
server closed while idle is opened again, TLS is verified (a self-signed certificate is
refused unless trusted through ``SSL_CERT_FILE``, as httpx does), and a proxy from the
environment sends the requests through httpx."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from traindeck.sdk.lite_http import HttpxPoster, Poster, open_poster, uses_proxy
from traindeck.sdk.transport import BatchRejected, post_batches


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every POST with its body reversed; ``/refuse`` with a 422, ``/down`` with
    a 503; ``/once`` closes the connection after answering, without saying so."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, bytes, int]]] = []  # path, body, client port

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append((self.path, body, self.client_address[1]))
        status = {"refuse": 422, "down": 503}.get(self.path.rsplit("/", 2)[-2], 200)
        answer = body[::-1]
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if "/once/" in self.path:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


def serve(context: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[Any]]]:
    seen: list[tuple[str, bytes, int]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[tuple[str, list[Any]]]:
    yield from serve()


def test_requests_share_one_connection_and_get_their_answers(
        plain: tuple[str, list[Any]]) -> None:
    url, seen = plain
    with Poster(url + "/prefix/", {"content-type": "application/json"}, 10.0) as poster:
        answers = [poster.post(f"/api/runs/r/batch/{i}", b"abc%d" % i) for i in range(5)]
    assert answers == [(200, b"%dcba" % i) for i in range(5)]
    assert [path for path, _, _ in seen] == [f"/prefix/api/runs/r/batch/{i}" for i in range(5)]
    assert len({port for _, _, port in seen}) == 1  # kept alive


def test_a_connection_the_server_closed_is_opened_again(plain: tuple[str, list[Any]]) -> None:
    url, seen = plain
    with Poster(url, {}, 10.0) as poster:
        for i in range(3):  # the server closes each connection after answering
            assert poster.post(f"/once/{i}", b"x") == (200, b"x")
    assert len({port for _, _, port in seen}) == 3
    assert [body for _, body, _ in seen] == [b"x"] * 3  # each sent once


def test_refusals_and_server_errors(plain: tuple[str, list[Any]]) -> None:
    url, _ = plain
    with Poster(url, {}, 10.0) as poster:
        with pytest.raises(BatchRejected) as refused:
            post_batches(poster, "refuse", [b"{}"])
        assert refused.value.status == 422
        with pytest.raises(OSError, match="503"):
            post_batches(poster, "down", [b"{}"])
        post_batches(poster, "fine", [b"{}", b"{}"])  # two batches: one JSON array


def test_a_server_that_is_not_there() -> None:
    with Poster("http://127.0.0.1:1", {}, 10.0) as poster, pytest.raises(OSError):
        poster.post("/x", b"")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("needs openssl to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_is_verified_as_httpx_verifies_it(certificate: tuple[Path, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for url, seen in serve(context):
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with Poster(url, {}, 10.0) as poster, pytest.raises(ssl.SSLCertVerificationError):
            poster.post("/x", b"secret")
        assert seen == []  # nothing was sent to a server that could not prove who it is
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted now
        with Poster(url, {}, 10.0) as poster:
            assert poster.post("/x", b"ok") == (200, b"ko")


def test_a_proxy_from_the_environment_goes_through_httpx(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert not uses_proxy("http://127.0.0.1:8000")
    assert isinstance(open_poster("http://127.0.0.1:8000", {}, 1.0), Poster)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not uses_proxy("http://gpu1:8000") and uses_proxy("https://gpu1:8000")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.invalid:3128")
    poster = open_poster("http://gpu1:8000", {}, 1.0)
    assert isinstance(poster, HttpxPoster)
    poster.close()
    monkeypatch.setenv("NO_PROXY", "gpu1,127.0.0.1")
    assert not uses_proxy("http://gpu1:8000") and uses_proxy("http://gpu2:8000")
    # a user and password in the URL: httpx sends them (basic auth), proxy or not
    poster = open_poster("http://me:secret@gpu1:8000", {}, 1.0)
    assert isinstance(poster, HttpxPoster)
    poster.close()
