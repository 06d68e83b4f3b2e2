"""The SQLite file: migrations, pragmas, and several processes writing one file at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from support import make_v13_store

from traindeck.store import SQLiteStore
from traindeck.store.schema import MIGRATIONS, SCHEMA_VERSION


def tables(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


def test_new_file_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "t.db"  # the folder is created
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        conn = store.core.reader()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # persists in the file
    conn.close()
    names = {n for _, n in tables(path)}
    # Room for every entity of DESIGN section 3 from the start.
    assert names >= {
        "runs", "series", "chunks", "events", "commands", "checkpoints", "media", "artifacts",
        "log_lines", "launches", "tokens", "batches", "deleted_runs", "meta", "chunks_summary",
    }


def test_reopen_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SQLiteStore(path) as store:
        store.create_run(project="p", id="r")
        store.write_metrics("r", {"m": (np.arange(10), np.arange(10.0), np.ones(10))})
        seq = store.current_seq()
    before = tables(path)
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.current_seq() == seq  # nothing was written by opening
        assert store.read_buckets("r", "m", n=1).count == 10
    assert tables(path) == before


def test_version_1_file_is_upgraded(tmp_path: Path) -> None:
    """A file written before migration 2 (no summary index) opens, upgrades, and reads."""
    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:
        store.create_run(project="p", id="r")
        store.write_metrics("r", {"m": (np.arange(20_000), np.arange(20_000.0),
                                        np.arange(20_000.0))})
    make_v13_store(path)  # chunks raw, no chunk groups: as before migration 14
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX chunks_summary")
    # ... and before migration 3 (console heads, media sizes).
    conn.execute("DROP TABLE log_heads")
    conn.execute("DROP INDEX media_run")
    for col in ("width", "height", "size"):
        conn.execute(f"ALTER TABLE media DROP COLUMN {col}")
    # ... and before migration 4 (login sessions).
    conn.execute("DROP TABLE IF EXISTS sessions")
    # ... and before migration 5 (launches: a run's exit code, the launch's process).
    conn.execute("DROP INDEX launches_status")
    conn.execute("DROP INDEX launches_run")
    conn.execute("ALTER TABLE runs DROP COLUMN exit_code")
    for col in ("pid", "exit_code", "restarts", "error", "started_at", "ended_at"):
        conn.execute(f"ALTER TABLE launches DROP COLUMN {col}")
    # ... and before migration 6 (tokens bound to a run).
    conn.execute("ALTER TABLE tokens DROP COLUMN run_id")
    # ... and before migration 7 (SSH hosts).
    conn.execute("DROP TABLE hosts")
    # ... and before migration 8 (project numbers).
    conn.execute("DROP TABLE projects")
    # ... and before migration 9 (progress, speed and ETA).
    for col in ("total_steps", "progress", "steps_per_s", "eta_s"):
        conn.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    # ... and before migration 10 (alert rules and webhooks).
    conn.execute("DROP TABLE rules")
    conn.execute("DROP TABLE webhooks")
    conn.execute("DROP INDEX events_kind")
    conn.execute("DELETE FROM meta WHERE key = 'rules_seq'")
    # ... and before migration 11 (series by key).
    conn.execute("DROP INDEX series_key")
    # ... and before migration 12 (MLflow's logged models).
    conn.execute("DROP TABLE logged_models")
    # ... and before migration 13 (open chunks apart: they were among the full ones).
    conn.execute("INSERT INTO chunks SELECT * FROM open_chunks")
    conn.execute("DROP VIEW all_chunks")
    conn.execute("DROP TABLE open_chunks")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        # the projects of existing runs are numbered, `default` is 0
        assert [(p.id, p.name) for p in store.list_projects()] == [(0, "default"), (1, "p")]
        cols = store.read_buckets("r", "m", n=1).columns()
        assert cols["count"] == [20_000] and cols["max"] == [19_999.0] and cols["min"] == [0.0]
        plan = store.core.reader().execute(
            "EXPLAIN QUERY PLAN SELECT n, nf, vmin, vmax, vsum, step_lo, step_hi, first_time, "
            "last_time, min_time, max_time, last_value, nnan, npinf, nninf FROM chunks "
            "WHERE series_id = 1 ORDER BY step_lo"
        ).fetchall()
        assert "COVERING INDEX chunks_summary" in str(plan)


def test_version_15_file_moves_its_chunks_to_rowid_tables(tmp_path: Path) -> None:
    """Migration 16: a file whose chunk tables are ``WITHOUT ROWID`` (slow seeks among rows
    of kilobytes) gets them as rowid tables with a unique key, and reads the same points."""
    new = tmp_path / "new.db"
    steps = np.arange(0, 70 * 4096 + 900)  # full chunks enough for a chunk group
    with SQLiteStore(new) as store:
        store.create_run(project="p", id="r")
        store.write_metrics("r", {"m": (steps, steps * 0.5, np.sin(steps.astype(float)))})
        for at in range(len(steps), len(steps) + 5):  # a few appended open chunks
            store.write_metrics("r", {"m": ([at], [at * 0.5], [float(at)])})
        before = store.read_points("r", "m")
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    for migration in MIGRATIONS[:15]:
        conn.executescript(migration)
    conn.execute("PRAGMA user_version = 15")
    conn.execute("ATTACH ? AS new", (str(new),))
    big = ("chunks", "open_chunks", "chunk_group_units")
    for table in ("runs", "series", "chunk_rollups", "chunk_groups", "chunk_group_subs", *big):
        cols = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"DELETE FROM main.{table}")
        conn.execute(f"INSERT INTO main.{table} SELECT {cols} FROM new.{table}")
    conn.commit()
    assert all("WITHOUT ROWID" in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0] for t in big)
    counts = {t: conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0] for t in big}
    assert counts["open_chunks"] > 1 and counts["chunks"] >= 70
    assert counts["chunk_group_units"] >= 1
    conn.close()
    with SQLiteStore(old) as store:
        assert store.schema_version() == SCHEMA_VERSION
        after = store.read_points("r", "m")
        assert after.steps.tolist() == before.steps.tolist()
        assert after.values.tolist() == before.values.tolist()
        store.write_metrics("r", {"m": ([10 ** 6], [1.0], [2.0])})  # and appends
        assert store.read_points("r", "m", after_step=10 ** 6 - 1).steps.tolist() == [10 ** 6]
        reader = store.core.reader()
        for t in big:
            sql = reader.execute("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()
            assert "WITHOUT ROWID" not in sql[0], t
            assert reader.execute(f"SELECT count(*) FROM {t}").fetchone()[0] >= counts[t] - 1


def test_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match=r"newer than this traindeck.*upgrade traindeck"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)
    conn.close()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    store.close()
    store.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        store.create_run(project="p")


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from traindeck.store import SQLiteStore

    path, run_id, go, batches, size = sys.argv[1:6]
    batches, size = int(batches), int(size)
    while not Path(go).exists():
        time.sleep(0.005)
    store = SQLiteStore(path)  # both processes may create and migrate the file at once
    store.create_run(project="p", id=run_id)
    for b in range(batches):
        steps = np.arange(b * size, (b + 1) * size, dtype=np.int64)
        store.write_metrics(run_id, {
            "loss": (steps, steps.astype(np.float64), steps.astype(np.float64)),
            "acc": (steps[::-1], steps[::-1].astype(np.float64), np.full(size, float(b))),
        }, heartbeat=time.time())
        if b % 10 == 0:
            store.add_event(run_id, "note", {"b": b})
    store.close()
    """
)


def test_two_processes_write_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    go = tmp_path / "go"
    batches, size = 200, 500
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), run_id, str(go), str(batches), str(size)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for run_id in ("proc-a", "proc-b")
    ]
    time.sleep(0.3)  # let both interpreters start, then release them together
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]  # reap both before asserting
    for p, err in zip(procs, errors, strict=True):
        assert p.returncode == 0, err.decode()
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        total = batches * size
        for run_id in ("proc-a", "proc-b"):
            info = {s.key: s for s in store.metric_keys(run_id)}
            assert info["loss"].count == info["acc"].count == total
            b = store.read_buckets(run_id, "loss", n=batches)
            assert b.count == total and len(b) == batches
            pts = store.read_points(run_id, "loss")
            assert pts.steps.tolist() == list(range(total))
            assert len(store.list_events(run_id, kind="note")) == batches // 10
        # seq grew in commit order across both processes: every run, series and event once.
        ch = store.changes_since(0, 0, limit=100_000)
        assert sorted(r.id for r in ch.runs) == ["proc-a", "proc-b"]
        assert len(ch.series) == 4
        assert len({e.seq for e in ch.events}) == len(ch.events) == 2 + 2 * (batches // 10)
