"""Small helpers every test tier uses (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, Protocol

import pytest

from traindeck.store import Clock, SQLiteStore, Store, open_store

#: The store every test opens (a URL template: ``{tmp}`` the test's temporary folder,
#: ``{name}`` the store's name, ``{id}`` a short name of the test's folder, for a
#: PostgreSQL schema); ``--store-url`` or ``--engine`` sets it (conftest.py).
STORE_URL_ENV = "TRAINDECK_TEST_STORE"
#: On PostgreSQL: the run files' folder of the test's store (its ``store_dir``).
FILES_ENV = "TRAINDECK_TEST_FILES"
DEFAULT_STORE_URL = "sqlite:///{tmp}/{name}/traindeck.db"


def store_url_for(template: str, tmp: Path, name: str = "td") -> str:
    """The URL ``template`` gives the store ``name`` of the test whose folder is ``tmp``."""
    short = hashlib.sha1(str(tmp).encode()).hexdigest()[:12]
    return template.format(tmp=tmp, name=name, id=short)


def open_test_store(tmp: Path, name: str = "td", *, clock: Clock | None = None) -> Store:
    """A store for the suite's engine, outside fixtures (e.g. a fresh one per Hypothesis
    example), its run files in ``tmp/name``; the caller closes it."""
    template = os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL
    return open_store(store_url_for(template, tmp, name), clock=clock,
                      files_root=Path(tmp) / name)


#: What a test's child keeps of traindeck's environment: the store the suite runs on.
KEPT_ENV = ("TRAINDECK_STORE", STORE_URL_ENV)


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without traindeck's variables (and those starting with
    ``prefixes``), as a fresh shell has it; but the store the suite runs on
    (``TRAINDECK_STORE``, set on PostgreSQL) stays."""
    drop = ("TRAINDECK_", *prefixes)
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) or k in KEPT_ENV}


def cli_store_args(store: Store) -> list[str]:
    """The CLI options naming ``store`` (its folder; and its URL on PostgreSQL)."""
    if (store.location or "").startswith("postgresql://"):
        return ["--store", store.location, "--dir", str(store.files_root)]
    return ["--dir", str(store.files_root)]


#: PostgreSQL: the stores of servers started outside a test (``start_server``), by folder.
FOLDER_STORES: dict[str, str] = {}


def open_dir_store(folder: str | Path) -> Store:
    """The store a CLI call or a training script given ``--dir folder`` opens: the one
    ``TRAINDECK_STORE`` names (set on PostgreSQL), its run files in ``folder``; else the
    SQLite store in ``folder``. The caller closes it."""
    url = FOLDER_STORES.get(str(folder)) or os.environ.get("TRAINDECK_STORE")
    return open_store(url, files_root=folder) if url else open_store(folder)


def server_settings(folder: str | Path, **fields: Any) -> Any:
    """The ``Settings`` of a server the test starts for ``folder``, as ``traindeck serve
    --dir folder`` makes them: with ``TRAINDECK_STORE`` (set on PostgreSQL) that store,
    its run files in ``folder``."""
    from traindeck.server import Settings

    url = os.environ.get("TRAINDECK_STORE")
    if url:  # the test's store: its run files where the store fixture keeps them
        root = fields.pop("files_root", None) or os.environ.get(FILES_ENV) or folder
        return Settings(dir=url, files_root=root, **fields)
    return Settings(dir=folder, **fields)


#: The start of a server script run as ``python -c CODE FOLDER PORT …``: its store as
#: ``traindeck serve --dir FOLDER`` opens it (``TRAINDECK_STORE`` when set).
SERVE_SCRIPT = ("import os, sys; from traindeck.server import Settings, serve; "
                "where = dict(dir=os.environ.get('TRAINDECK_STORE') or sys.argv[1], "
                "files_root=sys.argv[1]); ")


def is_postgres_suite() -> bool:
    """Whether the suite runs against PostgreSQL (``--engine postgresql``)."""
    return (os.environ.get(STORE_URL_ENV) or "").startswith("postgresql://")


class MakeStore(Protocol):
    """The ``make_store`` fixture (conftest.py): opens a store through ``open_store``;
    the same ``name`` opens the same store again, as a second process would."""

    def __call__(self, *, clock: Clock | None = None, name: str = "td") -> Store: ...


def sqlite_path(store: Store) -> Path:
    """The SQLite file of ``store``, for tests of what that file holds (SQLite-only: the
    test is skipped when the suite runs against another engine)."""
    if not isinstance(store, SQLiteStore):
        pytest.skip("SQLite-only: reads the database file itself")
    return store.path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.03) -> Any:
    """Poll ``cond`` until it returns something truthy (returned) or ``timeout`` passes.

    The deadline only bounds a failing test; nothing here asserts how long things take.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def missing(what: str) -> NoReturn:
    """Skip for a missing real component, or fail when ``TRAINDECK_REQUIRE_ALL=1`` (CI)."""
    if os.environ.get("TRAINDECK_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is missing; TRAINDECK_REQUIRE_ALL=1 requires it", pytrace=False)
    pytest.skip(f"{what} is missing")


def require_module(name: str) -> ModuleType:
    """Import ``name``, or skip/fail as :func:`missing` says."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name!r}")


def start_server(folder: Path, port: int, log: Path, settings: str = "") -> subprocess.Popen[bytes]:
    """``traindeck.server.serve`` on ``folder`` in a child process on 127.0.0.1:``port``
    (stderr appended to ``log``), returned once ``/health`` answers. ``settings`` adds
    keyword arguments to ``Settings(...)``, e.g. ``", max_batch_bytes=2000"``."""
    import httpx

    code = SERVE_SCRIPT + f"serve(Settings(**where, port=int(sys.argv[2]){settings}))"
    env = dict(os.environ)
    if is_postgres_suite() and not env.get("TRAINDECK_STORE"):
        # started outside a test (a module's server): the folder's own store, as SQLite
        # has one per folder; ``open_dir_store(folder)`` finds it
        url = store_url_for(os.environ[STORE_URL_ENV], folder.parent, folder.name)
        FOLDER_STORES[str(folder)] = env["TRAINDECK_STORE"] = url
    with log.open("ab") as sink:
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(port)],
                                stdout=subprocess.DEVNULL, stderr=sink, env=env)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, "server up")
    return proc


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Ask a child (a server) to end; kill it if it has not within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def series_checksum(values: Any) -> str:
    """sha256 of a series' values as float64 (NaN bit patterns included)."""
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def group_gone(pgid: int) -> bool:
    """Whether no process of process group ``pgid`` is left (zombies count as left)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: still there
        return False
    return False


def make_v13_store(path: Path) -> None:
    """Turn a file into what traindeck wrote before migration 14: every chunk raw, no
    ``codec`` column, no chunk groups."""
    conn = sqlite3.connect(path)
    from traindeck.store import chunks, packing

    raw = packing.Packer(packing.RAW)
    cols = chunks.ROW_COLS
    for table in ("chunks", "open_chunks"):
        rows = conn.execute(f"SELECT series_id, {cols} FROM {table}").fetchall()
        for sid, *row in rows:
            enc = chunks.encode(chunks.decode(*row), raw)
            conn.execute(f"UPDATE {table} SET steps = ?, times = ?, vals = ?, rollup = ?, "
                         "codec = 0 WHERE series_id = ? AND step_lo = ?",
                         (enc[4], enc[5], enc[6], enc[7], sid, row[0]))
    conn.execute("DROP VIEW all_chunks")
    for table in ("chunks", "open_chunks"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN codec")
    conn.execute("CREATE VIEW all_chunks AS SELECT *, 0 AS tbl FROM chunks "
                 "UNION ALL SELECT *, 1 AS tbl FROM open_chunks")
    conn.execute("DROP TABLE chunk_groups")
    conn.execute("DROP TABLE chunk_rollups")
    conn.execute("DROP TABLE chunk_group_units")
    conn.execute("DROP TABLE chunk_group_subs")
    conn.execute("ALTER TABLE series DROP COLUMN written")  # migration 17's
    conn.execute("PRAGMA user_version = 13")
    conn.commit()
    conn.close()


def make_v14_store(path: Path) -> None:
    """Turn a file into what traindeck wrote before migration 15: the sub-block units of
    grouped chunks back in ``chunk_rollups``, a row each, and no ``chunk_group_subs``."""
    import numpy as np

    from traindeck.store import packing

    conn = sqlite3.connect(path)
    packer = packing.Packer(packing.PCODEC)
    for sid, lo, subs in conn.execute(
            "SELECT series_id, step_lo, subs FROM chunk_group_subs").fetchall():
        units = packing.unpack_units(subs, packing.PCODEC)
        end = conn.execute("SELECT step_end FROM chunk_groups WHERE series_id = ? "
                           "AND step_lo = ?", (sid, lo)).fetchone()[0]
        for c_lo, c_hi in conn.execute(
                "SELECT step_lo, step_hi FROM chunks WHERE series_id = ? AND step_lo >= ? "
                "AND step_lo < ?", (sid, lo, end)).fetchall():
            a, b = np.searchsorted(units["first_step"], [c_lo, c_hi + 1]).tolist()
            if b > a:
                conn.execute("INSERT INTO chunk_rollups VALUES (?, ?, ?)",
                             (sid, c_lo, packer.units_many(units[a:b], [0], [b - a])[0]))
    conn.execute("DROP TABLE chunk_group_subs")
    conn.execute("ALTER TABLE series DROP COLUMN written")  # migration 17's
    conn.execute("PRAGMA user_version = 14")
    conn.commit()
    conn.close()


def api_error(r: Any, status: int, code: str) -> str:
    """Assert that the API answered ``status`` with an error body of ``code`` (in the
    documented shape); the error's message."""
    from traindeck.server.schemas import ErrorBody

    assert r.status_code == status, r.text
    body = r.json()
    ErrorBody.model_validate(body)
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    return message
