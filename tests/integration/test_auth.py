"""Authentication over the real app (ASGI transport) and a real SQLite file.

Every route of the OpenAPI schema is walked, so a route added later is covered without
touching this file: with auth on, each answers 401 without a token (or with a bad one) and
403 with too small a scope, and is let through (neither 401 nor 403) with a big enough one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from support import MakeStore, open_dir_store, sqlite_path
from typer.testing import CliRunner

from traindeck.cli import app as cli_app
from traindeck.sdk.media import encode_png
from traindeck.server import Settings, create_app
from traindeck.server.auth import COOKIE_NAME, required_scope
from traindeck.server.schemas import ErrorBody
from traindeck.store import Store

Client = httpx.AsyncClient
#: The only schema routes that need no token.
PUBLIC_ROUTES = {("GET", "/health"), ("POST", "/api/session"), ("DELETE", "/api/session")}
METHOD_ORDER = {"get": 0, "patch": 1, "post": 2, "delete": 3}  # destructive ones last


def app_for(tmp_path: Path, store: Store, **settings: Any) -> Any:
    base: dict[str, Any] = {"dir": store.files_root, "web_dir": tmp_path / "no-web"}
    return create_app(Settings(**{**base, **settings}), store=store)


@pytest.fixture
async def client(tmp_path: Path, store: Store) -> AsyncIterator[Client]:
    app = app_for(tmp_path, store, auth=True)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            yield c


@pytest.fixture
def secrets(store: Store) -> dict[str, str]:
    return {scope: store.create_token(f"{scope}-token", scope)[1]
            for scope in ("read", "write", "admin")}


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


#: The one route whose scope depends on the resource: resuming a run started by hand.
RESUME = "/api/checkpoints/{checkpoint_id}/resume"

def path_ids(store: Store, tmp_path: Path) -> dict[str, str]:
    """A real id for every path parameter a route may have."""
    run = store.create_run(project="p", name="live")
    store.write_metrics(run.id, {"loss": ([0, 1], [1.0, 2.0], [0.5, 0.25])})
    command = store.create_command(run.id, "validate")
    ck_file = tmp_path / "td" / "runs" / run.id / "ck.pt"
    ck_file.parent.mkdir(parents=True, exist_ok=True)
    ck_file.write_bytes(b"weights")
    checkpoint = store.add_checkpoint(run.id, step=1, path=str(ck_file))
    image = tmp_path / "td" / "runs" / run.id / "media" / "k" / "0_0.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(encode_png(np.zeros((2, 2), np.uint8)))
    media, _ = store.add_media(run.id, key="k", step=0, path="media/k/0_0.png")
    return {"run_id": run.id, "command_id": command.id, "checkpoint_id": checkpoint.id,
            "token_id": store.create_token("victim", "read")[0].id,
            "media_id": str(media.id), "name": "some_template", "launch_id": "nolaunch",
            "path": f"artifacts/{ck_file.name}",
            "artifact_path": f"0/{run.id}/artifacts/notes.txt",
            "rule_id": store.create_rule(kind="heartbeat").id,
            "webhook_id": store.create_webhook("http://127.0.0.1:9/hook").id,
            "model_id": store.create_logged_model(project="p", run_id=run.id,
                                                  name="net", tags={"k": "v"}).id,
            "tag_key": "k"}


def routes(client_app: Any) -> list[tuple[str, str]]:
    schema = client_app.openapi()
    found = [(method.upper(), path) for path, methods in schema["paths"].items()
             for method in methods]
    return sorted(found, key=lambda r: (METHOD_ORDER.get(r[0].lower(), 9), r[1]))


def fill(path: str, ids: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in ids, f"no test id for path parameter {name!r}: add one to path_ids()"
        return ids[name]
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", one, path)


def refused(r: httpx.Response, code: str, mlflow_code: str) -> None:
    """The error shape: MLflow's on MLflow's routes (its client reads it), else ours."""
    if r.request.url.path.startswith(("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")):
        assert r.json()["error_code"] == mlflow_code, r.text
        return
    ErrorBody.model_validate(r.json())
    assert r.json()["error"]["code"] == code


def unauthorized(r: httpx.Response, *, bad_token: bool = False) -> None:
    assert r.status_code == 401, (r.request.method, r.request.url, r.text)
    refused(r, "unauthorized", "UNAUTHENTICATED")
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert ("invalid_token" in challenge) is bad_token


def forbidden(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.request.method, r.request.url, r.text)
    refused(r, "forbidden", "PERMISSION_DENIED")


async def call(c: Client, method: str, url: str, headers: dict[str, str] | None = None
               ) -> httpx.Response:
    body = {} if method in ("POST", "PATCH", "PUT") else None
    return await c.request(method, url, json=body, headers=headers)


async def test_every_schema_route_needs_a_token_of_the_right_scope(
    tmp_path: Path, store: Store, secrets: dict[str, str]
) -> None:
    app = app_for(tmp_path, store, auth=True)
    ids = path_ids(store, tmp_path)
    revoked_token, revoked = store.create_token("gone", "admin")
    store.revoke_token(revoked_token.id)
    all_routes = routes(app)
    assert len(all_routes) > 20
    assert {r for r in all_routes if required_scope(*r) is None} == PUBLIC_ROUTES
    weaker = {"write": "read", "admin": "write"}
    sessions = {scope: store.create_session(token.id, 3600)[1] for scope in secrets
                if (token := store.verify_token(secrets[scope])) is not None}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            for method, path in all_routes:
                needed = required_scope(method, path)
                if needed is None:
                    continue
                url = fill(path, ids)
                unauthorized(await call(c, method, url))
                for bad in (revoked, "td_" + "x" * 43, "not-a-token", secrets["read"] + "x"):
                    unauthorized(await call(c, method, url, bearer(bad)), bad_token=True)
                for bad in (revoked, secrets["admin"]):  # the cookie holds sessions only
                    c.cookies.set(COOKIE_NAME, bad)
                    unauthorized(await call(c, method, url), bad_token=True)
                c.cookies.clear()
                if needed in weaker:
                    forbidden(await call(c, method, url, bearer(secrets[weaker[needed]])))
                    c.cookies.set(COOKIE_NAME, sessions[weaker[needed]])
                    forbidden(await call(c, method, url))
                    c.cookies.clear()
            # Big enough: through to the route (whatever it answers). Destructive last.
            for method, path in all_routes:
                needed = required_scope(method, path) or "read"
                for scope in ("read", "write", "admin")[("read", "write", "admin")
                                                        .index(needed):]:
                    r = await call(c, method, fill(path, ids), bearer(secrets[scope]))
                    if path == RESUME and scope == "write":
                        # The checkpoint's run was started by hand: replaying the command
                        # line it recorded is for admins (docs/security.md, Launching).
                        assert r.status_code == 403 and "admin" in r.text, r.text
                        continue
                    assert r.status_code not in (401, 403), (method, path, scope, r.text)


async def test_auth_is_off_by_default_and_on_once_a_token_exists(
    tmp_path: Path, store: Store
) -> None:
    app = app_for(tmp_path, store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            assert (await c.get("/api/runs")).status_code == 200
            assert (await c.get("/api/session")).json() == {"auth": False, "token": None}
            token, secret = store.create_token("first", "read")  # the running server notices
            unauthorized(await c.get("/api/runs"))
            assert (await c.get("/api/runs", headers=bearer(secret))).status_code == 200
            store.revoke_token(token.id)  # revoking every token does not turn auth off
            unauthorized(await c.get("/api/runs"))
            unauthorized(await c.get("/api/runs", headers=bearer(secret)), bad_token=True)
            assert (await c.get("/health")).status_code == 200
    off = app_for(tmp_path, store, auth=False)
    async with off.router.lifespan_context(off):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=off),
                                     base_url="http://test") as c:
            assert (await c.get("/api/runs")).status_code == 200


async def test_the_bearer_scheme_is_case_insensitive_and_other_schemes_fail(
    client: Client, secrets: dict[str, str]
) -> None:
    for header in (f"bearer {secrets['read']}", f"BEARER  {secrets['read']} "):
        assert (await client.get("/api/runs",
                                 headers={"authorization": header})).status_code == 200
    for header in (f"Basic {secrets['read']}", secrets["read"], "Bearer"):
        unauthorized(await client.get("/api/runs", headers={"authorization": header}))


async def test_cookie_login_and_logout(client: Client, secrets: dict[str, str]) -> None:
    page = await client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"
    deep = await client.get("/docs", headers={"accept": "text/html"})
    assert deep.status_code == 303 and deep.headers["location"] == "/login?next=%2Fdocs"
    login = await client.get("/login")
    assert login.status_code == 200 and 'action="/api/session"' in login.text
    assert "script-src" not in login.headers["content-security-policy"]
    assert "form-action 'self'" in login.headers["content-security-policy"]
    assert "#ffb000" in login.text  # amber on black, like the dashboard

    bad = await client.post("/api/session", json={"token": "td_nope"})
    unauthorized(bad, bad_token=True)
    assert COOKIE_NAME not in bad.cookies
    assert (await client.post("/api/session", json={"nope": 1})).status_code == 422
    assert (await client.post("/api/session", content=b"{")).status_code == 422

    r = await client.post("/api/session", json={"token": secrets["read"]})
    assert r.status_code == 200
    assert r.json() == {"auth": True, "token": {
        "id": r.json()["token"]["id"], "name": "read-token", "scope": "read"}}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for attr in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert attr.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here
    assert secrets["read"] not in r.text
    assert (await client.get("/api/runs")).status_code == 200  # the cookie is sent now
    assert (await client.get("/")).status_code == 503  # logged in: the page (not built here)
    assert (await client.get("/api/session")).json()["token"]["scope"] == "read"
    forbidden(await client.post("/api/runs/x/commands", json={"name": "stop"}))
    assert (await client.get("/login")).status_code == 303  # already logged in

    out = await client.delete("/api/session")
    assert out.status_code == 204 and f'{COOKIE_NAME}=""' in out.headers["set-cookie"]
    unauthorized(await client.get("/api/runs"))


async def test_the_login_form_posts_and_redirects(client: Client, secrets: dict[str, str]
                                                  ) -> None:
    form = {"token": secrets["write"], "next": "/docs"}
    r = await client.post("/api/session", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/docs"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert (await client.get("/api/runs")).status_code == 200
    client.cookies.clear()
    evil = await client.post("/api/session", data={"token": secrets["write"],
                                                   "next": "https://evil.example/"})
    assert evil.headers["location"] == "/"
    client.cookies.clear()
    wrong = await client.post("/api/session", data={"token": "td_wrong", "next": "/docs"})
    assert wrong.status_code == 303
    assert wrong.headers["location"] == "/login?failed=1&next=%2Fdocs"
    assert "set-cookie" not in wrong.headers
    page = await client.get("/login?failed=1&next=%22%3E%3Cscript%3E")
    assert "not valid" in page.text and "<script>" not in page.text


async def test_the_cookie_is_secure_over_https(tmp_path: Path, store: Store,
                                               secrets: dict[str, str]) -> None:
    app = app_for(tmp_path, store, auth=True)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://test") as c:
            r = await c.post("/api/session", json={"token": secrets["read"]})
            assert "; secure" in r.headers["set-cookie"].lower()


async def test_public_paths_stay_public(client: Client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/login")).status_code == 200
    unauthorized(await client.get("/openapi.json"))
    unauthorized(await client.get("/no/such/page"))  # unknown paths leak nothing either
    unauthorized(await client.post("/health"))


async def test_cors_preflight_needs_no_token_and_allows_the_header(
    tmp_path: Path, store: Store, secrets: dict[str, str]
) -> None:
    app = app_for(tmp_path, store, auth=True, cors_origins=("http://ui.example",))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            pre = await c.options("/api/runs", headers={
                "origin": "http://ui.example", "access-control-request-method": "GET",
                "access-control-request-headers": "authorization"})
            assert pre.status_code == 200
            assert "authorization" in pre.headers["access-control-allow-headers"].lower()
            r = await c.get("/api/runs", headers={"origin": "http://ui.example",
                                                  **bearer(secrets["read"])})
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == "http://ui.example"


async def test_a_write_token_can_post_sdk_batches(
    tmp_path: Path, store: Store, secrets: dict[str, str], client: Client
) -> None:
    run = store.create_run(project="p", name="remote")
    batch = {"batch_id": "b1", "metrics": {"loss": {"steps": [0, 1], "times": [1.0, 2.0],
                                                    "values": [0.5, "NaN"]}}}
    url = f"/api/runs/{run.id}/batch"
    unauthorized(await client.post(url, json=batch))
    forbidden(await client.post(url, json=batch, headers=bearer(secrets["read"])))
    r = await client.post(url, json=batch, headers=bearer(secrets["write"]))
    assert r.status_code == 200, r.text
    assert store.latest(run.id)["loss"] is not None


async def test_a_token_bound_to_a_run_writes_to_that_run_only(
    tmp_path: Path, store: Store, secrets: dict[str, str], client: Client
) -> None:
    """``token create --run`` / ``{"run_id"}``: the token a training script gets may write
    to its run and read, and nothing else."""
    mine, other = (store.create_run(project="p", name=n) for n in ("mine", "other"))
    admin = bearer(secrets["admin"])
    made = await client.post("/api/tokens", json={"name": "script", "scope": "write",
                                                  "run_id": mine.id}, headers=admin)
    assert made.status_code == 201 and made.json()["run_id"] == mine.id
    bound = bearer(made.json()["secret"])
    batch = {"batch_id": "b1", "metrics": {"loss": {"steps": [0], "times": [1.0],
                                                    "values": [0.5]}}}
    ok = await client.post(f"/api/runs/{mine.id}/batch", json=batch, headers=bound)
    assert ok.status_code == 200, ok.text
    refused = await client.post(f"/api/runs/{other.id}/batch", json=batch, headers=bound)
    assert refused.status_code == 403 and mine.id in refused.json()["error"]["message"]
    forbidden(await client.patch(f"/api/runs/{other.id}", json={"notes": "x"}, headers=bound))
    forbidden(await client.post("/api/launches", json={"template": "t"}, headers=bound))
    assert "loss" not in store.latest(other.id)
    # nor through its own run's batch: another run's checkpoint or command ids are ignored
    ck = store.add_checkpoint(other.id, step=1, path="c.pt")
    store.set_status(other.id, "running")
    cmd = store.create_command(other.id, "validate")
    sneaky = {"batch_id": "b2", "checkpoints_deleted": [{"id": ck.id, "reason": "x"}],
              "checkpoint_best": ck.id,
              "command_results": [{"id": cmd.id, "ok": True, "result": {"forged": 1}}],
              "checkpoints": [{"id": ck.id, "step": 9, "path": "mine.pt", "kind": "regular",
                               "metrics": {}, "metadata": {}, "size": None, "sha256": None,
                               "host": None, "is_best": True}]}
    r = await client.post(f"/api/runs/{mine.id}/batch", json=sneaky, headers=bound)
    assert r.status_code == 200, r.text
    kept = store.list_checkpoints(other.id)
    assert [(c.id, c.step, c.is_best) for c in kept] == [(ck.id, 1, False)]
    assert store.get_command(cmd.id).status != "done"
    assert store.list_checkpoints(mine.id) == []
    assert (await client.get(f"/api/runs/{other.id}", headers=bound)).status_code == 200
    unknown = await client.post("/api/tokens", json={"name": "x", "run_id": "nope"},
                                headers=admin)
    assert unknown.status_code == 404
    # the CLI makes the same kind of token
    env: dict[str, str | None] = {"TRAINDECK_DIR": str(tmp_path / "cli"), "TERM": "dumb"}
    runner = CliRunner()
    with open_dir_store(tmp_path / "cli") as cli_store:
        run_id = cli_store.create_run(project="p", name="r").id
    made_cli = runner.invoke(cli_app, ["token", "create", "job", "--scope", "write",
                                       "--run", run_id], env=env)
    assert made_cli.exit_code == 0, made_cli.output
    with open_dir_store(tmp_path / "cli") as cli_store:
        assert [t.run_id for t in cli_store.list_tokens() if t.name == "job"] == [run_id]
    assert run_id in runner.invoke(cli_app, ["token", "list"], env=env).stdout
    refused_cli = runner.invoke(cli_app, ["token", "create", "job", "--run", "nope"], env=env)
    assert refused_cli.exit_code != 0 and "nope" in refused_cli.output


async def test_revoking_with_the_cli_makes_the_token_fail(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    env: dict[str, str | None] = {"TRAINDECK_DIR": str(tdir), "TERM": "dumb"}
    runner = CliRunner()
    secret = runner.invoke(cli_app, ["token", "create", "ci", "--scope", "write"],
                           env=env).stdout.strip()
    with open_dir_store(tdir) as store:
        app = create_app(Settings(dir=tdir, web_dir=tmp_path / "no-web"), store=store)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test") as c:
                assert (await c.get("/api/runs", headers=bearer(secret))).status_code == 200
                (token,) = store.list_tokens()
                listing = runner.invoke(cli_app, ["token", "list"], env=env).stdout
                assert token.id in listing and secret not in listing
                revoke = runner.invoke(cli_app, ["token", "revoke", token.id], env=env)
                assert revoke.exit_code == 0
                unauthorized(await c.get("/api/runs", headers=bearer(secret)), bad_token=True)


async def test_admins_manage_tokens_over_http(client: Client, secrets: dict[str, str]
                                              ) -> None:
    admin, write = bearer(secrets["admin"]), bearer(secrets["write"])
    forbidden(await client.get("/api/tokens", headers=write))
    forbidden(await client.post("/api/tokens", json={"name": "x"}, headers=write))
    made = await client.post("/api/tokens", json={"name": "bot", "scope": "write"},
                             headers=admin)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    body = made.json()
    assert body["scope"] == "write" and body["secret"].startswith("td_")
    new = bearer(body["secret"])
    assert (await client.post("/api/runs/nope/commands", json={"name": "stop"},
                              headers=new)).status_code == 404  # through: write is enough
    listing = await client.get("/api/tokens", headers=admin)
    names = [t["name"] for t in listing.json()["tokens"]]
    assert names == ["read-token", "write-token", "admin-token", "bot"]
    assert "secret" not in listing.text and "td_" not in listing.text
    for bad in ({"name": ""}, {"name": "x", "scope": "root"}, {"name": "x", "hash": "h"}):
        r = await client.post("/api/tokens", json=bad, headers=admin)
        assert r.status_code == 422, r.text
    revoked = await client.delete(f"/api/tokens/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    unauthorized(await client.get("/api/runs", headers=new), bad_token=True)
    assert (await client.delete("/api/tokens/nope", headers=admin)).status_code == 404


async def test_token_management_is_refused_while_auth_is_off(
    tmp_path: Path, store: Store
) -> None:
    app = app_for(tmp_path, store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as c:
            r = await c.post("/api/tokens", json={"name": "sneaky", "scope": "admin"})
            forbidden(r)
            assert "traindeck token create" in r.json()["error"]["message"]
            forbidden(await c.get("/api/tokens"))
    assert not store.has_tokens(include_revoked=True)


async def test_another_site_cannot_log_its_visitors_in(client: Client,
                                                       secrets: dict[str, str]) -> None:
    for origin in ("http://evil.example", "null", "http://test.evil.example"):
        r = await client.post("/api/session", data={"token": secrets["read"]},
                              headers={"origin": origin})
        forbidden(r)
        assert "set-cookie" not in r.headers
    r = await client.post("/api/session", data={"token": secrets["read"]},
                          headers={"origin": "http://test"})
    assert r.status_code == 303 and COOKIE_NAME in r.headers["set-cookie"]


# -- login sessions (defect 20: the cookie held the bearer token itself) -------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def log_in(c: Client, secret: str) -> str:
    r = await c.post("/api/session", json={"token": secret})
    assert r.status_code == 200, r.text
    cookie = c.cookies.get(COOKIE_NAME)
    assert cookie is not None
    return cookie


def with_cookie(value: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE_NAME}={value}"}


async def test_the_cookie_holds_a_session_not_the_token(
    client: Client, store: Store, secrets: dict[str, str]
) -> None:
    cookie = await log_in(client, secrets["read"])
    assert cookie != secrets["read"] and secrets["read"] not in cookie
    assert not cookie.startswith("td_")  # nothing token-shaped: it cannot be used as one
    unauthorized(await client.get("/api/runs", headers=bearer(cookie)), bad_token=True)
    token = store.verify_token(secrets["read"])
    assert token is not None
    [session] = store.list_sessions(token.id)
    assert session.ended_at is None and session.expires_at > session.created_at
    db = sqlite_path(store)
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert cookie.encode() not in raw  # only its hash is stored
    client.cookies.clear()
    assert (await client.get("/api/runs", headers=with_cookie(cookie))).status_code == 200


async def test_logging_out_ends_the_session(
    client: Client, secrets: dict[str, str]
) -> None:
    cookie = await log_in(client, secrets["write"])
    out = await client.delete("/api/session")
    assert out.status_code == 204
    client.cookies.clear()
    unauthorized(await client.get("/api/runs", headers=with_cookie(cookie)), bad_token=True)
    # the token itself still works, and logs in again
    assert (await client.get("/api/runs", headers=bearer(secrets["write"]))).status_code == 200
    again = await log_in(client, secrets["write"])
    assert again != cookie


async def test_revoking_the_token_ends_its_sessions(
    client: Client, store: Store, secrets: dict[str, str]
) -> None:
    first = await log_in(client, secrets["read"])
    client.cookies.clear()
    second = await log_in(client, secrets["read"])
    client.cookies.clear()
    other = await log_in(client, secrets["write"])
    client.cookies.clear()
    token = store.verify_token(secrets["read"])
    assert token is not None
    revoked = await client.delete(f"/api/tokens/{token.id}", headers=bearer(secrets["admin"]))
    assert revoked.status_code == 200
    for cookie in (first, second):
        unauthorized(await client.get("/api/runs", headers=with_cookie(cookie)), bad_token=True)
    assert (await client.get("/api/runs", headers=with_cookie(other))).status_code == 200


async def test_an_expired_session_is_refused(tmp_path: Path, make_store: MakeStore) -> None:
    clock = FakeClock()
    store = make_store(clock=clock)
    try:
        _, secret = store.create_token("reader", "read")
        app = app_for(tmp_path, store, auth=True, session_max_age=3600.0)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test") as c:
                r = await c.post("/api/session", json={"token": secret})
                assert "max-age=3600" in r.headers["set-cookie"].lower()
                cookie = c.cookies[COOKIE_NAME]
                c.cookies.clear()
                clock.now += 3599
                assert (await c.get("/api/runs", headers=with_cookie(cookie))).status_code \
                    == 200
                clock.now += 2
                unauthorized(await c.get("/api/runs", headers=with_cookie(cookie)),
                             bad_token=True)
    finally:
        store.close()
