"""Errors the store raises. The server maps each to an HTTP status (see server/errors.py)."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: a request the store could not carry out."""

    code = "store_error"


class NotFound(StoreError):
    """An id that names nothing (unknown run, series, command…)."""

    code = "not_found"


class Conflict(StoreError):
    """A request that clashes with the current state (duplicate id, illegal transition…)."""

    code = "conflict"


class InvalidInput(StoreError):
    """A value the store will not keep (wrong type, out of range)."""

    code = "invalid_input"


class Unavailable(StoreError):
    """The engine cannot be reached or is busy right now (locked file, full disk, lost
    connection): nothing was written, and the same request may succeed later. Writers that
    must not lose data (the SDK) keep it and retry; the server answers 503."""

    code = "unavailable"


class TooLarge(InvalidInput):
    """A value over a size limit (a media file over its cap): the server answers 413."""

    code = "too_large"
