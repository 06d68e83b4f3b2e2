"""Fixtures shared by every tier: a real store on a temp SQLite file, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from traindeck.store import SQLiteStore


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for a store (``traindeck.db`` inside it), as ``traindeck serve`` takes."""
    return tmp_path / "td"


@pytest.fixture
def store(store_dir: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(store_dir / "traindeck.db")
    yield s
    s.close()
