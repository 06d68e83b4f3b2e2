"""The ``/ws`` endpoint: one connection = one hub client. The protocol is in ``hub.py``.

Each connection runs two loops: a reader that parses client messages (a bad one gets an
``error`` message, the connection stays) and a writer that drains the client's queue.
Browsers are held to the Origin check (their page must come from this server or from an
origin named in ``cors_origins``), so another website cannot read runs through a visitor's
browser.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from traindeck.store import StoreError

from . import auth
from .hub import Client, Hub
from .protocol import CLIENT_MESSAGE, Ping, Subscribe, Unsubscribe
from .settings import Settings

#: Largest client message accepted (they are small JSON objects).
MAX_CLIENT_MESSAGE: Final = 64 * 1024
#: A send that has not gone out after this many seconds (the client stopped reading and
#: the socket's buffers are full) drops the client.
SEND_TIMEOUT: Final = 30.0
#: Close codes (RFC 6455): policy violation; try again later.
CLOSE_POLICY: Final = 1008
CLOSE_TRY_LATER: Final = 1013

router = APIRouter()


def origin_allowed(origin: str | None, host: str | None, settings: Settings) -> bool:
    """No Origin (not a browser), the server's own origin, or one listed in settings."""
    if origin is None:
        return True
    if origin in settings.cors_origins:
        return True
    parts = urlsplit(origin)
    return host is not None and parts.scheme in ("http", "https") and parts.netloc == host


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    hub: Hub = websocket.app.state.hub
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                          settings):
        await websocket.close(code=CLOSE_POLICY)
        return
    denied = await auth.websocket_denied(websocket)
    if denied is not None:  # accepted, then closed: a browser sees the code (4401/4403)
        await websocket.accept()
        await websocket.close(code=denied[0], reason=denied[1])
        return
    await websocket.accept()
    client = hub.connect(max_queue_bytes=settings.ws_max_queue_bytes,
                         max_subscriptions=settings.ws_max_subscriptions)
    writer = asyncio.create_task(_write(websocket, client))
    watcher = auth.watch_websocket(websocket, client)  # closes it if its token is revoked
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            await _handle(hub, client, data)
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: the writer closed it
        pass
    finally:
        hub.disconnect(client)
        if watcher is not None:
            watcher.cancel()
        with contextlib.suppress(Exception):
            await writer


async def _write(websocket: WebSocket, client: Client) -> None:
    try:
        while True:
            data = await client.next()
            if data is None:
                break
            try:
                await asyncio.wait_for(websocket.send_text(data.decode()), SEND_TIMEOUT)
            except TimeoutError:
                client.drop("too_slow")
                await websocket.close(code=CLOSE_TRY_LATER)
                return
        if client.dropped == "too_slow":
            await websocket.send_text(orjson.dumps({
                "type": "error", "code": "too_slow",
                "message": "messages were not read fast enough; reconnect with a cursor",
            }).decode())
            await websocket.close(code=CLOSE_TRY_LATER)
        elif client.dropped == "shutting_down":
            await websocket.close(code=1001)
        elif client.dropped == auth.DROP_REVOKED:
            await websocket.close(code=auth.WS_UNAUTHORIZED, reason="token revoked")
    except (WebSocketDisconnect, RuntimeError, OSError):
        client.drop("closed")
    finally:
        if client.dropped != "closed" and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


def _error(client: Client, code: str, message: str) -> None:
    client.send_obj({"type": "error", "code": code, "message": message})


async def _handle(hub: Hub, client: Client, data: str | bytes) -> None:
    if len(data) > MAX_CLIENT_MESSAGE:
        _error(client, "too_large", f"messages are at most {MAX_CLIENT_MESSAGE} bytes")
        return
    try:
        msg = CLIENT_MESSAGE.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        _error(client, "invalid_input", f"{where}: {first.get('msg')}" if where
               else str(first.get("msg")))
        return
    if isinstance(msg, Ping):
        client.send_obj({"type": "pong", "id": msg.id})
    elif isinstance(msg, Subscribe):
        already = (msg.run_id in client.runs) if msg.run_id else (msg.project in client.projects)
        if not already and client.subscription_count >= client.max_subscriptions:
            _error(client, "too_many_subscriptions",
                   f"at most {client.max_subscriptions} subscriptions per connection")
            return
        since = msg.since
        try:
            await hub.subscribe(
                client, run_id=msg.run_id, project=msg.project,
                event_seq=None if since is None else since.event_seq,
                steps=None if since is None else since.steps,
                log_seq=None if since is None else since.log_seq,
            )
        except StoreError as exc:  # NotFound for an unknown run, mostly
            _error(client, exc.code, str(exc))
    elif isinstance(msg, Unsubscribe):
        hub.unsubscribe(client, run_id=msg.run_id, project=msg.project)
        target = {"run_id": msg.run_id} if msg.run_id else {"project": msg.project}
        client.send_obj({"type": "unsubscribed", **target})
