"""API token rows of the SQLite store (a mixin of ``SQLiteStore``).

A token is ``td_`` followed by 32 random bytes (URL-safe base64). Only its sha256 is stored:
:meth:`TokenRows.create_token` returns the secret once and nothing can show it again.
Revoking keeps the row (so ``token list`` shows what existed) and makes the token fail.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidInput, NotFound
from .ids import new_id
from .rows import StoreRows

#: Every token starts with this, so a leaked one is recognisable (and redactable).
TOKEN_PREFIX: Final = "td_"
#: Random bytes in a token's secret.
TOKEN_BYTES: Final = 32
#: Scopes, weakest first: each one allows what the ones before it do.
TOKEN_SCOPES: Final = ("read", "write", "admin")
#: Longest token name accepted.
MAX_TOKEN_NAME: Final = 100
#: ``last_used_at`` is rewritten at most this often (seconds), not on every request.
LAST_USED_RESOLUTION: Final = 60.0
#: Longer strings are not tokens (checked before hashing anything).
_MAX_SECRET_LEN: Final = 200

_COLS: Final = "id, name, scope, created_at, last_used_at, revoked_at"


@dataclass(frozen=True, slots=True)
class Token:
    """A token as stored: never its secret, which only its creator ever sees."""

    id: str
    name: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether this token's scope covers ``scope`` (admin ⊇ write ⊇ read)."""
        return TOKEN_SCOPES.index(self.scope) >= TOKEN_SCOPES.index(scope)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX) and len(secret) <= _MAX_SECRET_LEN


def _token(r: Sequence[Any]) -> Token:
    return Token(id=r[0], name=r[1], scope=r[2], created_at=r[3], last_used_at=r[4],
                 revoked_at=r[5])


class TokenRows(StoreRows):
    """Token methods; relies on the ``SQLiteStore`` primitives of ``StoreRows``."""

    def create_token(self, name: str, scope: str = "read") -> tuple[Token, str]:
        """A new token and its secret (shown once: only its hash is kept)."""
        name = name.strip()
        if not name:
            raise InvalidInput("a token needs a name")
        if len(name) > MAX_TOKEN_NAME:
            raise InvalidInput(f"a token name is at most {MAX_TOKEN_NAME} characters")
        if scope not in TOKEN_SCOPES:
            raise InvalidInput(f"unknown scope {scope!r}; one of {', '.join(TOKEN_SCOPES)}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        token = Token(id=new_id(now), name=name, scope=scope, created_at=now,
                      last_used_at=None, revoked_at=None)
        with self.write() as tx:
            tx.execute(
                "INSERT INTO tokens (id, name, hash, scope, created_at) VALUES (?,?,?,?,?)",
                (token.id, name, hash_secret(secret), scope, now),
            )
        return token, secret

    def list_tokens(self, *, include_revoked: bool = True) -> list[Token]:
        """Tokens, oldest first."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._reader().execute(
            f"SELECT {_COLS} FROM tokens{where} ORDER BY created_at, id").fetchall()
        return [_token(r) for r in rows]

    def get_token(self, token_id: str) -> Token:
        row = self._reader().execute(
            f"SELECT {_COLS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token {token_id!r} (see: traindeck token list)")
        return _token(row)

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token (again: a no-op); it fails from now on. ``NotFound`` if unknown."""
        with self.write() as tx:
            row = tx.execute(f"SELECT {_COLS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFound(f"no token {token_id!r} (see: traindeck token list)")
            if row[5] is None:
                row = tx.execute(
                    f"UPDATE tokens SET revoked_at = ? WHERE id = ? RETURNING {_COLS}",
                    (self.clock(), token_id),
                ).fetchone()
        return _token(row)

    def has_tokens(self, *, include_revoked: bool = False) -> bool:
        """Whether any token exists (that is not revoked, unless ``include_revoked``)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        row = self._reader().execute(f"SELECT EXISTS (SELECT 1 FROM tokens{where})").fetchone()
        return bool(row[0])

    def verify_token(self, secret: str) -> Token | None:
        """The live token whose secret this is, else ``None``; notes when it was used."""
        if not looks_like_token(secret):
            return None
        row = self._reader().execute(
            f"SELECT {_COLS} FROM tokens WHERE hash = ?", (hash_secret(secret),)).fetchone()
        if row is None or row[5] is not None:
            return None
        token = _token(row)
        now = self.clock()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            try:
                with self.write() as tx:
                    tx.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?",
                               (now, token.id))
            except sqlite3.OperationalError:  # busy: the next request will note it
                pass
            else:
                token = Token(token.id, token.name, token.scope, token.created_at, now,
                              token.revoked_at)
        return token
