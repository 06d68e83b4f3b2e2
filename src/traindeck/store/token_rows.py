"""API token rows of the SQLite store. What a token is (its shape, scopes, hashing) is
``tokens``'s, re-exported here for older imports."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

from .engine import Core
from .errors import InvalidInput, NotFound
from .ids import new_id
from .tokens import (
    LAST_USED_RESOLUTION,
    MAX_TOKEN_NAME,
    TOKEN_PREFIX,
    TOKEN_SCOPES,
    Token,
    hash_secret,
    looks_like_token,
    new_secret,
)

__all__ = [
    "LAST_USED_RESOLUTION", "MAX_TOKEN_NAME", "TOKEN_PREFIX", "TOKEN_SCOPES", "Token",
    "TokenTable", "hash_secret", "looks_like_token",
]

_COLS: Final = "id, name, scope, created_at, last_used_at, revoked_at, run_id"


def _token(r: Sequence[Any]) -> Token:
    return Token(id=r[0], name=r[1], scope=r[2], created_at=r[3], last_used_at=r[4],
                 revoked_at=r[5], run_id=r[6])


class TokenTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_token(self, name: str, scope: str = "read", *,
                     run_id: str | None = None) -> tuple[Token, str]:
        """A new token and its secret (shown once: only its hash is kept); ``run_id``
        binds it to that run (it may write to no other)."""
        name = name.strip()
        if not name:
            raise InvalidInput("a token needs a name")
        if len(name) > MAX_TOKEN_NAME:
            raise InvalidInput(f"a token name is at most {MAX_TOKEN_NAME} characters")
        if scope not in TOKEN_SCOPES:
            raise InvalidInput(f"unknown scope {scope!r}; one of {', '.join(TOKEN_SCOPES)}")
        secret = new_secret()
        now = self._core.clock()
        token = Token(id=new_id(now), name=name, scope=scope, created_at=now,
                      last_used_at=None, revoked_at=None, run_id=run_id)
        with self._core.write() as tx:
            tx.execute(
                "INSERT INTO tokens (id, name, hash, scope, created_at, run_id) "
                "VALUES (?,?,?,?,?,?)",
                (token.id, name, hash_secret(secret), scope, now, run_id),
            )
        return token, secret

    def list_tokens(self, *, include_revoked: bool = True) -> list[Token]:
        """Tokens, oldest first."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._core.reader().execute(
            f"SELECT {_COLS} FROM tokens{where} ORDER BY created_at, id").fetchall()
        return [_token(r) for r in rows]

    def get_token(self, token_id: str) -> Token:
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token {token_id!r} (see: traindeck token list)")
        return _token(row)

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token (again: a no-op); it fails from now on. ``NotFound`` if unknown."""
        with self._core.write() as tx:
            row = tx.execute(f"SELECT {_COLS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFound(f"no token {token_id!r} (see: traindeck token list)")
            if row[5] is None:
                row = tx.execute(
                    f"UPDATE tokens SET revoked_at = ? WHERE id = ? RETURNING {_COLS}",
                    (self._core.clock(), token_id),
                ).fetchone()
        return _token(row)

    def has_tokens(self, *, include_revoked: bool = False) -> bool:
        """Whether any token exists (that is not revoked, unless ``include_revoked``)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        row = self._core.reader().execute(f"SELECT EXISTS (SELECT 1 FROM tokens{where})").fetchone()
        return bool(row[0])

    def verify_token(self, secret: str) -> Token | None:
        """The live token whose secret this is, else ``None``; notes when it was used."""
        if not looks_like_token(secret):
            return None
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM tokens WHERE hash = ?", (hash_secret(secret),)).fetchone()
        if row is None or row[5] is not None:
            return None
        token = _token(row)
        now = self._core.clock()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            try:
                with self._core.write() as tx:
                    tx.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?",
                               (now, token.id))
            except self._core.dialect.transient_errors:  # busy: the next request will note it
                pass
            else:
                token = dataclasses.replace(token, last_used_at=now)
        return token
