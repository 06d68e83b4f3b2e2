"""The SDK's batch requests, answered before the web framework's stack.

``POST /api/runs/{run_id}/batch`` and ``POST /api/batches`` (several runs' at once) are
most of what a busy server is asked: every training process sends one a tick. Through
FastAPI each cost about 1 ms of CPU in routing, dependency solving, the middleware layers
and the response classes, more than the store's write. :class:`BatchLane` is plain ASGI
middleware, outermost of the app's own, that takes these requests itself with the same
checks and the same answers:

- the body limit (``max_batch_bytes``, as ``limits.BodySizeLimit``: a declared
  ``Content-Length`` over it is left to that middleware, which refuses it, and a body is
  never read past the length it declared);
- authentication (``auth.authorize``, the function ``AuthMiddleware`` calls);
- the routes' own code (``routers.batch.apply_body``, ``apply_runs``) and the store's errors as
  ``errors.py`` maps them (a bug still reaches the app's 500 handler).

What it does not expect goes through the whole stack unchanged: another method or path, a
request with an ``Origin`` (a browser's: CORS answers those), or one without a
``Content-Length`` or with a ``Transfer-Encoding`` (a chunked body, counted there as it
arrives). The FastAPI route stays, for those and for the OpenAPI schema.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from traindeck.store import StoreError
from traindeck.store.codec import dumps

from .auth import authorize
from .errors import RETRY_AFTER_S, error_body, store_error_status
from .routers.batch import apply_body, apply_runs

#: The requests taken here (the path is percent-decoded, as the router matches it).
_BATCH: Final = re.compile(r"/api/runs/([^/]+)/batch")
_RUNS: Final = "/api/batches"
_JSON: Final = (b"content-type", b"application/json")


class BatchLane:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        match = None if path == _RUNS else _BATCH.fullmatch(path)
        if match is None and path != _RUNS:
            await self.app(scope, receive, send)
            return
        length = -1
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name in (b"origin", b"transfer-encoding"):
                # a browser's (CORS), or a body framed otherwise than by its length (a
                # chunked one: its Content-Length, if any, says nothing): the whole stack
                length = -1
                break
        if not 0 <= length <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        refusal = await authorize(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        parts: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            received += len(parts[-1])
            if received > length:  # more than it said (the server frames by the length)
                too_long = error_body(
                    "too_large", f"request body over its Content-Length ({length} bytes)")
                await self._answer(send, 413, too_long, close=True)
                return
            if not message.get("more_body", False):
                break
        headers = [_JSON]
        try:
            data = b"".join(parts)
            state = scope["app"].state
            if match is None:
                token = scope.get("state", {}).get("token")
                answer = await apply_runs(state, data,
                                          bound=token.run_id if token else None)
            else:
                answer = await apply_body(state, match.group(1), data)
            status, body = 200, dumps(answer)
        except StoreError as exc:
            status, body = store_error_status(exc), error_body(exc.code, str(exc))
            if status == 503:
                headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
        await self._answer(send, status, body, headers)

    @staticmethod
    async def _answer(send: Send, status: int, body: bytes,
                      headers: list[tuple[bytes, bytes]] | None = None, *,
                      close: bool = False) -> None:
        headers = list(headers or [_JSON])
        headers.append((b"content-length", str(len(body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
