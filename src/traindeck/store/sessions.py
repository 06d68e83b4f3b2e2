"""Login sessions, for every engine: what the dashboard's cookie holds (no SQL here).

Logging in with a token (``POST /api/session``) makes a session: a random secret
(``tds_`` + 32 random bytes) that goes into the cookie, while the store keeps only its
sha256, the token it was made from and when it expires. The cookie therefore never holds
the bearer token. A session stops working when it expires, when it is ended (logging out)
or when its token is revoked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

#: Every session secret starts with this (distinct from a token's ``td_``).
SESSION_PREFIX: Final = "tds_"
#: Random bytes in a session's secret.
SESSION_BYTES: Final = 32
#: Longer strings are not session secrets (checked before hashing anything).
_MAX_SECRET_LEN: Final = 200


@dataclass(frozen=True, slots=True)
class Session:
    """A login session as stored: never its secret, which only the browser holds."""

    id: str
    token_id: str
    created_at: float
    expires_at: float
    ended_at: float | None


def new_session_secret() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(SESSION_BYTES)


def looks_like_session(secret: str) -> bool:
    return secret.startswith(SESSION_PREFIX) and len(secret) <= _MAX_SECRET_LEN
