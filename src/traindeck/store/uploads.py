"""Media uploads, for every engine: check an uploaded image and keep it exactly once.

The file goes under the run's folder, ``<files root>/runs/<id>/media/<key>/<filename>``
(the key made safe by ``traindeck.runfiles.safe_name``: see ``media_rel``), written
atomically; the row is the store's (``add_media``), idempotent by (run, key, step,
filename): sending the same upload again returns the first row and rewrites nothing.
"""

from __future__ import annotations

import os
import re
from typing import Final

from traindeck.runfiles import RunFiles, media_rel

from .errors import InvalidInput, TooLarge
from .images import IMAGE_TYPES, image_size, sniff_image, write_atomic
from .models import Media
from .protocol import Store

#: Largest media file accepted (bytes).
MAX_MEDIA_BYTES: Final = 32 * 1024 * 1024
#: Longest caption (characters).
MAX_CAPTION: Final = 10_000
_FILENAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def check_key(key: str) -> str:
    if not 0 < len(key) <= 128 or "/" in key or "\\" in key or ".." in key \
            or key.startswith(".") or any(ord(c) < 32 for c in key):
        raise InvalidInput("a media key is 1 to 128 characters, without path separators, "
                           "'..', a leading '.' or control characters")
    return key


def check_upload(key: str, step: int, filename: str, data: bytes,
                 caption: str | None) -> tuple[int, int] | None:
    """Refuse a bad upload (``TooLarge`` over :data:`MAX_MEDIA_BYTES`, else
    ``InvalidInput``); returns the image's ``(width, height)`` when it can be read."""
    check_key(key)
    if not _FILENAME.fullmatch(filename) or ".." in filename:
        raise InvalidInput("a media file name is 1 to 100 of A-Z a-z 0-9 . _ - "
                           "(not starting with '.')")
    ext = os.path.splitext(filename)[1].lower()
    if ext not in IMAGE_TYPES:
        raise InvalidInput(f"a media file name ends in one of {', '.join(IMAGE_TYPES)}")
    if not _INT64_MIN <= step <= _INT64_MAX:
        raise InvalidInput("step must fit in 64 bits")
    if len(data) > MAX_MEDIA_BYTES:
        raise TooLarge(f"a media file is at most {MAX_MEDIA_BYTES} bytes "
                       f"({MAX_MEDIA_BYTES // (1024 * 1024)} MiB); this one is {len(data)}")
    kind = sniff_image(data)
    if kind is None or IMAGE_TYPES[kind] != IMAGE_TYPES[ext]:
        raise InvalidInput(f"the body is not a {ext[1:].upper()} image")
    if caption is not None and len(caption) > MAX_CAPTION:
        raise InvalidInput(f"a caption is at most {MAX_CAPTION} characters")
    return image_size(data)


def save_media(store: Store, files: RunFiles, run_id: str, *, key: str, step: int,
               filename: str, data: bytes, caption: str | None) -> tuple[Media, bool]:
    """Check an uploaded image, write it under the run's folder (only if it is new) and
    record it, once; returns ``(row, created)``."""
    size = check_upload(key, step, filename, data, caption)
    rel = media_rel(key, filename)
    target = files.media_file(run_id, key, filename)
    return store.add_media(run_id, key=key, step=step, path=rel, caption=caption,
                           width=None if size is None else size[0],
                           height=None if size is None else size[1], size=len(data),
                           write=lambda: write_atomic(target, data))
