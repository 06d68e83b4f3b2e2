"""SQLite's "try again later" failures leave the store as ``Unavailable`` (never
``sqlite3``), and the server answers them 503 with ``Retry-After``. SQLite-only: a locked
file and a full database are made with SQLite itself."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from traindeck.server import Settings, create_app
from traindeck.store import SQLiteStore, StoreError, Unavailable


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A store file with one run."""
    path = tmp_path / "td" / "traindeck.db"
    with SQLiteStore(path) as s:
        s.create_run(project="p", id="r")
    return path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock on the file meanwhile."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_sqlite_locked_file_is_unavailable(path: Path) -> None:
    with SQLiteStore(path, busy_timeout=0.05) as store, locked(path):
        with pytest.raises(Unavailable, match="try again later"):
            store.update_run("r", notes="x")
        with pytest.raises(Unavailable):
            store.write_metrics("r", {"m": ([1], [1.0], [2.0])}, heartbeat=1.0)
    with SQLiteStore(path) as store:  # the lock is gone: the same writes work
        assert store.update_run("r", notes="x").notes == "x"


def test_a_write_waits_for_a_lock_held_for_a_while_and_then_lands(path: Path) -> None:
    """Another process holding the write lock makes a write wait (tried again and again,
    not failed), and the write lands once the lock is let go; the next one too."""
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locked(path):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    with SQLiteStore(path) as store:
        holder.start()
        try:
            assert held.wait(30)
            writing = threading.Thread(
                target=lambda: store.write_metrics("r", {"m": ([1], [1.0], [2.0])}))
            writing.start()
            writing.join(0.3)
            assert writing.is_alive()  # waiting for the lock, not failed
            release.set()
            writing.join(30)
            assert not writing.is_alive()
            assert store.read_points("r", "m").values.tolist() == [2.0]
            assert store.update_run("r", notes="after").notes == "after"
        finally:
            release.set()
            holder.join(30)


def test_sqlite_locked_file_at_open_is_unavailable(path: Path) -> None:
    with locked(path), pytest.raises(Unavailable):
        SQLiteStore(path, busy_timeout=0.05)


def test_sqlite_full_database_is_unavailable(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "t.db") as store:
        store.create_run(project="p", id="r")
        pages = store.core.reader().execute("PRAGMA page_count").fetchone()[0]
        with store.core.write() as tx:  # the file may not grow: "database or disk is full"
            tx.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(Unavailable, match="full"):
            store.update_run("r", config={"big": "x" * 100_000})
        assert store.get_run("r").config == {}  # nothing was written


def test_sqlite_damaged_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be read"):
        SQLiteStore(path)


async def test_sqlite_locked_file_answers_503_with_retry_after(path: Path,
                                                               tmp_path: Path) -> None:
    store = SQLiteStore(path, busy_timeout=0.05)
    try:
        app = create_app(Settings(dir=path.parent, web_dir=tmp_path / "no-web"), store=store)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            with locked(path):
                r = await c.patch("/api/runs/r", json={"notes": "x"})
                batch = await c.post("/api/runs/r/batch",
                                     json={"batch_id": "b", "heartbeat": 1})
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            assert r.json()["error"]["code"] == "unavailable"
            assert batch.status_code == 503
            again = await c.post("/api/runs/r/batch", json={"batch_id": "b", "heartbeat": 1})
            assert again.status_code == 200 and again.json()["applied"] is True
    finally:
        store.close()
