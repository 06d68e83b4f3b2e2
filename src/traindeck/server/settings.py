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
    file, a ``sqlite:///`` URL or a ``postgresql://`` URL (then ``files_root`` is needed).
    """

    dir: str | Path = "traindeck"
    #: Loopback by default (DESIGN §10): binding elsewhere will require a token.
    host: str = "127.0.0.1"
    port: int = 8000
    #: How often the live hub asks the store what changed (seconds).
    follow_interval: float = 0.1
    #: How often runs whose heartbeat stopped are marked ``interrupted`` (seconds).
    reap_interval: float = 5.0
    #: After the server starts, no heartbeat is judged for this long (seconds), nor before
    #: the longest ``heartbeat_timeout`` of the live runs has passed: runs that trained on
    #: through a short outage of the server get the time to reach it again.
    reap_grace: float = 0.0
    #: Largest request body accepted (bytes); bigger ones get 413.
    max_body_bytes: int = 1 * MIB
    #: Largest SDK batch accepted by ``POST /api/runs/{id}/batch`` (bytes).
    max_batch_bytes: int = 64 * MIB
    #: Largest file one upload to MLflow's artifacts service may carry (bytes).
    max_artifact_bytes: int = 8 * 1024 * MIB
    #: Origins allowed by CORS and by the WebSocket Origin check, besides the server's own.
    #: Empty (closed) by default.
    cors_origins: tuple[str, ...] = ()
    #: Bytes queued for one WebSocket client before it is dropped as too slow.
    ws_max_queue_bytes: int = 32 * MIB
    #: Subscriptions one WebSocket connection may hold.
    ws_max_subscriptions: int = 64
    #: Most points read for one series in one follow tick (catch-up continues next tick).
    ws_max_points_per_read: int = 50_000
    #: Rules (``server/alerts``): how often time-based rules (stall, gpu_idle) are judged.
    rules_timer_interval: float = 1.0
    #: Webhooks: seconds one request may take in all; tries per alert (backoff between).
    webhook_timeout: float = 10.0
    webhook_attempts: int = 5
    #: The built dashboard; the package's ``web/`` folder unless given. When it has no
    #: ``index.html`` the server answers pages with a short note on how to build it.
    web_dir: str | Path = field(default=PACKAGE_WEB_DIR)
    #: Folders, besides the data folder, whose files the server may serve or delete when a
    #: checkpoint recorded there is downloaded or deleted (``traindeck serve --serve-root``).
    #: A recorded path anywhere else (also through a link) is refused.
    serve_roots: tuple[str | Path, ...] = ()
    #: The data folder (run files); ``None``: the store's folder.
    files_root: str | Path | None = None
    #: The templates folder (``traindeck serve --templates DIR``, see ``docs/launch.md``);
    #: ``None``: no templates, ``/api/configs`` answers 404.
    templates_dir: str | Path | None = None
    #: traindeck's known_hosts file (trusted SSH host keys); default: beside the store.
    known_hosts: str | Path | None = None
    #: The traindeck wheel installed on an SSH host that lacks traindeck; ``None``: built
    #: from this installation's source tree when it has one.
    ssh_wheel: str | Path | None = None
    #: Environment for the Slurm commands (``sbatch``, ``squeue``…), e.g. ``SLURM_CONF``
    #: and a ``PATH`` that finds them; the server's own environment otherwise.
    slurm_env: tuple[tuple[str, str], ...] = ()
    #: Launched processes running at once; more launches wait ``queued``, in order.
    max_concurrent_launches: int = 4
    #: How often the launcher looks at its processes (exits, output, cancel deadlines).
    launch_interval: float = 0.1
    #: How long a login (the dashboard's session cookie) lasts (seconds); logging out or
    #: revoking its token ends it sooner.
    session_max_age: float = 7 * 24 * 3600.0
    #: uvicorn's log level for ``serve``.
    log_level: str = "warning"
    #: Require a token (see ``server/auth.py``): ``True`` on, ``False`` off, ``None`` (the
    #: default) on as soon as the store holds a token (``traindeck token create``).
    auth: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        for name in ("follow_interval", "reap_interval", "session_max_age", "launch_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_body_bytes", "max_batch_bytes", "max_artifact_bytes",
                     "ws_max_queue_bytes",
                     "ws_max_subscriptions", "ws_max_points_per_read",
                     "max_concurrent_launches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.reap_grace < 0:
            raise ValueError("reap_grace must not be negative")
        # Accept any sequence and str paths (the CLI passes strings); store the real types.
        object.__setattr__(self, "serve_roots", tuple(Path(p) for p in self.serve_roots))
        if self.files_root is not None:
            object.__setattr__(self, "files_root", Path(self.files_root))
        if self.templates_dir is not None:
            object.__setattr__(self, "templates_dir", Path(self.templates_dir))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        object.__setattr__(self, "web_dir", Path(self.web_dir))
        if "*" in self.cors_origins:
            raise ValueError("cors_origins='*' is not allowed; name the origins")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
