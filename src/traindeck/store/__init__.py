"""traindeck's store: runs, metric series (chunked, with exact rollups), events, commands.

``open_store(url)`` picks the engine from a URL or a path: ``sqlite:///path/to/file.db``, a
plain path to a ``.db`` file, or a folder (the file ``traindeck.db`` inside it).
"""

from __future__ import annotations

from pathlib import Path

from .batch_wire import Batch
from .chunks import Points
from .errors import Conflict, InvalidInput, NotFound, StoreError, TooLarge, Unavailable
from .models import (
    CHECKPOINT_KINDS,
    COMMAND_STATUSES,
    LAUNCH_STATUSES,
    LIVE_STATUSES,
    RUN_STATUSES,
    TERMINAL_STATUSES,
    Changes,
    Checkpoint,
    Command,
    CompactResult,
    Event,
    Host,
    Launch,
    LogLine,
    Media,
    Project,
    Run,
    RunProgress,
    SeriesInfo,
)
from .protocol import Store
from .rollup import Buckets
from .sqlite import SQLiteStore
from .sqlite_core import Clock, engine_version

__all__ = [
    "CHECKPOINT_KINDS",
    "COMMAND_STATUSES",
    "DB_FILENAME",
    "LAUNCH_STATUSES",
    "LIVE_STATUSES",
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "Batch",
    "Buckets",
    "Changes",
    "Checkpoint",
    "Clock",
    "Command",
    "CompactResult",
    "Conflict",
    "Event",
    "Host",
    "InvalidInput",
    "Launch",
    "LogLine",
    "Media",
    "NotFound",
    "Points",
    "Project",
    "Run",
    "RunProgress",
    "SQLiteStore",
    "SeriesInfo",
    "Store",
    "StoreError",
    "TooLarge",
    "Unavailable",
    "db_path",
    "engine_version",
    "open_store",
]

DB_FILENAME = "traindeck.db"


def db_path(url_or_path: str | Path) -> Path:
    """The SQLite file a URL, a file path or a folder names."""
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):])
    if "://" in text:
        raise InvalidInput(f"unsupported store URL {text!r} (only sqlite:/// for now)")
    path = Path(text)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return path
    return path / DB_FILENAME


def open_store(url_or_path: str | Path, *, clock: Clock | None = None) -> Store:
    """Open (creating and migrating if needed) the store a URL, file or folder names."""
    path = db_path(url_or_path)
    return SQLiteStore(path) if clock is None else SQLiteStore(path, clock=clock)
