"""API tokens, for every engine: their shape, scopes and hashing (no SQL here).

A token is ``td_`` followed by 32 random bytes (URL-safe base64). Only its sha256 is stored:
``create_token`` returns the secret once and nothing can show it again. Revoking keeps the
row (so ``token list`` shows what existed) and makes the token fail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

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


@dataclass(frozen=True, slots=True)
class Token:
    """A token as stored: never its secret, which only its creator ever sees."""

    id: str
    name: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    #: A token bound to one run (the one a launched process is given) may write to that
    #: run only; ``None``: any run.
    run_id: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether this token's scope covers ``scope`` (admin ⊇ write ⊇ read)."""
        return TOKEN_SCOPES.index(self.scope) >= TOKEN_SCOPES.index(scope)

    def may_write_run(self, run_id: str) -> bool:
        """Whether this token may change ``run_id`` (an unbound token: any run)."""
        return self.run_id is None or self.run_id == run_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX) and len(secret) <= _MAX_SECRET_LEN


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
