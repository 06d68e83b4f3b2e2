"""traindeck's store: runs, metric series (chunked, with exact rollups), events, commands.

``open_store(url)`` picks the engine from a URL or a path: ``postgresql://…`` (the
PostgreSQL engine, ``postgres.py``; its run files in a folder given apart), or SQLite:
``sqlite:///path/to/file.db``, a plain path to a ``.db`` file, or a folder (the file
``traindeck.db`` inside it).
"""

from __future__ import annotations

from pathlib import Path

from .batch_wire import Batch
from .chunks import Points
from .engine import Clock
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
    SeriesChange,
    SeriesInfo,
)
from .protocol import Store
from .rollup import Buckets
from .sqlite import SQLiteStore
from .sqlite_core import engine_version
from .urls import redact

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
    "SeriesChange",
    "SeriesInfo",
    "Store",
    "StoreError",
    "TooLarge",
    "Unavailable",
    "db_path",
    "engine_version",
    "is_postgres",
    "is_url",
    "open_store",
    "redact",
]

DB_FILENAME = "traindeck.db"


def is_url(text: str | Path) -> bool:
    """Whether ``text`` is a store URL (``sqlite:///…``, ``postgresql://…``), not a path."""
    return "://" in str(text)


def is_postgres(text: str | Path) -> bool:
    return str(text).startswith(("postgresql://", "postgres://"))


def db_path(url_or_path: str | Path) -> Path:
    """The SQLite file a URL, a file path or a folder names."""
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):])
    if "://" in text:
        raise InvalidInput(f"not a SQLite store: {redact(text)!r} (a SQLite store is "
                           "sqlite:///path/to/file.db, a .db file or a folder)")
    path = Path(text)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return path
    return path / DB_FILENAME


def open_store(url_or_path: str | Path, *, clock: Clock | None = None,
               files_root: str | Path | None = None) -> Store:
    """Open (creating and migrating if needed) the store a URL, file or folder names.

    ``files_root`` is where run folders go: a PostgreSQL store needs one (``--dir``); a
    SQLite store keeps them beside its file unless given one.
    """
    text = str(url_or_path)
    if is_postgres(text):
        if files_root is None:
            raise InvalidInput("a PostgreSQL store needs a folder for its run files "
                               "(--dir or TRAINDECK_DIR)")
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise InvalidInput("a PostgreSQL store needs psycopg: pip install "
                               f"'traindeck[postgres]' ({exc})") from None
        if clock is None:
            return PostgresStore(text, files_root)
        return PostgresStore(text, files_root, clock=clock)
    if clock is None:
        return SQLiteStore(db_path(text), files_root=files_root)
    return SQLiteStore(db_path(text), files_root=files_root, clock=clock)
