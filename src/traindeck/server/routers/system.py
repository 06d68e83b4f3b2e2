"""``/api/system``: the server host now (psutil), and a run's ``sys/*`` series over time."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import psutil
from fastapi import APIRouter, Query
from starlette.responses import Response

from ..deps import FilesDep, StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import SystemHistory, SystemStatus

router = APIRouter(prefix="/api/system", tags=["system"], responses=ERROR_RESPONSES)

SYSTEM_PREFIX = "sys/"


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (the store folder may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(os.sep)


def snapshot(disk_path: Path) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    disk_at = _existing(disk_path)
    du = psutil.disk_usage(str(disk_at))
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "time": time.time(),
        "hostname": socket.gethostname(),
        "cpu_count": psutil.cpu_count() or 0,
        "cpu_percent": psutil.cpu_percent(interval=None),
        "per_cpu_percent": psutil.cpu_percent(interval=None, percpu=True),
        "load_avg": load,
        "mem_total": vm.total,
        "mem_used": vm.used,
        "mem_percent": vm.percent,
        "swap_percent": psutil.swap_memory().percent,
        "disk": {"path": str(disk_at), "total": du.total, "used": du.used, "free": du.free,
                 "percent": du.percent},
        "boot_time": psutil.boot_time(),
    }


@router.get("/status", response_model=SystemStatus, summary="The server host, now")
def status(files: FilesDep) -> Response:
    # CPU percentages are since the previous call (the first call reads 0.0). The disk is
    # the one that holds the run folders (the data folder).
    return json_response(snapshot(files.root))


@router.get("/history", response_model=SystemHistory,
            summary="The run's sys/* series (CPU, memory, GPU…), bucketed")
def history(
    store: StoreDep,
    run_id: Annotated[str, Query(min_length=1)],
    n: Annotated[int, Query(ge=1, le=10_000)] = 500,
    x: Literal["step", "time"] = "time",
) -> Response:
    series = {}
    for info in store.metric_keys(run_id):
        if info.key.startswith(SYSTEM_PREFIX) and info.count:
            series[info.key] = store.read_buckets(run_id, info.key, n=n, x=x).columns()
    return json_response({"run_id": run_id, "x": x, "series": series})
