"""The store a store-only benchmark runs on: a SQLite file in its temp folder, or a
PostgreSQL URL (``--store``) or else a throwaway cluster started in that folder
(``tests/pg_service.py``: fsync off, as for any disposable cluster), stopped at the end."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


@contextmanager
def store_url(engine: str, given: str | None, tmp: Path, name: str) -> Iterator[str]:
    """A URL (or folder) for ``open_store``; ``name`` prefixes a throwaway schema."""
    if engine != "postgresql":
        yield str(tmp)
        return
    if given:
        yield given
        return
    sys.path.insert(0, str(TESTS))
    from pg_service import start_postgres

    folder = tmp / "pg"
    folder.mkdir()
    tmp.chmod(0o755)  # the cluster runs as postgres, which must reach its folder
    folder.chmod(0o755)
    cluster = start_postgres(folder)
    try:
        yield cluster.url(schema=f"{name}_{secrets.token_hex(3)}")
    finally:
        cluster.stop()
