"""API tokens in the store (hash only, scopes, revocation, last use) and ``traindeck token``
through typer's CliRunner over a real store in a temp folder."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest
from support import MakeStore, is_postgres_suite, open_dir_store, sqlite_path
from typer.testing import CliRunner, Result

from traindeck.cli import app
from traindeck.server.auth import REDACTED, RedactSecrets, redact, required_scope, safe_next
from traindeck.store import InvalidInput, NotFound, Store, db_path
from traindeck.store.token_rows import LAST_USED_RESOLUTION, TOKEN_SCOPES

SECRET = re.compile(r"^td_[A-Za-z0-9_-]{43}$")
CLEAN_ENV: dict[str, str | None] = {
    "TRAINDECK_DIR": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None,
    "TERM": "dumb",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=CLEAN_ENV)


def raw_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT * FROM tokens"))


# -- the store -------------------------------------------------------------------------


def test_a_token_is_stored_as_its_sha256_only(store: Store) -> None:
    token, secret = store.create_token("laptop", "write")
    assert SECRET.match(secret)
    assert (token.name, token.scope, token.revoked, token.last_used_at) == (
        "laptop", "write", False, None)
    rows = raw_rows(sqlite_path(store))
    assert len(rows) == 1 and secret not in repr(rows)
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    assert secret.encode() not in sqlite_path(store).read_bytes()
    other, other_secret = store.create_token("laptop", "write")
    assert other.id != token.id and other_secret != secret


def test_verify_accepts_the_secret_and_nothing_else(store: Store) -> None:
    token, secret = store.create_token("ci", "read")
    found = store.verify_token(secret)
    assert found is not None and found.id == token.id
    for bad in ("", secret[:-1], secret + "x", secret.upper(), "td_", "x" * 5000,
                hashlib.sha256(secret.encode()).hexdigest()):
        assert store.verify_token(bad) is None


def test_revoked_tokens_fail_and_stay_listed(store: Store) -> None:
    token, secret = store.create_token("old", "admin")
    assert store.has_tokens()
    revoked = store.revoke_token(token.id)
    assert revoked.revoked and store.verify_token(secret) is None
    assert store.revoke_token(token.id).revoked_at == revoked.revoked_at  # again: a no-op
    assert [t.id for t in store.list_tokens()] == [token.id]
    assert store.list_tokens(include_revoked=False) == []
    assert not store.has_tokens() and store.has_tokens(include_revoked=True)
    with pytest.raises(NotFound):
        store.revoke_token("nope")
    with pytest.raises(NotFound):
        store.get_token("nope")


def test_last_use_is_noted_at_a_coarse_resolution(make_store: MakeStore) -> None:
    clock = Clock()
    with make_store(clock=clock) as s:
        token, secret = s.create_token("t", "read")
        assert s.get_token(token.id).last_used_at is None
        s.verify_token(secret)
        first = clock.now
        assert s.get_token(token.id).last_used_at == first
        clock.now += LAST_USED_RESOLUTION / 2
        s.verify_token(secret)
        assert s.get_token(token.id).last_used_at == first  # not a write per request
        clock.now += LAST_USED_RESOLUTION
        s.verify_token(secret)
        assert s.get_token(token.id).last_used_at == clock.now


def test_names_and_scopes_are_checked(store: Store) -> None:
    for name, scope in (("", "read"), ("  ", "read"), ("x" * 101, "read"), ("a", "root"),
                        ("a", "READ")):
        with pytest.raises(InvalidInput):
            store.create_token(name, scope)
    assert not store.has_tokens(include_revoked=True)


def test_scopes_nest() -> None:
    assert TOKEN_SCOPES == ("read", "write", "admin")


def test_scope_of_each_request() -> None:
    assert required_scope("GET", "/health") is None
    assert required_scope("POST", "/api/session") is None
    assert required_scope("GET", "/login") is None
    assert required_scope("POST", "/health") == "write"
    assert required_scope("GET", "/api/session") == "read"
    assert required_scope("GET", "/") == "read"
    assert required_scope("GET", "/api/runs") == "read"
    assert required_scope("GET", "/openapi.json") == "read"
    for method in ("POST", "PATCH", "DELETE", "PUT"):
        assert required_scope(method, "/api/runs/x") == "write"
    assert required_scope("GET", "/api/tokens") == "admin"
    assert required_scope("DELETE", "/api/tokens/x") == "admin"
    assert required_scope("GET", "/api/tokensx") == "read"
    assert required_scope("GET", "/healthz") == "read"


def test_login_redirects_stay_on_this_site() -> None:
    assert safe_next("/docs?x=1") == "/docs?x=1"
    for bad in (None, "", "https://evil.example", "//evil.example", "/\\evil.example",
                "evil"):
        assert safe_next(bad) == "/"


def test_log_redaction() -> None:
    secret = "td_" + "A1b2-_" * 7
    assert redact(f"GET /ws?token={secret} 101") == f"GET /ws?token={REDACTED} 101"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s"', ("1.2.3.4", "GET", f"/x?token={secret}"), None)
    assert RedactSecrets().filter(record)
    assert secret not in record.getMessage() and REDACTED in record.getMessage()


# -- the CLI ---------------------------------------------------------------------------


def test_create_prints_the_secret_once_alone_on_stdout(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    result = invoke("token", "create", "laptop", "--scope", "write", "--dir", str(tdir))
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert SECRET.match(secret) and result.stdout == secret + "\n"
    assert "shown once" in result.stderr and secret not in result.stderr
    with open_dir_store(tdir) as s:
        (token,) = s.list_tokens()
        assert (token.name, token.scope) == ("laptop", "write")
        assert s.verify_token(secret) is not None
    if not is_postgres_suite():  # the secret is in no byte of the file (SQLite's)
        assert secret.encode() not in db_path(tdir).read_bytes()


def test_list_shows_tokens_but_never_secrets(tmp_path: Path) -> None:
    tdir = str(tmp_path / "td")
    open_dir_store(tdir).close()
    assert "no tokens yet" in invoke("token", "list", "--dir", tdir).stdout
    secrets = [invoke("token", "create", name, "--scope", scope, "--dir", tdir).stdout.strip()
               for name, scope in (("reader", "read"), ("writer", "write"), ("boss", "admin"))]
    listing = invoke("token", "list", "--dir", tdir)
    assert listing.exit_code == 0
    for name, scope in (("reader", "read"), ("writer", "write"), ("boss", "admin")):
        assert re.search(rf"{name}\s+{scope}\s", listing.stdout), listing.stdout
    for header in ("id", "name", "scope", "created", "last used", "revoked"):
        assert header in listing.stdout
    as_json = invoke("token", "list", "--json", "--dir", tdir)
    rows = json.loads(as_json.stdout)
    assert [r["name"] for r in rows] == ["reader", "writer", "boss"]
    assert set(rows[0]) == {"id", "name", "scope", "created_at", "last_used_at", "revoked_at",
                            "run_id"}
    for secret in secrets:
        assert SECRET.match(secret)
        assert secret not in listing.output and secret not in as_json.output
        assert secret[3:15] not in listing.output + as_json.output


def test_revoke_marks_the_token_and_it_stops_working(tmp_path: Path) -> None:
    tdir = str(tmp_path / "td")
    secret = invoke("token", "create", "ci", "--dir", tdir).stdout.strip()
    with open_dir_store(tdir) as s:
        (token,) = s.list_tokens()
    assert token.scope == "read"  # the default: the least
    result = invoke("token", "revoke", token.id, "--dir", tdir)
    assert result.exit_code == 0 and f"revoked token {token.id}" in result.stdout
    rows = json.loads(invoke("token", "list", "--json", "--dir", tdir).stdout)
    assert rows[0]["revoked_at"] is not None
    with open_dir_store(tdir) as s:
        assert s.verify_token(secret) is None
    unknown = invoke("token", "revoke", "nope", "--dir", tdir)
    assert unknown.exit_code == 1
    assert "no token 'nope' (see: traindeck token list)" in unknown.stderr


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    tdir = str(tmp_path / "td")
    bad_scope = invoke("token", "create", "x", "--scope", "root", "--dir", tdir)
    assert bad_scope.exit_code == 1 and "unknown scope 'root'" in bad_scope.stderr
    assert not (tmp_path / "td").exists()
    empty = invoke("token", "create", " ", "--dir", tdir)
    assert empty.exit_code == 1 and "needs a name" in empty.stderr
    assert "Traceback" not in bad_scope.output + empty.output


def test_sqlite_token_list_of_a_folder_without_a_store_says_so(tmp_path: Path) -> None:
    missing = invoke("token", "list", "--dir", str(tmp_path / "none"))
    assert missing.exit_code == 1 and "no traindeck store" in missing.stderr
    assert "Traceback" not in missing.output
