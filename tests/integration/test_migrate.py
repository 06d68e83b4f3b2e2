"""``traindeck migrate``: a whole SQLite store copied into a real PostgreSQL (and back),
resumed after an interruption, verified, and usable afterwards.

Runs in both suites: the source is always a SQLite folder, the destination a schema of the
session's PostgreSQL cluster (``postgres``).
"""

from __future__ import annotations

import math
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pg_service import PostgresService
from support import clean_env

from traindeck.store import SQLiteStore, Store, open_store
from traindeck.store.migrate import TABLES, copy_store, verify
from traindeck.store.pg_schema import MATCHES_SQLITE
from traindeck.store.schema import SCHEMA_VERSION
from traindeck.store.tables import TableStore


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "traindeck.cli", "migrate", *args],
                          capture_output=True, text=True, timeout=300, env=clean_env())


def fill(store: Store) -> dict[str, Any]:
    """A store with a row of every kind: what the copy must carry."""
    a = store.create_run(project="vision", name="resnet", config={"lr": 0.1, "opt": {"b": 2}},
                         tags=["baseline"], total_steps=500_000)
    b = store.create_run(project="nlp", name="bert")
    gone = store.create_run(project="nlp", name="deleted")
    steps = np.arange(300_000, dtype=np.int64)  # full chunks, chunk groups and an open tail
    store.write_metrics(a.id, {"loss": (steps, 1000.0 + steps * 0.01, np.cos(steps / 500)),
                               "nan": ([0, 1, 2], [1.0, 2.0, 3.0], [math.nan, math.inf, -0.0])},
                        summary={"best": 0.5}, batch_id="batch-1")
    store.write_metrics(b.id, {"acc": ([0, 10], [1.0, 2.0], [0.1, 0.2])})
    store.set_status(a.id, "completed")
    store.delete_run(gone.id)
    store.add_event(b.id, "note", {"text": "hello"})
    cmd = store.create_command(b.id, "validate", {"n": 3}, requested_by="me")
    store.take_pending_commands(b.id)
    store.finish_command(cmd.id, ok=True, result={"val": 0.25})
    store.add_checkpoint(b.id, step=10, path="checkpoints/10.pt", metrics={"acc": 0.2},
                         size=4, sha256="ab" * 32, is_best=True)
    store.add_media(b.id, key="img", step=10, path="media/img/10.png", width=2, height=2)
    store.write_log_lines(b.id, [(1.0, "stdout", "epoch 1"), (2.0, "stderr", "warning")])
    launch = store.create_launch(run_id=b.id, spec={"command": ["python", "t.py"]})
    store.update_launch(launch.id, status="running", pid=123)
    token, secret = store.create_token("laptop", "admin")
    _session, cookie = store.create_session(token.id, 3600)
    store.add_host("gpu1", user="ml", address="127.0.0.1", port=2222)
    store.create_rule(kind="nan", project="vision", key="loss", severity="error")
    store.create_webhook("http://127.0.0.1:9/hook", "slack")
    store.create_logged_model(project="nlp", run_id=b.id, name="m", params={"k": "v"})
    return {"a": a.id, "b": b.id, "gone": gone.id, "secret": secret, "cookie": cookie}


def same_reads(x: Store, y: Store) -> None:
    """Everything a user reads through the store is the same in both."""
    runs_x, runs_y = x.list_runs(limit=100)[0], y.list_runs(limit=100)[0]
    assert runs_x == runs_y
    for run in runs_x:
        assert x.metric_keys(run.id) == y.metric_keys(run.id)
        for info in x.metric_keys(run.id):
            px, py = x.read_points(run.id, info.key), y.read_points(run.id, info.key)
            assert np.array_equal(px.steps, py.steps) and np.array_equal(px.times, py.times)
            assert px.values.tobytes() == py.values.tobytes()  # NaN, ±Inf and -0.0 exact
            bx, by = (s.read_buckets(run.id, info.key, n=200).columns() for s in (x, y))
            assert repr(bx) == repr(by)
        assert x.list_events(run.id) == y.list_events(run.id)
        assert x.list_commands(run.id) == y.list_commands(run.id)
        assert x.list_checkpoints(run.id) == y.list_checkpoints(run.id)
        assert x.list_media(run.id) == y.list_media(run.id)
        assert x.read_log_lines(run.id) == y.read_log_lines(run.id)
    assert x.list_projects() == y.list_projects()
    assert x.list_launches() == y.list_launches()
    assert x.list_tokens() == y.list_tokens()
    assert x.list_sessions() == y.list_sessions()
    assert x.list_hosts() == y.list_hosts()
    assert x.list_rules() == y.list_rules() and x.list_webhooks() == y.list_webhooks()
    assert x.list_logged_models() == y.list_logged_models()
    assert x.current_seq() == y.current_seq()


def test_a_sqlite_store_moves_to_postgresql_whole_and_goes_on_there(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    src = tmp_path / "old"
    with open_store(src) as store:
        made = fill(store)
    target = postgres.url(schema=f"m_{secrets.token_hex(4)}")
    done = migrate("--from", str(src), "--to", target, "--dir", str(src))
    assert done.returncode == 0, done.stderr
    assert "verified: 25 tables" in done.stdout
    with open_store(src) as old, open_store(target, files_root=src) as new:
        same_reads(old, new)
        token = new.verify_token(made["secret"])
        assert token is not None and token.name == "laptop"  # logins carry over
        assert new.verify_session(made["cookie"]) is not None
        gone = new.changes_since(0, 0).deleted_runs
        assert made["gone"] in gone  # followers still learn of the deletion
        # the copy goes on: new rows get new ids after the copied ones, seq moves on
        seq = new.current_seq()[0]
        new.write_metrics(made["b"], {"fresh": ([0], [1.0], [2.0])})
        new.add_event(made["b"], "note", {"text": "after"})
        assert new.current_seq()[0] > seq
        assert [e.payload.get("text") for e in new.list_events(made["b"])][-1] == "after"
        run = new.create_run(project="nlp", name="after")
        assert new.find_project("nlp").id == old.find_project("nlp").id
        assert new.get_run(run.id).name == "after"


def test_an_interrupted_copy_goes_on_when_run_again(tmp_path: Path,
                                                   postgres: PostgresService) -> None:
    src = tmp_path / "old"
    with open_store(src) as store:
        fill(store)
    target = postgres.url(schema=f"m_{secrets.token_hex(4)}")

    def stop_midway(table: str, done: int, total: int) -> None:
        if table == "chunks":  # the first chunk row is in, the others not
            raise KeyboardInterrupt

    old, new = open_store(src), open_store(target, files_root=src)
    assert isinstance(old, TableStore) and isinstance(new, TableStore)
    with old, new:
        with pytest.raises(KeyboardInterrupt):
            copy_store(old.engine_core, new.engine_core, stop_midway, page=1)
        assert new.list_runs()[1] == 2 and not any(c.ok for c in verify(
            old.engine_core, new.engine_core) if c.table == "chunks")
    done = migrate("--from", str(src), "--to", target, "--dir", str(src))
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    with open_store(src) as old_again, open_store(target, files_root=src) as copy:
        same_reads(old_again, copy)


def test_postgresql_back_to_sqlite_and_a_difference_is_told(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    src = postgres.url(schema=f"m_{secrets.token_hex(4)}")
    with open_store(src, files_root=tmp_path) as store:
        fill(store)
    back = f"sqlite:///{tmp_path / 'back' / 'traindeck.db'}"
    done = migrate("--from", src, "--to", back, "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    with open_store(src, files_root=tmp_path) as pg, open_store(back) as lite:
        assert isinstance(lite, SQLiteStore)
        same_reads(pg, lite)
        lite.create_run(project="extra", name="only in the copy")
    again = migrate("--from", src, "--to", back, "--dir", str(tmp_path))
    assert again.returncode == 1
    assert "runs: 2 rows in the source, 3 in the copy" in again.stderr
    assert "differs from the source in" in again.stderr and "Traceback" not in again.stderr


def test_migrate_refuses_what_it_cannot_do(tmp_path: Path, postgres: PostgresService) -> None:
    same = migrate("--from", str(tmp_path), "--to", str(tmp_path))
    assert same.returncode == 1 and "same store" in same.stderr
    url = postgres.url(schema="x")
    no_dir_needed = migrate("--from", url.replace(f":{postgres.port}", ":1"), "--to",
                            str(tmp_path / "copy"), "--dir", str(tmp_path))
    assert no_dir_needed.returncode == 1
    assert "cannot reach the PostgreSQL store" in no_dir_needed.stderr
    assert "Traceback" not in same.stderr + no_dir_needed.stderr


def test_pg_the_tables_copied_are_every_table_of_both_engines(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    """``migrate.TABLES`` names every table and column of SQLite's schema and of
    PostgreSQL's (a column added to one engine and not the other, or not copied, fails)."""
    with SQLiteStore(tmp_path / "s.db") as lite:
        conn = lite.core.reader()
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'meta'")]
        sqlite_cols = {t: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({t})"))
                       for t in names}
    schema = f"c_{secrets.token_hex(4)}"
    open_store(postgres.url(schema=schema), files_root=tmp_path).close()
    pg_cols: dict[str, list[str]] = {}
    for line in postgres.psql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            f"table_schema = '{schema}' AND table_name NOT IN ('meta', 'traindeck_schema', "
            "'all_chunks') ORDER BY table_name, ordinal_position").splitlines():
        table, column = line.split("|")
        pg_cols.setdefault(table, []).append(column)
    copied = {t: cols for t, _, cols in TABLES}
    assert MATCHES_SQLITE == SCHEMA_VERSION  # a SQLite migration comes with its twin
    assert copied == sqlite_cols
    assert copied == {t: tuple(c) for t, c in pg_cols.items()}
