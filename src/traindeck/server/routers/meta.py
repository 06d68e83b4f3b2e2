"""``/health``, ``/api/version`` and the live protocol's JSON Schema."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from traindeck._version import __version__

from .. import protocol
from ..deps import StoreDep, json_response
from ..schemas import Health, Version

#: Bumped when a REST or WebSocket message changes incompatibly.
API_VERSION: Final = 1

router = APIRouter(tags=["meta"])


@router.get("/health", response_model=Health, summary="Liveness")
def health() -> Response:
    return json_response({"status": "ok"})


@router.get("/api/version", response_model=Version, summary="Versions")
def version(store: StoreDep, request: Request) -> Response:
    leadership = getattr(request.app.state, "leadership", None)
    return json_response({"version": __version__, "schema_version": store.schema_version(),
                          "api": API_VERSION, "engine": store.engine_version(),
                          "leader": bool(leadership is not None and leadership.is_leader())})


@router.get("/api/ws/schema", response_model=dict[str, Any],
            summary="JSON Schema of the /ws messages (client and server)")
def ws_schema() -> Response:
    return json_response(protocol.json_schema())
