"""Authentication: bearer tokens, the dashboard's login sessions, scopes (DESIGN §10).

Tokens are made by ``traindeck token create`` (the store keeps only their sha256). When
auth is on (``Settings.auth``; ``None`` means on as soon as the store has ever held a
token), every request needs a credential except the public few in
:func:`~.policy.required_scope`: a token, sent as ``Authorization: Bearer td_…``, or the
``traindeck_session`` cookie that logging in (``POST /api/session``) sets. The cookie
holds a *session*, never the token: a random secret whose hash the store keeps with the
token it was made from and when it expires; logging out, expiry or revoking the token ends
it. Scopes: ``read`` for GET/HEAD, ``write`` for other methods, ``admin`` for anything
under ``/api/tokens``.

The parts, one module each:

- ``policy``: who needs what, and the middleware that checks every HTTP request before
  routing (default deny);
- ``websocket``: the ``/ws`` handshake's check, and closing a socket whose credential ends;
- ``login``: ``/api/session`` (log in, who am I, log out) and the login page;
- ``tokens``: token management over HTTP (``/api/tokens``, admin);
- ``redaction``: secrets never reach the server's logs.
"""

from __future__ import annotations

from .login import router
from .policy import (
    COOKIE_NAME,
    AuthMiddleware,
    AuthState,
    Credential,
    authorize,
    presented,
    required_scope,
    safe_next,
)
from .redaction import REDACTED, RedactSecrets, install_log_redaction, redact
from .tokens import tokens_router
from .websocket import (
    DROP_REVOKED,
    WS_FORBIDDEN,
    WS_UNAUTHORIZED,
    watch_websocket,
    websocket_denied,
)

__all__ = [
    "COOKIE_NAME",
    "DROP_REVOKED",
    "REDACTED",
    "WS_FORBIDDEN",
    "WS_UNAUTHORIZED",
    "AuthMiddleware",
    "AuthState",
    "Credential",
    "RedactSecrets",
    "authorize",
    "install_log_redaction",
    "presented",
    "redact",
    "required_scope",
    "router",
    "safe_next",
    "tokens_router",
    "watch_websocket",
    "websocket_denied",
]
