"""Login session rows of the SQLite store. What a session is lives in ``sessions``.

Only a session's sha256 is kept. :meth:`SessionTable.verify_session` answers the session's
token, provided the session has not expired nor been ended and the token is not revoked:
revoking a token ends its sessions without touching them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .engine import Core
from .errors import InvalidInput, NotFound
from .ids import new_id
from .sessions import Session, looks_like_session, new_session_secret
from .tokens import Token, hash_secret

_COLS: Final = "id, token_id, created_at, expires_at, ended_at"
_TOKEN_COLS: Final = "t.id, t.name, t.scope, t.created_at, t.last_used_at, t.revoked_at"


def _session(r: Sequence[Any]) -> Session:
    return Session(id=r[0], token_id=r[1], created_at=r[2], expires_at=r[3], ended_at=r[4])


class SessionTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_session(self, token_id: str, max_age: float) -> tuple[Session, str]:
        """A new session for a live token, lasting ``max_age`` seconds, and its secret
        (what the cookie holds; only its hash is kept). Drops sessions that are over."""
        if not max_age > 0:
            raise InvalidInput("a session lasts a positive number of seconds")
        secret = new_session_secret()
        now = self._core.clock()
        session = Session(id=new_id(now), token_id=token_id, created_at=now,
                          expires_at=now + max_age, ended_at=None)
        with self._core.write() as tx:
            row = tx.execute("SELECT revoked_at FROM tokens WHERE id = ?",
                             (token_id,)).fetchone()
            if row is None or row[0] is not None:
                raise NotFound(f"no live token {token_id!r}")
            tx.execute("DELETE FROM sessions WHERE expires_at <= ? OR ended_at IS NOT NULL",
                       (now,))
            tx.execute(
                "INSERT INTO sessions (id, hash, token_id, created_at, expires_at) "
                "VALUES (?,?,?,?,?)",
                (session.id, hash_secret(secret), token_id, now, session.expires_at))
        return session, secret

    def verify_session(self, secret: str) -> Token | None:
        """The token of the live session whose secret this is, else ``None`` (unknown,
        expired, ended, or its token revoked)."""
        if not looks_like_session(secret):
            return None
        row = self._core.reader().execute(
            f"SELECT {_TOKEN_COLS} FROM sessions s JOIN tokens t ON t.id = s.token_id "
            "WHERE s.hash = ? AND s.ended_at IS NULL AND s.expires_at > ? "
            "AND t.revoked_at IS NULL",
            (hash_secret(secret), self._core.clock())).fetchone()
        if row is None:
            return None
        return Token(id=row[0], name=row[1], scope=row[2], created_at=row[3],
                     last_used_at=row[4], revoked_at=row[5])

    def end_session(self, secret: str) -> bool:
        """End a session (logging out); whether a live one was ended."""
        if not looks_like_session(secret):
            return False
        with self._core.write() as tx:
            ended = tx.execute(
                "UPDATE sessions SET ended_at = ? WHERE hash = ? AND ended_at IS NULL",
                (self._core.clock(), hash_secret(secret))).rowcount
        return bool(ended)

    def list_sessions(self, token_id: str | None = None) -> list[Session]:
        """Sessions (of one token), oldest first, ended and expired ones included."""
        where, args = ("", ()) if token_id is None else (" WHERE token_id = ?", (token_id,))
        rows = self._core.reader().execute(
            f"SELECT {_COLS} FROM sessions{where} ORDER BY created_at, id", args).fetchall()
        return [_session(r) for r in rows]
