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
    run_table,
    runs,
    system,
)

# run_table before runs: /api/runs/columns is not a run id.
ALL = (meta.router, run_table.router, runs.router, metrics.router, events.router,
       commands.router, system.router, logs.router, media.router, artifacts.router, configs.router,
       export.router, alerts.router)

__all__ = ["ALL"]
