"""Authentication against a real server: uvicorn on a free port (in a thread, and as the
``traindeck serve`` process), real ``httpx`` and ``websockets`` clients, a real SQLite file.

Auth is not forced on in these servers: the store holds tokens, which turns it on.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from serving import bound_socket, served
from support import MakeStore, clean_env, free_port, open_dir_store, server_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from traindeck.server import create_app
from traindeck.server.auth import COOKIE_NAME, REDACTED, WS_UNAUTHORIZED
from traindeck.store import Store

TIMEOUT = 20.0


@dataclass
class Live:
    url: str
    ws_url: str
    store: Store
    read: str
    revoked: str



@pytest.fixture
def live(tmp_path: Path, make_store: MakeStore) -> Iterator[Live]:
    sock = bound_socket()
    port = sock.getsockname()[1]
    store = make_store()
    _, read = store.create_token("dashboard", "read")
    gone, revoked = store.create_token("old", "admin")
    store.revoke_token(gone.id)
    settings = server_settings(tmp_path / "td", port=port, follow_interval=0.02,
                        web_dir=tmp_path / "no-web")
    app = create_app(settings, store=store)
    app.state.auth.recheck_interval = 0.05  # open WebSockets re-check their token this often
    with served(app, sock) as url:
        yield Live(url, f"ws://127.0.0.1:{port}/ws", store, read, revoked)


async def ping(url: str, **kwargs: object) -> dict[str, object]:
    async with connect(url, open_timeout=TIMEOUT, **kwargs) as ws:  # type: ignore[arg-type]
        await ws.send(orjson.dumps({"type": "ping", "id": 7}).decode())
        reply: dict[str, object] = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        return reply


async def refused_code(url: str, **kwargs: object) -> int | None:
    async with connect(url, open_timeout=TIMEOUT, **kwargs) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_websocket_needs_a_valid_token(live: Live) -> None:
    assert await refused_code(live.ws_url) == WS_UNAUTHORIZED
    for bad in ("td_bad", live.revoked, live.read + "x"):
        assert await refused_code(f"{live.ws_url}?token={bad}") == WS_UNAUTHORIZED
        assert await refused_code(live.ws_url, additional_headers={
            "authorization": f"Bearer {bad}"}) == WS_UNAUTHORIZED
        assert await refused_code(live.ws_url, additional_headers={
            "cookie": f"{COOKIE_NAME}={bad}"}) == WS_UNAUTHORIZED
    pong = {"type": "pong", "id": 7}
    assert await ping(f"{live.ws_url}?token={live.read}") == pong
    assert await ping(live.ws_url, additional_headers={
        "authorization": f"Bearer {live.read}"}) == pong


async def test_revoking_a_token_closes_its_open_websockets(live: Live) -> None:
    token, secret = live.store.create_token("soon-gone", "read")
    async with connect(f"{live.ws_url}?token={secret}", open_timeout=TIMEOUT) as ws:
        await ws.send(orjson.dumps({"type": "ping", "id": 1}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "pong"
        live.store.revoke_token(token.id)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == WS_UNAUTHORIZED
    # Others stay open.
    assert await ping(f"{live.ws_url}?token={live.read}") == {"type": "pong", "id": 7}


async def test_websocket_checks_the_origin_even_with_a_token(live: Live) -> None:
    for origin in ("http://evil.example", "http://127.0.0.1:1", "null"):
        with pytest.raises(InvalidStatus) as refused:
            await ping(f"{live.ws_url}?token={live.read}", origin=origin)
        assert refused.value.response.status_code == 403


async def test_browser_flow_login_cookie_websocket_logout(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=TIMEOUT) as c:
        page = await c.get("/", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert "td_" in (await c.get("/login")).text  # the form's placeholder
        assert (await c.get("/api/runs")).status_code == 401
        login = await c.post("/api/session", json={"token": live.read})
        assert login.status_code == 200 and login.json()["token"]["name"] == "dashboard"
        session = c.cookies.get(COOKIE_NAME)
        assert session and live.read not in session  # a session, not the token
        assert (await c.get("/api/runs")).status_code == 200
        assert (await c.get("/", headers={"accept": "text/html"})).status_code == 503  # no build
        # What the dashboard's script does next: open /ws from its own origin, cookie sent.
        pong = await ping(live.ws_url, origin=live.url, additional_headers={
            "cookie": f"{COOKIE_NAME}={c.cookies[COOKIE_NAME]}"})
        assert pong == {"type": "pong", "id": 7}
        assert (await c.delete("/api/session")).status_code == 204
        assert COOKIE_NAME not in c.cookies
        assert (await c.get("/api/runs")).status_code == 401
        # A copy of the cookie kept from before the logout is worth nothing now.
        kept = {"cookie": f"{COOKIE_NAME}={session}"}
        assert (await c.get("/api/runs", headers=kept)).status_code == 401
        assert await refused_code(live.ws_url, origin=live.url, additional_headers={
            "cookie": f"{COOKIE_NAME}={session}"}) == WS_UNAUTHORIZED


def traindeck_command() -> list[str]:
    script = Path(sys.executable).parent / "traindeck"
    if script.exists():
        return [str(script)]
    found = shutil.which("traindeck")
    return [found] if found else [sys.executable, "-m", "traindeck.cli"]


def test_serve_beyond_loopback_without_auth_refuses_and_says_why(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    for extra in ([], ["--no-auth"]):
        proc = subprocess.run(
            [*traindeck_command(), "serve", "--host", "0.0.0.0", "--port", str(free_port()),
             "--dir", str(tdir), *extra],
            env=clean_env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc
        message = " ".join(proc.stderr.split())
        assert "refusing to bind to 0.0.0.0 without authentication" in message
        assert "traindeck token create" in message and "--insecure" in message
        assert "Traceback" not in proc.stderr
        with open_dir_store(tdir) as store:
            store.create_token("t", "read")  # the second round: --no-auth beats the token


def test_serve_with_a_token_binds_beyond_loopback_and_logs_no_secret(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    with open_dir_store(tdir) as store:
        run = store.create_run(project="p", name="r")
        _, secret = store.create_token("ops", "write")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [*traindeck_command(), "serve", "--host", "0.0.0.0", "--port", str(port), "--dir",
         str(tdir), "--log-level", "trace"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "server did not come up"
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"authorization": f"Bearer {secret}"}
            assert httpx.get(f"{base}/api/runs", timeout=5).status_code == 401
            assert httpx.get(f"{base}/api/runs", headers=headers,
                             timeout=5).json()["runs"][0]["id"] == run.id
            r = httpx.post(f"{base}/api/runs/{run.id}/commands", json={"name": "stop"},
                           headers=headers, timeout=5)
            assert r.status_code == 201
            with httpx.Client(base_url=base, timeout=5) as c:
                assert c.post("/api/session", json={"token": secret}).status_code == 200
                assert c.get("/api/runs").status_code == 200
            # A token in a query string lands in uvicorn's access log: it must come out
            # redacted (the route refuses it anyway: only /ws reads ?token=).
            assert httpx.get(f"{base}/api/runs?token={secret}", timeout=5).status_code == 401
            assert httpx.get(f"{base}/api/runs", timeout=5,
                             headers={"authorization": f"Bearer {secret}x"}).status_code == 401
            reply = asyncio.run(ping(f"ws://127.0.0.1:{port}/ws?token={secret}"))
            assert reply == {"type": "pong", "id": 7}
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    logged = out + err
    assert "GET /api/runs" in logged and "/ws" in logged  # the requests were logged...
    assert REDACTED in logged
    assert secret not in logged and secret[3:20] not in logged  # ...never the token
    assert "warning: bound to 0.0.0.0 without authentication" not in err
