"""Every error leaves as JSON ``{"error": {"code", "message"}}`` with the right status.

Store errors map to statuses here (``NotFound`` 404, ``Conflict`` 409, ``TooLarge`` 413,
``InvalidInput`` 422, ``Unavailable`` 503 with ``Retry-After``: the engine is busy or away,
nothing was written, and the same request may succeed later); FastAPI's validation errors,
and its 400 for a body it cannot parse, become 422 ``invalid_input``; Starlette's other HTTP
errors keep their status. Only a bug gives 500 (``internal``), and its message says nothing
more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from traindeck.store import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreError,
    TooLarge,
    Unavailable,
)
from traindeck.store.codec import dumps

from .schemas import ErrorBody

log = logging.getLogger("traindeck.server")

#: Most specific first: the first class an error is an instance of gives its status.
STORE_STATUS: Final[dict[type[StoreError], int]] = {
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    InvalidInput: 422,
    Unavailable: 503,
}
#: Seconds a client is told to wait before retrying after a 503.
RETRY_AFTER_S: Final = 1
HTTP_CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}

#: For ``responses=`` on routes: the error shapes in the OpenAPI schema.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorBody, "description": "unknown id"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "invalid input"},
}
UNAVAILABLE_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": ErrorBody,
          "description": "the store is busy or away: nothing was written, retry later "
                         "(see Retry-After)"},
}
CONFLICT_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    409: {"model": ErrorBody, "description": "conflicts with the current state"},
}


def error_body(code: str, message: str) -> bytes:
    return dumps({"error": {"code": code, "message": message}})


def error_response(status: int, code: str, message: str,
                   headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(code, message), status_code=status,
                    media_type="application/json", headers=headers)


def store_error_status(exc: StoreError) -> int:
    for cls, status in STORE_STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _on_store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    status = store_error_status(exc)
    headers = {"retry-after": str(RETRY_AFTER_S)} if status == 503 else None
    return error_response(status, exc.code, str(exc), headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_input", _validation_message(exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI: a body it could not parse (not UTF-8, say)
        return error_response(422, "invalid_input", str(exc.detail))
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(StoreError, _on_store_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
