"""Images for ``run.log_image``: input checks, a small PNG encoder, atomic file writes.

``log_image`` checks its input and copies it in the training thread (cheap); encoding and
writing happen on the run's background thread. The encoder needs only ``zlib`` and
``struct``: 8-bit greyscale, RGB or RGBA, filter type 0 on every row, one IDAT chunk.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..store.images import IMAGE_TYPES, sniff_image

#: Largest image accepted (pixels): 50 megapixels.
MAX_PIXELS: Final = 50_000_000
#: Largest image file accepted (bytes, encoded); remote runs send it in a batch.
MAX_FILE_BYTES: Final = 32 * 1024 * 1024
#: A media key: 1 to 128 characters; no path separators, no "..", not starting with ".".
KEY_MAX: Final = 128
CAPTION_MAX: Final = 10_000
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE: Final = {1: 0, 3: 2, 4: 6}  # channels → PNG colour type


def check_key(key: Any) -> str:
    """The key, or ``ValueError`` saying why it cannot name a media folder."""
    if not isinstance(key, str) or not 0 < len(key) <= KEY_MAX:
        raise ValueError(f"a media key is a string of 1 to {KEY_MAX} characters, got {key!r:.80}")
    if "/" in key or "\\" in key or "\x00" in key or ".." in key or key.startswith("."):
        raise ValueError(f"a media key has no path separators, '..' or leading '.': {key!r:.80}")
    if any(ord(c) < 32 for c in key):
        raise ValueError(f"a media key has no control characters: {key!r:.80}")
    return key


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(pixels: np.ndarray[Any, Any], *, level: int = 6) -> bytes:
    """An 8-bit PNG of a ``uint8`` array ``HxW`` (grey), ``HxWx1``, ``HxWx3`` (RGB) or
    ``HxWx4`` (RGBA)."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png takes uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in _COLOR_TYPE:
        raise ValueError(f"encode_png takes HxW, HxWx1, HxWx3 or HxWx4, got {pixels.shape}")
    h, w, c = pixels.shape
    if h < 1 or w < 1:
        raise ValueError("an image is at least 1x1 pixels")
    rows = np.empty((h, 1 + w * c), dtype=np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) on every row
    rows[:, 1:] = np.ascontiguousarray(pixels).reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPE[c], 0, 0, 0)
    return (_PNG_MAGIC + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))


def to_pixels(image: Any) -> np.ndarray[Any, Any]:
    """A numpy image (or a PIL image) as a fresh ``uint8`` array, checked: ``HxW``,
    ``HxWx1``, ``HxWx3``, ``HxWx4``; ``uint8``, ``bool``, or floats in [0, 1]."""
    if not isinstance(image, np.ndarray):
        if hasattr(image, "mode") and hasattr(image, "convert") and hasattr(image, "size"):
            image = _from_pil(image)
        else:
            raise TypeError("log_image takes a numpy array, a PIL image or a path to an image "
                            f"file, got {type(image).__name__}")
    arr = image
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image is HxW, HxWx3 (RGB) or HxWx4 (RGBA), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"an image is at least 1x1 pixels, got shape {arr.shape}")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ValueError(f"an image has at most {MAX_PIXELS} pixels, got "
                         f"{arr.shape[1]}x{arr.shape[0]}")
    if arr.dtype == np.uint8:
        return np.array(arr, dtype=np.uint8, copy=True)
    if arr.dtype == np.bool_:
        grey: np.ndarray[Any, Any] = arr.astype(np.uint8) * np.uint8(255)
        return grey
    if np.issubdtype(arr.dtype, np.floating):
        if not bool(np.isfinite(arr).all()):
            raise ValueError("a float image holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"a float image has values in [0, 1], got [{lo:g}, {hi:g}]")
        out: np.ndarray[Any, Any] = np.rint(arr.astype(np.float64) * 255.0).astype(np.uint8)
        return out
    raise ValueError(f"an image is uint8, bool or float in [0, 1], got dtype {arr.dtype}")


def _from_pil(image: Any) -> np.ndarray[Any, Any]:
    mode = image.mode
    if mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode or mode == "P" else "RGB")
    return np.asarray(image)


def check_file(path: Any) -> tuple[Path, str]:
    """An existing image file to copy: ``(path, suffix)``; ``ValueError`` otherwise."""
    p = Path(os.fspath(path))
    ext = p.suffix.lower()
    if ext not in IMAGE_TYPES:
        raise ValueError(f"an image file ends in {', '.join(IMAGE_TYPES)}, got {p.name!r:.80}")
    if not p.is_file():
        raise FileNotFoundError(f"no image file {str(p)!r:.200}")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"an image file is at most {MAX_FILE_BYTES} bytes, {p.name} has {size}")
    return p, ".jpg" if ext == ".jpeg" else ext


def read_image_file(path: Path) -> bytes:
    """The file's bytes, checked to be the image its name says (background thread)."""
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"an image file is at most {MAX_FILE_BYTES} bytes")
    kind = sniff_image(data)
    want = path.suffix.lower()
    if kind is None or IMAGE_TYPES.get(kind) != IMAGE_TYPES.get(want):
        raise ValueError(f"{path.name} is not a {want[1:].upper()} image")
    return data


@dataclass(slots=True)
class PendingImage:
    """An image ``log_image`` accepted, waiting for the background thread."""

    key: str
    step: int
    caption: str | None
    pixels: np.ndarray[Any, Any] | None = None
    source: Path | None = None
    ext: str = ".png"
    data: bytes | None = None  # encoded, once (a retried write does not encode again)

    def encoded(self) -> bytes:
        if self.data is None:
            if self.pixels is not None:
                self.data = encode_png(self.pixels)
                self.pixels = None
            else:
                assert self.source is not None
                self.data = read_image_file(self.source)
        return self.data


def pending_image(key: Any, image: Any, step: Any, caption: Any) -> PendingImage:
    """``log_image()``'s arguments, checked, with the image copied (a file is read later,
    on the background thread). ``TypeError``/``ValueError``/``OSError`` say what is wrong."""
    key = check_key(key)
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"step must be an integer, got {step!r:.80}")
    step = int(step.__index__())
    if not -(2**63) <= step < 2**63:
        raise ValueError("step must fit in 64 bits")
    if caption is not None:
        if not isinstance(caption, str):
            raise TypeError("caption must be a string")
        caption = caption[:CAPTION_MAX]
    if isinstance(image, str | os.PathLike):
        source, ext = check_file(image)
        return PendingImage(key, step, caption, source=source, ext=ext)
    return PendingImage(key, step, caption, pixels=to_pixels(image))
