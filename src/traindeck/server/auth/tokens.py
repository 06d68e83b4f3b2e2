"""Token management over HTTP (``/api/tokens``, admin scope): list, create, revoke.

Only where auth is on: with auth off, anyone who reaches the port could mint an admin token
and lock the owner out. A token's secret is in the answer that creates it and nowhere else.
Revoking a token ends its login sessions too.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from traindeck.store.tokens import MAX_TOKEN_NAME, Token

from ..deps import StoreDep
from ..errors import ERROR_RESPONSES
from ..schemas import ErrorBody
from .policy import auth_state


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
    #: The one run this token may write to (``null``: any run).
    run_id: str | None = None


class TokenCreated(TokenOut):
    #: The secret, in this one answer only (the store keeps its hash).
    secret: str


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_TOKEN_NAME)
    scope: Literal["read", "write", "admin"] = "read"
    #: Bind the token to one run: it may write to that run only (a training script's token).
    run_id: str | None = Field(default=None, min_length=1, max_length=64)


class TokenList(BaseModel):
    tokens: list[TokenOut]


def _out(token: Token) -> TokenOut:
    return TokenOut(id=token.id, name=token.name, scope=token.scope,
                    created_at=token.created_at, last_used_at=token.last_used_at,
                    revoked_at=token.revoked_at, run_id=token.run_id)


@tokens_router.get("", response_model=TokenList, summary="List tokens (never their secrets)")
def list_tokens(store: StoreDep) -> TokenList:
    return TokenList(tokens=[_out(t) for t in store.list_tokens()])


@tokens_router.post("", response_model=TokenCreated, status_code=201,
                    summary="Create a token (its secret is in this answer only)")
def create_token(body: TokenIn, store: StoreDep, response: Response) -> TokenCreated:
    if body.run_id is not None:
        store.get_run(body.run_id)  # 404 for an unknown run
    token, secret = store.create_token(body.name, body.scope, run_id=body.run_id)
    response.headers["cache-control"] = "no-store"
    return TokenCreated(**_out(token).model_dump(), secret=secret)


@tokens_router.delete("/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(token_id: str, store: StoreDep) -> TokenOut:
    return _out(store.revoke_token(token_id))
