"""The translation of the store's SQL (SQLite's dialect) for PostgreSQL: each rule once."""

from __future__ import annotations

import pytest

from traindeck.store.pg_sql import translate


def test_pg_placeholders_outside_quotes_and_percent_signs_doubled() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE '%?%' ESCAPE '\\'") == (
        "SELECT a FROM t WHERE b = %s AND c ILIKE '%%?%%' ESCAPE '\\'")


def test_pg_insert_or_ignore_goes_before_returning() -> None:
    assert translate("INSERT OR IGNORE INTO projects (name, created_at) VALUES (?, ?) "
                     "RETURNING id") == (
        "INSERT INTO projects (name, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING "
        "RETURNING id")
    assert translate("INSERT OR IGNORE INTO batches (run_id) VALUES (?)").endswith(
        "VALUES (%s) ON CONFLICT DO NOTHING")


def test_pg_insert_or_replace_is_an_upsert_on_the_key() -> None:
    sql = translate('INSERT OR REPLACE INTO chunk_rollups ("series_id", step_lo, rollup) '
                    "VALUES (?,?,?),(?,?,?)")
    assert sql == ('INSERT INTO chunk_rollups ("series_id", step_lo, rollup) '
                   "VALUES (%s,%s,%s),(%s,%s,%s) ON CONFLICT (series_id, step_lo) "
                   "DO UPDATE SET rollup = EXCLUDED.rollup")
    assert translate("INSERT OR REPLACE INTO deleted_runs (id) VALUES (?)").endswith(
        "ON CONFLICT (id) DO NOTHING")
    with pytest.raises(ValueError, match="no conflict key"):
        translate("INSERT OR REPLACE INTO nowhere (a) VALUES (?)")


def test_pg_sqlite_only_forms() -> None:
    assert translate("SELECT n FROM chunks INDEXED BY chunks_summary WHERE x = 9e999") == (
        "SELECT n FROM chunks WHERE x = 'Infinity'::double precision")
    assert translate("WITH s(id) AS (SELECT value FROM json_each(?)) SELECT id FROM s") == (
        "WITH s(id) AS (SELECT value::bigint AS value FROM "
        "json_array_elements_text(%s::json)) SELECT id FROM s")
    assert translate("SELECT 1 FROM json_each(r.tags) WHERE value = ?") == (
        "SELECT 1 FROM json_array_elements_text((r.tags)::json) WHERE value = %s")


def test_pg_urls_in_messages_never_carry_the_password() -> None:
    from traindeck.store import redact

    assert redact("postgresql://me:s3cret@db:5432/td?schema=x") == (
        "postgresql://me:***@db:5432/td?schema=x")
    assert redact("postgresql://db/td") == "postgresql://db/td"
    assert "s3cret" not in redact("postgresql://me:s3cret@db:port/td")
