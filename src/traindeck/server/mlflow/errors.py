"""MLflow's error shape: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}`` with
the HTTP status MLflow's own server gives each code (``mlflow.exceptions``), so the
``mlflow`` client raises the exception it would raise against MLflow. Store errors map
onto it here; ``TEMPORARILY_UNAVAILABLE`` (503, with ``Retry-After``) is one the client
retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import Response

from traindeck.store import Conflict, InvalidInput, NotFound, StoreError, TooLarge, Unavailable
from traindeck.store.codec import dumps

#: MLflow's HTTP status of each error code this API answers with.
STATUS: Final[dict[str, int]] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "MALFORMED_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "REQUEST_LIMIT_EXCEEDED": 413,
    "TEMPORARILY_UNAVAILABLE": 503,
}
#: Seconds the client is told to wait before retrying a 503.
RETRY_AFTER_S: Final = 1


class MlflowError(Exception):
    """An error the route answers in MLflow's shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def mlflow_error_response(status: int, code: str, message: str,
                          headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps({"error_code": code, "message": message}), status_code=status,
                    media_type="application/json", headers=headers)


def from_store_error(exc: StoreError) -> MlflowError:
    """What a store error is in MLflow's terms."""
    if isinstance(exc, NotFound):
        return MlflowError("RESOURCE_DOES_NOT_EXIST", str(exc))
    if isinstance(exc, Unavailable):
        return MlflowError("TEMPORARILY_UNAVAILABLE", str(exc))
    if isinstance(exc, TooLarge):
        return MlflowError("REQUEST_LIMIT_EXCEEDED", str(exc))
    if isinstance(exc, Conflict):
        return MlflowError("INVALID_STATE", str(exc))
    if isinstance(exc, InvalidInput):
        return invalid(str(exc))
    return MlflowError("BAD_REQUEST", str(exc))


def respond(exc: MlflowError) -> Response:
    headers = {"retry-after": str(RETRY_AFTER_S)} if exc.status == 503 else None
    return mlflow_error_response(exc.status, exc.code, exc.message, headers)


#: The error answer's schema, for the OpenAPI document.
ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object", "title": "MlflowError", "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": ERROR_SCHEMA}}}


#: For ``responses=``: every MLflow route's error answers.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _error("INVALID_PARAMETER_VALUE (bad input), RESOURCE_ALREADY_EXISTS, "
                "INVALID_STATE, MALFORMED_REQUEST (not JSON)"),
    401: _error("UNAUTHENTICATED: auth is on and no valid token was sent"),
    403: _error("PERMISSION_DENIED: the token's scope is too small"),
    404: _error("RESOURCE_DOES_NOT_EXIST: unknown run or experiment"),
    413: {"description": "request body too large (traindeck's error shape)"},
    503: _error("TEMPORARILY_UNAVAILABLE: the store is busy; retry (see Retry-After)"),
}
