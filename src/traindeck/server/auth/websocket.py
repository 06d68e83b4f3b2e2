"""The WebSocket's authentication: checked at the handshake, and again while it is open.

The credential comes from the session cookie, ``?token=`` or the ``Authorization``
header. A refused socket is accepted and closed with 4401 (no or bad credential) or 4403
(scope too small), so a browser can tell why. An open socket whose credential ends (its
token revoked, its session logged out or expired) is closed with 4401 within
``AuthState.recheck_interval``.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.websockets import WebSocket

from traindeck.store import Store

from ..clients import Client
from .policy import Credential, auth_state, presented

#: WebSocket close codes: no or bad credential; scope too small.
WS_UNAUTHORIZED: Final = 4401
WS_FORBIDDEN: Final = 4403
#: What :func:`watch_websocket` drops a client with (``ws.py`` closes it with 4401).
DROP_REVOKED: Final = "token_revoked"
#: Where the handshake leaves the accepted credential for :func:`watch_websocket`.
_STATE_KEY: Final = "auth_credential"


async def websocket_denied(websocket: WebSocket) -> tuple[int, str] | None:
    """``None`` when the WebSocket may proceed, else the close code and reason."""
    state = auth_state(websocket.app)
    store: Store = websocket.app.state.store
    if not await state.enabled(store):
        return None
    credential = presented(websocket, allow_query=True)
    token = await state.verify(store, credential)
    if token is None:
        return WS_UNAUTHORIZED, "authentication required"
    if not token.allows("read"):
        return WS_FORBIDDEN, "scope too small"
    websocket.scope.setdefault("state", {})[_STATE_KEY] = credential
    return None


def watch_websocket(websocket: WebSocket, client: Client) -> asyncio.Task[None] | None:
    """While the connection lasts, check its credential again now and then; once it no
    longer holds, drop the client with :data:`DROP_REVOKED`. ``None`` when auth was off
    at connect."""
    credential: Credential | None = websocket.scope.get("state", {}).get(_STATE_KEY)
    if credential is None:
        return None
    state = auth_state(websocket.app)
    store: Store = websocket.app.state.store

    async def watch() -> None:
        while client.dropped is None:
            await asyncio.sleep(state.recheck_interval)
            if await state.verify(store, credential) is None:
                client.drop(DROP_REVOKED)

    return asyncio.create_task(watch())
