"""A real server in a thread: uvicorn on a free port over an app the test built.

``with served(create_app(settings, store=store)) as url:`` gives ``http://127.0.0.1:PORT``;
the server stops when the block ends. Real sockets, real HTTP parsing (a ``%00`` in a path
reaches the app as uvicorn decodes it), no mocks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

TIMEOUT = 20.0


def bound_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, held until uvicorn takes it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """``sock``: a socket already bound (by ``bound_socket``) when the app had to know its
    port before it was built; closed when the block ends."""
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, ws="websockets-sansio", log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
