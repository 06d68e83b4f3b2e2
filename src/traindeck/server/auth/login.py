"""Logging in and out: ``/api/session`` and the login page.

``POST /api/session`` takes a token (JSON, or the login page's form) and answers with the
``traindeck_session`` cookie, which holds a new login *session* (``store.create_session``):
a random secret whose hash the store keeps with its token and its expiry
(``Settings.session_max_age``), never the token itself. ``DELETE /api/session`` ends the
session (the cookie stops working at once, even if a copy was kept) and drops the cookie.
Revoking the token ends its sessions too. Another site's page may not log its visitor in.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Final
from urllib.parse import parse_qs, quote

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import HTMLResponse, RedirectResponse, Response

from traindeck.store import Store
from traindeck.store.tokens import Token

from ..errors import ERROR_RESPONSES, error_response
from ..schemas import ErrorBody
from .policy import COOKIE_NAME, auth_state, presented, safe_next, same_site

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


def _set_cookie(response: Response, request: Request, secret: str, max_age: float) -> None:
    response.set_cookie(COOKIE_NAME, secret, max_age=int(max_age), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


@router.get("/api/session", response_model=SessionOut, summary="Who is asking")
async def get_session(request: Request) -> SessionOut:
    """Whether auth is on and which token this request carries (its secret never)."""
    enabled = await auth_state(request.app).enabled(request.app.state.store)
    return SessionOut(auth=enabled, token=_info(getattr(request.state, "token", None)))


@router.post(
    "/api/session", response_model=SessionOut,
    summary="Log in: exchange a token for a session cookie",
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
    state = auth_state(request.app)
    if not same_site(request, state.settings):
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
    store: Store = request.app.state.store
    token = await state.verify_token(store, (secret or "").strip())
    if token is None:
        if form:
            return RedirectResponse(f"/login?failed=1&next={quote(target, safe='')}", 303)
        return error_response(401, "unauthorized", "invalid or revoked token",
                              headers={"www-authenticate": 'Bearer error="invalid_token"'})
    max_age = state.settings.session_max_age
    _, session_secret = await anyio.to_thread.run_sync(store.create_session, token.id, max_age)
    response: Response
    if form:
        response = RedirectResponse(target, status_code=303)
    else:
        response = Response(SessionOut(auth=True, token=_info(token)).model_dump_json(),
                            media_type="application/json")
    _set_cookie(response, request, session_secret, max_age)
    return response


@router.delete("/api/session", status_code=204, response_class=Response,
               summary="Log out: end the session and drop the cookie")
async def delete_session(request: Request) -> Response:
    credential = presented(request)
    if credential is not None and credential.kind == "session":
        await anyio.to_thread.run_sync(request.app.state.store.end_session, credential.secret)
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


