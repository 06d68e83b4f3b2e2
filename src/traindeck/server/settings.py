"""The server's settings: one typed object, built at the edge (CLI, tests) and passed in.

Nothing in ``traindeck.server`` reads the environment; ``traindeck serve`` turns its flags
and environment variables into a :class:`Settings` and hands it to ``create_app``/``serve``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: Where the built dashboard lives inside the package (git-ignored; the wheel carries it).
PACKAGE_WEB_DIR: Final = Path(__file__).resolve().parent.parent / "web"

MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """How one server instance runs.

    ``dir`` is what ``open_store`` accepts: a folder (``traindeck.db`` inside it), a ``.db``
    file or a ``sqlite:///`` URL.
    """

    dir: str | Path = "traindeck"
    #: Loopback by default (DESIGN §10): binding elsewhere will require a token.
    host: str = "127.0.0.1"
    port: int = 8000
    #: How often the live hub asks the store what changed (seconds).
    follow_interval: float = 0.1
    #: How often runs whose heartbeat stopped are marked ``interrupted`` (seconds).
    reap_interval: float = 5.0
    #: Largest request body accepted (bytes); bigger ones get 413.
    max_body_bytes: int = 1 * MIB
    #: Largest SDK batch accepted by ``POST /api/runs/{id}/batch`` (bytes).
    max_batch_bytes: int = 64 * MIB
    #: Origins allowed by CORS and by the WebSocket Origin check, besides the server's own.
    #: Empty (closed) by default.
    cors_origins: tuple[str, ...] = ()
    #: Bytes queued for one WebSocket client before it is dropped as too slow.
    ws_max_queue_bytes: int = 32 * MIB
    #: Subscriptions one WebSocket connection may hold.
    ws_max_subscriptions: int = 64
    #: Most points read for one series in one follow tick (catch-up continues next tick).
    ws_max_points_per_read: int = 50_000
    #: The built dashboard; the package's ``web/`` folder unless given. When it has no
    #: ``index.html`` a small built-in page is served at ``/`` instead.
    web_dir: str | Path = field(default=PACKAGE_WEB_DIR)
    #: uvicorn's log level for ``serve``.
    log_level: str = "warning"
    #: Require a token (see ``server/auth.py``): ``True`` on, ``False`` off, ``None`` (the
    #: default) on as soon as the store holds a token (``traindeck token create``).
    auth: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        for name in ("follow_interval", "reap_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_body_bytes", "max_batch_bytes", "ws_max_queue_bytes",
                     "ws_max_subscriptions", "ws_max_points_per_read"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        # Accept any sequence and str paths (the CLI passes strings); store the real types.
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        object.__setattr__(self, "web_dir", Path(self.web_dir))
        if "*" in self.cors_origins:
            raise ValueError("cors_origins='*' is not allowed; name the origins")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
