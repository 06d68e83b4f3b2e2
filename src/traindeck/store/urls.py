"""Store URLs in messages: never with their password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact(url: str) -> str:
    """``url`` without its password (``postgresql://me:***@host/db``)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
    except ValueError:  # a port that is not a number: say nothing of what follows
        return url.split("://", 1)[0] + "://…"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
