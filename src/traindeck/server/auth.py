"""Authentication: bearer tokens, the dashboard's session cookie, scopes (DESIGN §10).

Tokens are made by ``traindeck token create`` (the store keeps only their sha256, see
``traindeck.store.token_rows``). When auth is on (``Settings.auth``; ``None`` means on as
soon as the store has ever held a token), every request needs a token, sent as
``Authorization: Bearer td_…`` or as the ``traindeck_session`` cookie that
``POST /api/session`` sets, except the public few in :func:`required_scope`. Default deny:
:class:`AuthMiddleware` runs before routing, so a route added later is covered without
doing anything. Scopes: ``read`` for GET/HEAD, ``write`` for other methods, ``admin`` for
anything under ``/api/tokens``. No token: 401 with ``WWW-Authenticate: Bearer``; too small a
scope: 403; both as ``{"error": {"code", "message"}}``.

The WebSocket is checked by :func:`websocket_denied` (token from the cookie, ``?token=`` or
the ``Authorization`` header): a refused one is accepted and closed with 4401 (no or bad
token) or 4403, so a browser can tell why. Secrets never reach logs: nothing here logs a
header, and :func:`install_log_redaction` blanks anything shaped like a token in uvicorn's
access and error logs (a ``?token=`` query string would otherwise be printed).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any, Final, Literal
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from traindeck.store import Store
from traindeck.store.token_rows import MAX_TOKEN_NAME, TOKEN_PREFIX, Token, looks_like_token

from .deps import StoreDep
from .errors import ERROR_RESPONSES, error_response
from .hub import Client
from .schemas import ErrorBody
from .settings import Settings

#: The dashboard's session cookie (HttpOnly, SameSite=Strict; Secure over https).
COOKIE_NAME: Final = "traindeck_session"
#: How long the session cookie lives (seconds); revoking the token ends it sooner.
COOKIE_MAX_AGE: Final = 7 * 24 * 3600
#: WebSocket close codes: no or bad token; scope too small.
WS_UNAUTHORIZED: Final = 4401
WS_FORBIDDEN: Final = 4403
#: How often an open WebSocket's token is checked again (seconds): revoking it closes the
#: connection with 4401 within this time.
WS_RECHECK_INTERVAL: Final = 5.0
#: What :func:`watch_websocket` drops a client with (``ws.py`` closes it with 4401).
DROP_REVOKED: Final = "token_revoked"
#: Anything shaped like a token (what log redaction blanks).
TOKEN_PATTERN: Final = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{8,}")
REDACTED: Final = TOKEN_PREFIX + "[redacted]"

#: Requests that never need a token: (method, exact path or a prefix ending ``/``).
PUBLIC: Final = (
    ("GET", "/health"), ("HEAD", "/health"),
    ("GET", "/login"), ("HEAD", "/login"),
    ("POST", "/api/session"), ("DELETE", "/api/session"),
)
#: Paths needing the ``admin`` scope (token management).
ADMIN_PREFIXES: Final = ("/api/tokens",)
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

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
    return "read" if method in READ_METHODS else "write"


def presented_secret(conn: HTTPConnection, *, allow_query: bool = False) -> str | None:
    """The token sent with a request: ``Authorization: Bearer``, else the cookie (else, for
    the WebSocket only, ``?token=``)."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    cookie = conn.cookies.get(COOKIE_NAME)
    if cookie:
        return cookie
    if allow_query:
        return conn.query_params.get("token") or None
    return None


class AuthState:
    """Per app: whether auth is on, and checking secrets (in a worker thread: it may write)."""

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

    async def verify(self, store: Store, secret: str | None) -> Token | None:
        if not secret or not looks_like_token(secret):
            return None
        return await anyio.to_thread.run_sync(store.verify_token, secret)


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


class AuthMiddleware:
    """Plain ASGI: every HTTP request is checked before routing (default deny)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the WebSocket checks for itself
            return
        state = auth_state(scope["app"])
        store: Store = scope["app"].state.store
        conn = HTTPConnection(scope)
        method, path = scope["method"], scope["path"]
        needed = required_scope(method, path)
        token: Token | None = None
        enabled = await state.enabled(store)
        if enabled or needed is None:
            token = await state.verify(store, presented_secret(conn))
        scope.setdefault("state", {})["token"] = token
        if not enabled or needed is None:
            await self.app(scope, receive, send)
            return
        if token is None:
            if method in ("GET", "HEAD") and not path.startswith("/api/") \
                    and _wants_html(conn.headers):
                target = path + (f"?{scope['query_string'].decode()}"
                                 if scope.get("query_string") else "")
                login = "/login" if target == "/" else "/login?next=" + quote(target, safe="")
                await RedirectResponse(login, status_code=303)(scope, receive, send)
                return
            bad = presented_secret(conn) is not None
            challenge = 'Bearer realm="traindeck"' + (', error="invalid_token"' if bad else "")
            message = "invalid or revoked token" if bad else _UNAUTHORIZED_MESSAGE
            response = error_response(401, "unauthorized", message,
                                      headers={"www-authenticate": challenge})
            await response(scope, receive, send)
            return
        if not token.allows(needed):
            response = error_response(
                403, "forbidden",
                f"this token's scope is {token.scope!r}; {method} {path} needs {needed!r}")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def websocket_denied(websocket: WebSocket) -> tuple[int, str] | None:
    """``None`` when the WebSocket may proceed, else the close code and reason."""
    state = auth_state(websocket.app)
    store: Store = websocket.app.state.store
    if not await state.enabled(store):
        return None
    secret = presented_secret(websocket, allow_query=True)
    token = await state.verify(store, secret)
    if token is None:
        return WS_UNAUTHORIZED, "authentication required"
    if not token.allows("read"):
        return WS_FORBIDDEN, "scope too small"
    websocket.scope.setdefault("state", {})["auth_secret"] = secret
    return None


def watch_websocket(websocket: WebSocket, client: Client) -> asyncio.Task[None] | None:
    """While the connection lasts, check its token again now and then; once it is revoked,
    drop the client with :data:`DROP_REVOKED`. ``None`` when auth was off at connect."""
    secret: str | None = websocket.scope.get("state", {}).get("auth_secret")
    if secret is None:
        return None
    state = auth_state(websocket.app)
    store: Store = websocket.app.state.store

    async def watch() -> None:
        while client.dropped is None:
            await asyncio.sleep(state.recheck_interval)
            if await state.verify(store, secret) is None:
                client.drop(DROP_REVOKED)

    return asyncio.create_task(watch())


# -- log redaction -----------------------------------------------------------------------


def redact(text: str) -> str:
    return TOKEN_PATTERN.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """Blanks token-shaped strings in a record's message (and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if TOKEN_PREFIX in message:
            record.msg, record.args = redact(message), ()
        return True


#: The loggers that could see a request line (uvicorn's) and ours.
REDACTED_LOGGERS: Final = ("uvicorn", "uvicorn.access", "uvicorn.error", "traindeck",
                           "traindeck.server")


def install_log_redaction() -> None:
    """Add :class:`RedactSecrets` to the loggers that print requests (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())


# -- session routes and the login page ---------------------------------------------------

router = APIRouter(tags=["session"])


class TokenInfo(BaseModel):
    id: str
    name: str
    scope: str


class SessionOut(BaseModel):
    auth: bool
    token: TokenInfo | None


class SessionIn(BaseModel):
    token: str


def _info(token: Token | None) -> TokenInfo | None:
    return None if token is None else TokenInfo(id=token.id, name=token.name, scope=token.scope)


def _set_cookie(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(COOKIE_NAME, secret, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


@router.get("/api/session", response_model=SessionOut, summary="Who is asking")
async def get_session(request: Request) -> SessionOut:
    """Whether auth is on and which token this request carries (its secret never)."""
    enabled = await auth_state(request.app).enabled(request.app.state.store)
    return SessionOut(auth=enabled, token=_info(getattr(request.state, "token", None)))


@router.post(
    "/api/session", response_model=SessionOut, summary="Log in: exchange a token for a cookie",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": SessionIn.model_json_schema()},
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["token"],
            "properties": {"token": {"type": "string"}, "next": {"type": "string"}}}},
    }}},
    responses={401: {"model": ErrorBody, "description": "invalid or revoked token"},
               303: {"description": "the login form: on to 'next', or back to the form"},
               403: {"model": ErrorBody, "description": "a login from another site"},
               413: ERROR_RESPONSES[413], 422: ERROR_RESPONSES[422]},
)
async def create_session(request: Request) -> Response:
    """JSON ``{"token"}`` → 200 and the cookie (401 if the token is bad). The login page's
    form (urlencoded ``token``, ``next``) → 303 to ``next``, or back to the form. Another
    site's page may not log its visitor in (403)."""
    if not same_site(request, auth_state(request.app).settings):
        return error_response(403, "forbidden", "logging in from another origin is refused")
    body = await request.body()
    form = request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded")
    secret: str | None = None
    target = "/"
    if form:
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:  # too many fields
            return error_response(422, "invalid_input", "send the form's token and next")
        secret = (fields.get("token") or [""])[0]
        target = safe_next((fields.get("next") or [""])[0])
    else:
        try:
            secret = SessionIn.model_validate(orjson.loads(body)).token
        except (orjson.JSONDecodeError, ValueError):
            return error_response(422, "invalid_input", 'send {"token": "td_…"}')
    secret = (secret or "").strip()
    token = await auth_state(request.app).verify(request.app.state.store, secret)
    if token is None:
        if form:
            return RedirectResponse(f"/login?failed=1&next={quote(target, safe='')}", 303)
        return error_response(401, "unauthorized", "invalid or revoked token",
                              headers={"www-authenticate": 'Bearer error="invalid_token"'})
    response: Response
    if form:
        response = RedirectResponse(target, status_code=303)
    else:
        response = Response(SessionOut(auth=True, token=_info(token)).model_dump_json(),
                            media_type="application/json")
    _set_cookie(response, request, secret)
    return response


@router.delete("/api/session", status_code=204, response_class=Response,
               summary="Log out: drop the cookie")
async def delete_session(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


LOGIN_STYLE: Final = """
body{background:#000;color:#ffb000;font:13px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,
Consolas,monospace;margin:0;display:flex;min-height:100vh;align-items:center;
justify-content:center}
form{border:1px solid #4a3300;background:#0a0700;padding:16px 20px;width:min(460px,92vw)}
.title{color:#9a6a00;font-size:11px;letter-spacing:.08em;border-bottom:1px solid #4a3300;
margin:-4px 0 12px;padding-bottom:4px}
b{color:#ffd27a}label{display:block;color:#9a6a00;margin-bottom:4px}
input[type=password]{width:100%;box-sizing:border-box;background:#000;color:#ffd27a;
border:1px solid #9a6a00;padding:5px 6px;font:inherit}
input[type=password]:focus{outline:1px solid #ffd27a}
button{margin-top:10px;background:#2a1d00;color:#ffd27a;border:1px solid #9a6a00;
padding:4px 14px;font:inherit;cursor:pointer}button:hover{background:#4a3300}
.bad{color:#ff5050;margin:0 0 10px}.dim{color:#9a6a00;font-size:11px;margin-top:12px}
"""


def _style_hash() -> str:
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(LOGIN_STYLE.encode()).digest()).decode()


#: The login page runs no script at all; its one inline style sheet is allowed by hash.
LOGIN_CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{_style_hash()}'; form-action 'self'; "
    "img-src data:; base-uri 'none'; frame-ancestors 'none'"
)


def login_page(*, failed: bool, target: str) -> str:
    error = ('<p class="bad">that token is not valid (revoked, or mistyped)</p>'
             if failed else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>traindeck · log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><style>{LOGIN_STYLE}</style></head><body>
<form method="post" action="/api/session">
<div class="title">TRAINDECK · LOG IN</div>{error}
<label for="token">access token</label>
<input type="password" id="token" name="token" placeholder="td_…" autocomplete="off"
 autofocus required>
<input type="hidden" name="next" value="{html.escape(target, quote=True)}">
<button type="submit">log in</button>
<div class="dim">make one on the server: <b>traindeck token create NAME --scope read</b></div>
</form></body></html>
"""


@router.get("/login", include_in_schema=False)
async def login(request: Request, next: str | None = None, failed: str | None = None
                ) -> Response:
    target = safe_next(next)
    if getattr(request.state, "token", None) is not None and not failed:
        return RedirectResponse(target, status_code=303)  # already logged in
    # Not "no-referrer": with it, browsers post the form with ``Origin: null``, which
    # create_session refuses as another site.
    return HTMLResponse(login_page(failed=failed is not None, target=target), headers={
        "cache-control": "no-store", "x-content-type-options": "nosniff",
        "content-security-policy": LOGIN_CSP, "referrer-policy": "same-origin",
    })


# -- token management (admin) ------------------------------------------------------------

async def _auth_on(request: Request) -> None:
    """Token management over HTTP only where tokens are required: with auth off, anyone
    who reaches the port could mint an admin token and lock the owner out."""
    if not await auth_state(request.app).enabled(request.app.state.store):
        raise HTTPException(403, "token management over HTTP needs auth on; create the "
                                 "first token with: traindeck token create NAME --scope admin")


tokens_router = APIRouter(
    prefix="/api/tokens", tags=["tokens"], dependencies=[Depends(_auth_on)],
    responses={**ERROR_RESPONSES, 403: {"model": ErrorBody, "description": "auth is off"}})


class TokenOut(BaseModel):
    id: str
    name: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


class TokenCreated(TokenOut):
    #: The secret, in this one answer only (the store keeps its hash).
    secret: str


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_TOKEN_NAME)
    scope: Literal["read", "write", "admin"] = "read"


class TokenList(BaseModel):
    tokens: list[TokenOut]


def _out(token: Token) -> TokenOut:
    return TokenOut(id=token.id, name=token.name, scope=token.scope,
                    created_at=token.created_at, last_used_at=token.last_used_at,
                    revoked_at=token.revoked_at)


@tokens_router.get("", response_model=TokenList, summary="List tokens (never their secrets)")
def list_tokens(store: StoreDep) -> TokenList:
    return TokenList(tokens=[_out(t) for t in store.list_tokens()])


@tokens_router.post("", response_model=TokenCreated, status_code=201,
                    summary="Create a token (its secret is in this answer only)")
def create_token(body: TokenIn, store: StoreDep, response: Response) -> TokenCreated:
    token, secret = store.create_token(body.name, body.scope)
    response.headers["cache-control"] = "no-store"
    return TokenCreated(**_out(token).model_dump(), secret=secret)


@tokens_router.delete("/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(token_id: str, store: StoreDep) -> TokenOut:
    return _out(store.revoke_token(token_id))
