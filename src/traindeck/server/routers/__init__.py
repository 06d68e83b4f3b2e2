"""One router per resource, all mounted by ``create_app``."""

from __future__ import annotations

from . import (
    alerts,
    artifacts,
    commands,
    configs,
    events,
    export,
    logs,
    media,
    meta,
    metrics,
    runs,
    system,
)

ALL = (meta.router, runs.router, metrics.router, events.router, commands.router, system.router,
       logs.router, media.router, artifacts.router, configs.router,
       export.router, alerts.router)

__all__ = ["ALL"]
