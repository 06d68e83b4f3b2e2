"""What only the PostgreSQL engine has: its URL, schemas, concurrent migrations, a server
that goes away and comes back, values PostgreSQL refuses. Against real clusters
(``pg_service``); the rest of the suite covers the engine through ``--engine postgresql``.
"""

from __future__ import annotations

import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from pg_service import PostgresService, start_postgres
from support import free_port

from traindeck.store import InvalidInput, Unavailable, open_store
from traindeck.store.pg_schema import MIGRATIONS


def test_pg_url_errors_are_clear_and_never_show_the_password(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    with pytest.raises(InvalidInput, match="folder for its run files"):
        open_store(postgres.url())
    with pytest.raises(Unavailable) as away:
        open_store(f"postgresql://me:hunter2@127.0.0.1:{free_port()}/db", files_root=tmp_path)
    assert "cannot reach the PostgreSQL store" in str(away.value)
    assert "hunter2" not in str(away.value) and "me:***@" in str(away.value)
    with pytest.raises(InvalidInput, match="schema"):
        open_store(postgres.url() + "?schema=", files_root=tmp_path)
    url = postgres.url(schema="s_pw").replace("postgres@", "postgres:s3cret@")
    with open_store(url, files_root=tmp_path) as store:  # trust auth ignores the password
        assert "s3cret" not in store.location + repr(store)
        assert store.engine_version().startswith("PostgreSQL ")


def test_pg_stores_in_one_database_keep_apart_by_schema(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    tag = secrets.token_hex(4)
    with open_store(postgres.url(schema=f"a_{tag}"), files_root=tmp_path / "a") as a, \
            open_store(postgres.url(schema=f"b {tag}"), files_root=tmp_path / "b") as b:
        a.create_run(project="p", id="only-a")
        b.create_run(project="p", id="only-b")
        assert [r.id for r in a.list_runs()[0]] == ["only-a"]
        assert [r.id for r in b.list_runs()[0]] == ["only-b"]
        assert a.files_root == tmp_path / "a"


def test_pg_servers_starting_together_migrate_once(postgres: PostgresService,
                                                   tmp_path: Path) -> None:
    schema = f"race_{secrets.token_hex(4)}"
    code = ("import sys; from traindeck.store import open_store; "
            "s = open_store(sys.argv[1], files_root=sys.argv[2]); "
            "s.create_run(project='p', name=sys.argv[3]); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres.url(schema=schema),
                               str(tmp_path), f"r{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    said = [p.communicate(timeout=120)[1] for p in procs]  # every pipe read and closed
    for p, err in zip(procs, said, strict=True):
        assert p.returncode == 0, err
    versions = postgres.psql(f'SELECT version FROM "{schema}".traindeck_schema')
    # every migration applied once, in order, whichever server got there first
    assert versions.split() == [str(n) for n in range(1, len(MIGRATIONS) + 1)]
    with open_store(postgres.url(schema=schema), files_root=tmp_path) as store:
        assert store.list_runs()[1] == 6


def test_pg_a_value_postgresql_refuses_is_bad_input(tmp_path: Path,
                                                   postgres: PostgresService) -> None:
    with open_store(postgres.url(schema=f"nul_{secrets.token_hex(4)}"),
                    files_root=tmp_path) as store:
        run = store.create_run(project="p", name="ok")
        with pytest.raises(InvalidInput):
            store.write_log_lines(run.id, [(1.0, "stdout", "a\x00b")])
        assert store.read_log_lines(run.id) == []  # nothing half-written
        store.write_log_lines(run.id, [(1.0, "stdout", "fine")])
        assert [line.text for line in store.read_log_lines(run.id)] == ["fine"]


def test_pg_a_database_that_goes_away_is_unavailable_then_comes_back(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="td-pg-"))  # where the postgres user can reach
    folder.chmod(0o755)
    own = start_postgres(folder, max_connections=20)
    try:
        with open_store(own.url(schema="s"), files_root=tmp_path) as store:
            run = store.create_run(project="p", name="before")
            own.stop()
            with pytest.raises(Unavailable):
                store.get_run(run.id)
            with pytest.raises(Unavailable):
                store.add_event(run.id, "note", {})
            own.start()
            assert store.get_run(run.id).name == "before"  # the pool reconnects
            store.add_event(run.id, "note", {"n": 1})  # and so does the writer
            assert [e.payload for e in store.list_events(run.id, kind="note")] == [{"n": 1}]
    finally:
        own.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_pg_the_store_sql_runs_as_written(tmp_path: Path, postgres: PostgresService) -> None:
    """SQLite's SQL through the translation: literal ``%`` and ``?`` inside quotes stay,
    with or without parameters; SQLite's scalar min/max and float64 blobs work."""
    from traindeck.store.postgres import PostgresStore

    with open_store(postgres.url(schema=f"sql_{secrets.token_hex(4)}"),
                    files_root=tmp_path) as store:
        assert isinstance(store, PostgresStore)
        reader = store.core.reader()
        assert reader.execute("SELECT '100%', 'a?b'").fetchone() == ("100%", "a?b")
        assert reader.execute("SELECT '100%', ?", ("x",)).fetchone() == ("100%", "x")
        assert reader.execute("SELECT min(2, 1), max(2, 1), min(1, NULL)").fetchone() == (
            1, 2, None)
        values = (1.5, -0.0, float("inf"), 5e-324, -1e308)
        for v in values:
            assert reader.execute("SELECT td_f8(?)", (struct.pack("<d", v),)).fetchone() == (v,)
        nan = struct.pack("<d", float("nan"))
        assert reader.execute("SELECT td_f8(?), td_rank(?)", (nan, nan)).fetchone() == (None, 1)


def test_pg_statements_sent_together_keep_their_order_and_fail_whole(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    """A write transaction's ``executemany`` statements wait and go with the next
    statement or the commit (one round trip); reads see them, and one that fails fails the
    whole transaction, at the commit at the latest. A snapshot's reads sent together
    answer each in order."""
    import psycopg

    from traindeck.store.engine import execute_all
    from traindeck.store.postgres import PostgresStore

    with open_store(postgres.url(schema=f"pipe_{secrets.token_hex(4)}"),
                    files_root=tmp_path) as store:
        assert isinstance(store, PostgresStore)
        run = store.create_run(project="p")
        insert = "INSERT INTO batches (run_id, batch_id, applied_at) VALUES (?, ?, ?)"
        with store.core.write() as tx:
            tx.conn.executemany(insert, [(run.id, "a", 1.0), (run.id, "b", 2.0)])
            # a read after them sees them
            assert tx.execute("SELECT batch_id FROM batches WHERE run_id = ? ORDER BY "
                              "batch_id", (run.id,)).fetchall() == [("a",), ("b",)]
            tx.conn.executemany(insert, [(run.id, "c", 3.0)])
        # a duplicate key among the waiting statements: the commit raises, nothing is kept
        with pytest.raises(psycopg.IntegrityError), store.core.write() as tx:
            tx.execute("UPDATE runs SET name = ? WHERE id = ?", ("renamed", run.id))
            tx.conn.executemany(insert, [(run.id, "d", 4.0), (run.id, "a", 5.0)])
        with store.core.read() as conn:
            ids, name, none = execute_all(conn, [
                ("SELECT batch_id FROM batches WHERE run_id = ? ORDER BY batch_id",
                 (run.id,)),
                ("SELECT name FROM runs WHERE id = ?", (run.id,)),
                ("SELECT 1 FROM runs WHERE id = ?", ("nope",))])
            assert ids.fetchall() == [("a",), ("b",), ("c",)]
            assert name.fetchone() == (run.name,)
            assert none.fetchone() is None
        # the store's own calls go on working after the failed transaction
        store.update_run(run.id, name="later")
        assert store.get_run(run.id).name == "later"


def test_pg_a_write_takes_the_lock_with_its_first_statement(
    tmp_path: Path, postgres: PostgresService,
) -> None:
    """A write transaction's ``BEGIN`` and lock go with its first statement: two servers
    over one store still write one at a time from that statement on, a transaction that
    sends nothing costs nothing and leaves the connection usable, one whose statements all
    wait sends them with its commit, and one that fails before sending anything rolls
    nothing back."""
    from traindeck.store.postgres import PostgresStore

    url = postgres.url(schema=f"lock_{secrets.token_hex(4)}")
    with open_store(url, files_root=tmp_path) as a, open_store(url, files_root=tmp_path) as b:
        assert isinstance(a, PostgresStore) and isinstance(b, PostgresStore)
        run = a.create_run(project="p")
        order: list[str] = []
        inside = threading.Event()

        def other() -> None:
            inside.wait(30)
            b.create_run(project="p", id="other")  # no row in common: waits for a's lock
            order.append("b")

        thread = threading.Thread(target=other)
        thread.start()
        with a.core.write() as tx:
            tx.execute("UPDATE runs SET notes = ? WHERE id = ?", ("a", run.id))
            inside.set()
            thread.join(1.0)  # b cannot write while a holds the lock
            assert thread.is_alive()
            order.append("a")
        thread.join(30)
        assert order == ["a", "b"] and a.get_run("other").project == "p"
        with a.core.write():
            pass  # nothing sent: nothing to commit
        with a.core.write() as tx:  # only statements that wait: all sent with the commit
            tx.conn.executemany("INSERT INTO batches (run_id, batch_id, applied_at) "
                                "VALUES (?, ?, ?)", [(run.id, "x", 1.0), (run.id, "y", 2.0)])
        assert b.core.reader().execute("SELECT count(*) FROM batches WHERE run_id = ?",
                                       (run.id,)).fetchone() == (2,)
        with pytest.raises(RuntimeError, match="before"), a.core.write():
            raise RuntimeError("failed before any statement")
        a.update_run(run.id, notes="after")
        assert b.get_run(run.id).notes == "after"


@pytest.mark.parametrize("looked_up", [2, 60])  # plain parameters, then arrays
def test_pg_a_lookup_by_key_stays_an_index_lookup_as_the_table_grows(
    tmp_path: Path, postgres: PostgresService, looked_up: int,
) -> None:
    """PostgreSQL keeps a prepared statement's plan (psycopg prepares a statement run five
    times), made while the table was small. A lookup by key (``engine.by_keys``: series,
    chunks, batch ids) must stay an index lookup a key once the table is big. As a plain
    join its plan, made on a table of 300 rows, was a hash join over a scan of the whole
    table: that made every group commit slower as a run went on."""
    import re

    import psycopg

    from traindeck.store.engine import by_keys
    from traindeck.store.pg_sql import translate
    from traindeck.store.postgres import PostgresStore

    schema = f"plan_{secrets.token_hex(4)}"
    with open_store(postgres.url(schema=schema), files_root=tmp_path) as store:
        assert isinstance(store, PostgresStore)
        run = store.create_run(project="p")
        store.write_metrics(run.id, {f"k{i}": ([0], [1.0], [0.5]) for i in range(300)})
        keys = [(run.id, f"k{i}") for i in range(looked_up)]
        found, args = by_keys(store.core.reader(), "series", "s", ("run_id", "key"),
                              ("text", "text"), keys)
        numbered = iter(range(1, 10_000))
        sql = re.sub("%s", lambda _: f"${next(numbered)}",
                     translate(f"SELECT s.id FROM {found}"))
        literal = ", ".join(
            "'{" + ",".join(a) + "}'" if isinstance(a, list) else f"'{a}'" for a in args)
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f'SET search_path = "{schema}"')
            conn.execute("ANALYZE series")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            conn.execute(f"PREPARE lookup AS {sql}")

            def plan() -> str:
                return "\n".join(row[0] for row in conn.execute(
                    f"EXPLAIN EXECUTE lookup({literal})"))

            assert "Index Scan" in plan()  # made now, on a table of 300 rows, and kept
            conn.execute("INSERT INTO series (run_id, key) SELECT %s, 'x' || g "
                         "FROM generate_series(1, 20000) g", (run.id,))
            after = plan()
        assert "Seq Scan on series" not in after and "Index Scan" in after, after
