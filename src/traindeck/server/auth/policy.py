"""Who needs what: the scope each request needs, the credential it presents, and the
middleware that checks every HTTP request before routing (default deny: a route added
later is covered without doing anything).

A request presents a token (``Authorization: Bearer td_…``; for the WebSocket also
``?token=``) or a login session (the ``traindeck_session`` cookie). No credential: 401
with ``WWW-Authenticate: Bearer`` (a page asked for by a browser is sent to ``/login``
instead); too small a scope: 403; both as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from traindeck.store import Store
from traindeck.store.sessions import looks_like_session
from traindeck.store.tokens import Token, looks_like_token

from ..errors import error_response
from ..mlflow.errors import mlflow_error_response
from ..settings import Settings

#: The dashboard's session cookie (HttpOnly, SameSite=Strict; Secure over https).
COOKIE_NAME: Final = "traindeck_session"
#: How often an open WebSocket's credential is checked again (seconds): revoking its
#: token, logging out or the session expiring closes the connection within this time.
WS_RECHECK_INTERVAL: Final = 5.0

#: Requests that never need a credential: (method, exact path or a prefix ending ``/``).
PUBLIC: Final = (
    ("GET", "/health"), ("HEAD", "/health"),
    ("GET", "/login"), ("HEAD", "/login"),
    ("POST", "/api/session"), ("DELETE", "/api/session"),
)
#: Paths needing the ``admin`` scope (tokens; SSH hosts, whose keys and folders decide
#: where code runs; webhooks, which decide where alerts, and their URLs' secrets, go).
ADMIN_PREFIXES: Final = ("/api/tokens", "/api/hosts", "/api/webhooks")
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: MLflow's REST API (``server/mlflow``): its errors are MLflow-shaped, and its searches
#: are POSTs that only read.
MLFLOW_PREFIX: Final = "/api/2.0/mlflow/"
#: MLflow's artifacts service (``server/mlflow/artifacts.py``): MLflow-shaped errors too.
MLFLOW_ARTIFACTS_PREFIX: Final = "/api/2.0/mlflow-artifacts/"
MLFLOW_READS: Final = frozenset({MLFLOW_PREFIX + "runs/search",
                                 MLFLOW_PREFIX + "experiments/search",
                                 MLFLOW_PREFIX + "logged-models/search"})

_UNAUTHORIZED_MESSAGE: Final = (
    "authentication required: send 'Authorization: Bearer td_…' (traindeck token create) "
    "or log in at /login"
)


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or ``None`` for the public ones."""
    for public_method, public_path in PUBLIC:
        if method == public_method and (
            path == public_path or (public_path.endswith("/") and path.startswith(public_path))
        ):
            return None
    if any(path == p or path.startswith(p + "/") for p in ADMIN_PREFIXES):
        return "admin"
    if method == "POST" and path in MLFLOW_READS:
        return "read"
    return "read" if method in READ_METHODS else "write"


def _within_run(path: str, run_id: str) -> bool:
    """Whether a request path is about run ``run_id`` (``/api/runs/{run_id}[/…]``), or is
    ``POST /api/batches``, whose route refuses every run of its body but the token's."""
    base = f"/api/runs/{run_id}"
    return path == base or path.startswith(base + "/") or path == "/api/batches"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request presented: a token's secret, or a login session's (the cookie)."""

    kind: Literal["token", "session"]
    secret: str


def presented(conn: HTTPConnection, *, allow_query: bool = False) -> Credential | None:
    """The credential sent with a request: ``Authorization: Bearer``, else the session
    cookie (else, for the WebSocket only, ``?token=``)."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return Credential("token", value.strip())
    cookie = conn.cookies.get(COOKIE_NAME)
    if cookie:
        return Credential("session", cookie)
    if allow_query and (query := conn.query_params.get("token")):
        return Credential("token", query)
    return None


class AuthState:
    """Per app: whether auth is on, and checking credentials (in a worker thread: it may
    write)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._seen_tokens = False
        self.recheck_interval = WS_RECHECK_INTERVAL

    async def enabled(self, store: Store) -> bool:
        if self.settings.auth is not None:
            return self.settings.auth
        if not self._seen_tokens:  # once a token has existed, auth stays on
            # On the loop: one indexed read of a tiny table costs less than a thread hop.
            self._seen_tokens = store.has_tokens(include_revoked=True)
        return self._seen_tokens

    async def verify_token(self, store: Store, secret: str | None) -> Token | None:
        if not secret or not looks_like_token(secret):
            return None
        return await anyio.to_thread.run_sync(store.verify_token, secret)

    async def verify(self, store: Store, credential: Credential | None) -> Token | None:
        """The token behind a credential: the token itself, or the one a live session
        was made from. ``None`` for anything else (a token in the cookie included)."""
        if credential is None:
            return None
        if credential.kind == "token":
            return await self.verify_token(store, credential.secret)
        if not looks_like_session(credential.secret):
            return None
        return await anyio.to_thread.run_sync(store.verify_session, credential.secret)


def _refuse(path: str, status: int, code: str, message: str,
            headers: dict[str, str] | None = None) -> Response:
    """A 401 or 403, in MLflow's error shape on MLflow's routes (its client reads it)."""
    if path.startswith((MLFLOW_PREFIX, MLFLOW_ARTIFACTS_PREFIX)):
        return mlflow_error_response(
            status, "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED", message,
            headers)
    return error_response(status, code, message, headers=headers)


def auth_state(app: Any) -> AuthState:
    state: AuthState = app.state.auth
    return state


def same_site(conn: HTTPConnection, settings: Settings) -> bool:
    """No ``Origin`` (not a browser, or a same-origin GET), this server's own origin, or one
    listed in ``cors_origins``."""
    origin = conn.headers.get("origin")
    if origin is None or origin in settings.cors_origins:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == conn.headers.get("host")


def _wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """A same-site path to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


async def authorize(scope: Scope) -> Response | None:
    """Check one HTTP request (default deny): ``None`` when it may go on (its token, if
    any, is left in ``scope["state"]["token"]``), else the answer that refuses it (401,
    a redirect to the login page, or 403)."""
    state = auth_state(scope["app"])
    store: Store = scope["app"].state.store
    conn = HTTPConnection(scope)
    method, path = scope["method"], scope["path"]
    needed = required_scope(method, path)
    token: Token | None = None
    enabled = await state.enabled(store)
    credential = presented(conn)
    if enabled or needed is None:
        token = await state.verify(store, credential)
    scope.setdefault("state", {})["token"] = token
    if not enabled or needed is None:
        return None
    if token is None:
        if method in ("GET", "HEAD") and not path.startswith("/api/") \
                and _wants_html(conn.headers):
            target = path + (f"?{scope['query_string'].decode()}"
                             if scope.get("query_string") else "")
            login = "/login" if target == "/" else "/login?next=" + quote(target, safe="")
            return RedirectResponse(login, status_code=303)
        bad = credential is not None
        challenge = 'Bearer realm="traindeck"' + (', error="invalid_token"' if bad else "")
        message = ("invalid or revoked token, or the session is over (log in again)"
                   if bad else _UNAUTHORIZED_MESSAGE)
        return _refuse(path, 401, "unauthorized", message,
                       headers={"www-authenticate": challenge})
    if not token.allows(needed):
        return _refuse(
            path, 403, "forbidden",
            f"this token's scope is {token.scope!r}; {method} {path} needs {needed!r}")
    if token.run_id is not None and method not in READ_METHODS \
            and not _within_run(path, token.run_id):
        return _refuse(
            path, 403, "forbidden",
            f"this token is bound to run {token.run_id!r} (a launched process's token); "
            f"{method} {path} is outside it")
    return None


class AuthMiddleware:
    """Plain ASGI: every HTTP request is checked before routing (default deny)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the WebSocket checks for itself
            return
        refusal = await authorize(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
