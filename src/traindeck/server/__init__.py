"""traindeck's server: REST API, live WebSocket hub and dashboard over one store.

>>> from traindeck.server import Settings, create_app, serve
>>> app = create_app(Settings(dir="./traindeck"))     # an ASGI app; or:
>>> serve(Settings(dir="./traindeck", port=8000))     # doctest: +SKIP
"""

from __future__ import annotations

from .app import create_app, serve
from .feed import Follower, Listener
from .hub import Hub
from .reaper import Reaper
from .settings import Settings

__all__ = ["Follower", "Hub", "Listener", "Reaper", "Settings", "create_app", "serve"]
