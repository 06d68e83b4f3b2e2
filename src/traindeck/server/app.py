"""The app factory: ``create_app(settings)`` builds one independent server.

The store, the change feed's follower and its listeners (the WebSocket hub, the reaper)
are made in the lifespan and live on ``app.state``; nothing is module-level, so a test can
build as many apps as it likes. Pass ``store=`` to share an already open store (the caller
then closes it) and ``clock=`` to move time in tests (the reaper's grace period).
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from traindeck._version import __version__
from traindeck.launch.launcher import Launcher
from traindeck.launch.templates import Templates, resolve
from traindeck.runfiles import RunFiles
from traindeck.store import Store, open_store, redact

from . import auth, errors, static, ws
from .alerts.delivery import AlertDelivery
from .alerts.evaluator import Evaluator
from .alerts.leader import StoreLeadership
from .alerts.webhooks import WebhookSender
from .batch_group import GroupWriter
from .batch_lane import BatchLane
from .command_bell import CommandBell
from .executors import build_executors
from .feed import Follower
from .files import ServedFiles
from .hub import Hub
from .limits import BodySizeLimit
from .mlflow import artifacts as mlflow_artifacts
from .mlflow import models as mlflow_models
from .mlflow import routes as mlflow_routes
from .progress import ProgressTracker
from .reaper import Reaper
from .routers import ALL as ROUTERS
from .routers import batch as batch_routes
from .routers import checkpoints as checkpoint_routes
from .routers import hosts as host_routes
from .routers import launches as launch_routes
from .routers.artifacts import MAX_ARTIFACT_BYTES
from .settings import Settings

#: Estimate hooks (child processes) a server runs at once; more validations wait, then
#: answer "busy".
ESTIMATES_AT_ONCE: Final = 2


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        app.state.store = the_store = (open_store(settings.dir, files_root=settings.files_root)
                                       if store is None else store)
        # Run folders live under the files root; recorded files are served or deleted only
        # there and in the folders named at serve, never the store's own files (files.py).
        app.state.files = RunFiles(settings.files_root or the_store.files_root)
        app.state.served_files = ServedFiles(app.state.files, settings.serve_roots,
                                             protected=the_store.is_engine_file,
                                             store_folder=the_store.files_root)
        # Trusted SSH host keys (traindeck hosts trust), beside the store's database.
        app.state.known_hosts = Path(settings.known_hosts or
                                     Path(the_store.files_root) / "known_hosts")
        app.state.templates = (None if settings.templates_dir is None
                               else Templates(Path(settings.templates_dir)))
        # Estimate hooks are child processes: only this many run at once (more: "busy").
        app.state.estimate_slots = threading.BoundedSemaphore(ESTIMATES_AT_ONCE)
        follower = Follower(the_store, interval=settings.follow_interval)
        await follower.start(background=False)
        app.state.follower = follower
        # The SDK's batches, written on a thread of their own; those waiting together
        # share a commit.
        app.state.batch_writer = GroupWriter(the_store, app.state.files)
        app.state.hub = hub = Hub(the_store, start_event_seq=follower.event_seq,
                                  max_points_per_read=settings.ws_max_points_per_read)
        # One server of those sharing the store reaps, evaluates rules and sends webhooks.
        app.state.leadership = leadership = StoreLeadership(the_store)
        await asyncio.to_thread(leadership.ask_now)
        app.state.reaper = Reaper(the_store, interval=settings.reap_interval,
                                  min_grace=settings.reap_grace, clock=clock,
                                  leadership=leadership)
        follower.add_listener(hub)
        follower.add_listener(app.state.reaper)
        # Held command long-polls wake when the feed shows a command for their run.
        app.state.command_bell = CommandBell()
        follower.add_listener(app.state.command_bell)
        # Rules → ``alert`` events; every alert event → WebSocket clients and webhooks.
        app.state.rules = rules = Evaluator(the_store, clock=clock, leadership=leadership,
                                            timer_interval=settings.rules_timer_interval)
        await rules.start()
        app.state.webhooks = webhooks = WebhookSender(
            the_store, timeout=settings.webhook_timeout, attempts=settings.webhook_attempts)
        follower.add_listener(rules)
        follower.add_listener(AlertDelivery(the_store, hub, webhooks, evaluator=rules,
                                            leadership=leadership))
        # Progress, speed and ETA of every run, from the points the feed names.
        app.state.progress = ProgressTracker(the_store, leadership=leadership)
        follower.add_listener(app.state.progress)
        follower.run()
        app.state.launcher = launcher = Launcher(
            the_store, app.state.files, url=settings.url, templates=app.state.templates,
            resolve=resolve,
            executors=build_executors(settings, the_store, app.state.files,
                                      app.state.known_hosts),
            concurrency=settings.max_concurrent_launches,
            auth_enabled=lambda: settings.auth if settings.auth is not None
            else the_store.has_tokens(include_revoked=True),
            tick=settings.launch_interval, clock=clock)
        launcher.start()
        try:
            yield
        finally:
            launcher.stop()
            await follower.stop()
            await anyio.to_thread.run_sync(app.state.batch_writer.close)
            await webhooks.close()
            hub.close()
            if own_store:
                the_store.close()

    app = FastAPI(
        title="traindeck",
        version=__version__,
        description="Track, watch, steer and launch ML training. Live updates: `/ws` "
                    "(schema at `/api/ws/schema`).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.auth = auth.AuthState(settings)
    errors.install(app)
    # The SDK's routes first: they take most requests, and routes match in this order.
    app.include_router(batch_routes.router)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(checkpoint_routes.router)
    app.include_router(launch_routes.router)
    app.include_router(host_routes.router)
    app.include_router(mlflow_models.router)  # before the MLflow catch-all
    app.include_router(mlflow_routes.router)
    app.include_router(mlflow_artifacts.router)
    app.include_router(ws.router)
    app.include_router(auth.router)
    app.include_router(auth.tokens_router)
    static.install(app, Path(settings.web_dir))  # where no route matches
    app.add_middleware(auth.AuthMiddleware)  # inside CORS: preflights need no token
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["content-type", "authorization"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       larger=(("/batch", settings.max_batch_bytes),
                               ("/api/batches", settings.max_batch_bytes),
                               ("/media", settings.max_batch_bytes),
                               ("/artifacts", MAX_ARTIFACT_BYTES)),
                       own_limit=(mlflow_artifacts.PREFIX + "/artifacts/",))
    # outermost of ours: the SDK's batches skip the framework's stack (same checks)
    app.add_middleware(BatchLane, max_bytes=settings.max_batch_bytes)
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings) -> None:
    """Run the server in the foreground until interrupted (what ``traindeck serve`` does)."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level,
        ws="websockets-sansio", lifespan="on",
        # h11 for its bound on a request's head (below); uvloop when installed (a
        # dependency off Windows): a third less CPU per request than asyncio's loop
        http="h11", loop="auto",
        # a request line and headers may arrive in several reads; h11 gives up (and resets
        # the connection) past 16 KiB by default, shorter than a long but valid query
        # (a run table's columns, percent-encoded): allow what a body may be
        h11_max_incomplete_event_size=settings.max_body_bytes,
    )
    auth.install_log_redaction()  # after uvicorn.Config: it (re)configures the loggers
    print(f"traindeck serving {redact(str(settings.dir))} at {settings.url}", flush=True)
    if not is_loopback(settings.host) and not settings.auth:
        print(f"warning: bound to {settings.host} without authentication until a token "
              "exists: anyone who can reach this port can read and steer runs",
              file=sys.stderr, flush=True)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C
        pass
