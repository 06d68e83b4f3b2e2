"""Short, URL-safe ids that sort by creation time.

10 characters of milliseconds since the epoch in Crockford's base32 (good until the year
10889), then 6 random ones: 16 lowercase characters, ``[0-9a-hjkmnp-tv-z]``.
"""

from __future__ import annotations

import secrets
import time
from typing import Final

_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(now: float | None = None) -> str:
    ms = int((time.time() if now is None else now) * 1000)
    return _b32(ms, 10) + _b32(secrets.randbits(30), 6)


def is_valid_id(value: str) -> bool:
    """Ids given by users (``td.init(id=...)``) may be any short URL-safe string."""
    return (
        0 < len(value) <= 64
        and all(c.isascii() and (c.isalnum() or c in "-_.") for c in value)
        and not value.startswith(".")
    )
