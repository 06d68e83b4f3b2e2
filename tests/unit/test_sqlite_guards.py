"""Every store method the SQLite engine binds maps SQLite's failures to store errors
(``guard``): a caller of the ``Store`` protocol never sees ``sqlite3`` exceptions. An
unguarded one (``iter_all_checkpoints`` was, and nothing outside ``store/`` used it) is
either wrapped or leaves the protocol."""

from __future__ import annotations

from pathlib import Path

from traindeck.store import Store
from traindeck.store.sqlite import SQLiteStore

#: Members that are not calls into the database.
NOT_QUERIES = frozenset({"close"})


def test_sqlite_store_methods_are_all_guarded(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "traindeck.db")
    try:
        bound = [n for n in dir(Store) if not n.startswith("_") and n in vars(store)
                 and n not in NOT_QUERIES and callable(getattr(store, n))]
        assert len(bound) > 40
        unguarded = [n for n in bound if not hasattr(getattr(store, n), "__wrapped__")]
        assert unguarded == []
    finally:
        store.close()
