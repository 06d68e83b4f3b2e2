"""Request body size limit, as plain ASGI middleware (so chunked bodies are counted too).

A declared ``Content-Length`` over the limit is refused before the app runs. Otherwise the
bytes are counted as the app reads them; past the limit the read raises, whatever the app
does with that is discarded, and the client gets 413.

Before answering, the rest of the body is read and thrown away (up to ``DRAIN_MAX``):
a server that closes a socket with unread bytes in it makes the kernel reset the
connection, and most clients, still uploading, then see a reset instead of the 413.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

#: Most bytes of a refused body read and discarded so that the client gets the 413.
DRAIN_MAX: Final = 64 * 1024 * 1024


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: tuple[tuple[str, int], ...] = (),
                 own_limit: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: (path suffix, limit): routes that take larger bodies (the SDK's batches).
        self.larger = larger
        #: Path prefixes whose routes count their bodies themselves (MLflow's artifact
        #: uploads, which answer 413 in MLflow's error shape).
        self.own_limit = own_limit

    @staticmethod
    async def _drain(receive: Receive) -> None:
        drained = 0
        while drained <= DRAIN_MAX:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, send: Send, limit: int) -> None:
        body = error_body("too_large", f"request body over {limit} bytes")
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.own_limit):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        path = scope.get("path", "")
        for suffix, larger in self.larger:
            if path.endswith(suffix):
                limit = larger
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await self._drain(receive)
                    await self._reject(send, limit)
                    return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    if message.get("more_body", False):
                        await self._drain(receive)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to the failed read; ours replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._reject(send, limit)
