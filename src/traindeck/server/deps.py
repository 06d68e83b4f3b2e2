"""What routes take from the app: the store and the hub (made by the lifespan), where run
files live, and the helper that writes JSON exactly (NaN/±Inf spelled, see
``traindeck.store.codec``)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, Request
from starlette.responses import Response

from traindeck.runfiles import RunFiles
from traindeck.store import Store
from traindeck.store.codec import dumps

from .hub import Hub
from .settings import Settings

#: Bounds for integers that reach SQLite (bigger ones would overflow its INTEGER).
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_files(request: Request) -> RunFiles:
    """Where run folders are (made by the lifespan: ``Settings.files_root``, else the
    store's folder)."""
    files: RunFiles = request.app.state.files
    return files


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
FilesDep = Annotated[RunFiles, Depends(get_files)]
HubDep = Annotated[Hub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def json_response(obj: Any, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type="application/json")
