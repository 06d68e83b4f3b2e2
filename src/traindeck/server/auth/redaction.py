"""Secrets never reach the server's logs: nothing in ``auth`` logs a header, and
:func:`install_log_redaction` blanks anything shaped like a token in uvicorn's access and
error logs (a ``?token=`` query string would otherwise be printed), and session secrets
alike."""

from __future__ import annotations

import logging
import re
from typing import Final

from traindeck.store.sessions import SESSION_PREFIX
from traindeck.store.tokens import TOKEN_PREFIX

#: Anything shaped like a token or a session secret (what log redaction blanks).
TOKEN_PATTERN: Final = re.compile(
    f"(?:{re.escape(TOKEN_PREFIX)}|{re.escape(SESSION_PREFIX)})" + r"[A-Za-z0-9_\-]{8,}")
REDACTED: Final = TOKEN_PREFIX + "[redacted]"
#: The loggers that could see a request line (uvicorn's) and ours.
REDACTED_LOGGERS: Final = ("uvicorn", "uvicorn.access", "uvicorn.error", "traindeck",
                           "traindeck.server")


def redact(text: str) -> str:
    return TOKEN_PATTERN.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """Blanks token-shaped strings in a record's message (and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if TOKEN_PREFIX in message or SESSION_PREFIX in message:
            record.msg, record.args = redact(message), ()
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactSecrets` to the loggers that print requests (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
