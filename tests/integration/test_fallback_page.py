"""The built-in dashboard served when the React build is missing: the page and its assets.

In process (ASGI transport) over a real SQLite file; the browser side is ``tests/e2e``.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from traindeck.server import Settings, create_app
from traindeck.server.static import ASSETS, ASSETS_DIR, FALLBACK_PAGE
from traindeck.store import SQLiteStore

#: Any absolute URL (the script builds its socket's URL from location.host).
EXTERNAL_URL = re.compile(r"(?:https?|wss?|ftp):?//[\w\[]", re.IGNORECASE)
#: What would put strings into the page as markup.
MARKUP_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                "new Function")


@pytest.fixture
async def client(tmp_path: Path, store: SQLiteStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(dir=store.path, web_dir=tmp_path / "no-web"), store=store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            yield c


async def test_the_page_is_html_with_a_strict_policy_and_no_external_urls(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == FALLBACK_PAGE
    assert not EXTERNAL_URL.search(page.text)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # every reference stays on this server, and the favicon asks for nothing
    refs = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert sorted(refs) == sorted(
        ["data:,", *(f"/_fallback/{name}?v={_version()}" for name in ASSETS)])
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline


def _version() -> str:
    from traindeck._version import __version__
    return __version__


@pytest.mark.parametrize(("name", "media_type"), sorted(ASSETS.items()))
async def test_assets_are_served_with_their_types_gzipped_and_revalidated(
    client: httpx.AsyncClient, name: str, media_type: str,
) -> None:
    source = (ASSETS_DIR / name).read_bytes()
    plain = await client.get(f"/_fallback/{name}", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"] == media_type
    assert "content-encoding" not in plain.headers
    assert plain.content == source
    assert plain.headers["cache-control"] == "no-cache"
    assert plain.headers["x-content-type-options"] == "nosniff"

    zipped = await client.get(f"/_fallback/{name}?v=1", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == media_type
    assert zipped.content == source  # httpx decodes
    assert int(zipped.headers["content-length"]) == len(gzip.compress(source, mtime=0))

    again = await client.get(f"/_fallback/{name}",
                             headers={"if-none-match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_unknown_assets_are_json_404s(client: httpx.AsyncClient) -> None:
    for path in ("/_fallback/nope.js", "/_fallback/..%2Fstatic.py", "/_fallback/"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert (await client.get("/favicon.ico")).status_code == 404  # the page never asks


def test_the_page_is_small_self_contained_and_never_writes_markup() -> None:
    total = len(FALLBACK_PAGE.encode())
    for name in ASSETS:
        text = (ASSETS_DIR / name).read_text(encoding="utf-8")
        total += len(text.encode())
        assert not EXTERNAL_URL.search(text), name
        assert "@import" not in text and "url(" not in text, name
        for sink in MARKUP_SINKS:
            assert sink not in text, (name, sink)
    assert total < 40 * 1024
    script = (ASSETS_DIR / "fallback.js").read_text(encoding="utf-8")
    # what the page promises: live updates with a reconnect cursor, and the REST it reads
    for needle in ("/ws", "'subscribe'", "since:", "event_seq", "/metrics/buckets",
                   "/commands", "/events", "metric_update", "command_update",
                   "status_change", "run_update"):
        assert needle in script, needle


async def test_the_built_dashboard_replaces_the_page(tmp_path: Path, store: SQLiteStore) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<html>spa</html>")
    app = create_app(Settings(dir=store.path, web_dir=web), store=store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            r = await c.get("/")
            assert r.text == "<html>spa</html>"
            assert "script-src 'self';" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-cache"


async def test_built_assets_are_gzipped_cached_and_contained(tmp_path: Path,
                                                             store: SQLiteStore) -> None:
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>spa</html>")
    script = "console.log('dashboard');\n" * 200
    (web / "assets" / "index-abc123.js").write_text(script)
    (tmp_path / "secret.txt").write_text("do not serve")
    app = create_app(Settings(dir=store.path, web_dir=web), store=store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            r = await c.get("/assets/index-abc123.js", headers={"accept-encoding": "gzip"})
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            assert "immutable" in r.headers["cache-control"]
            assert r.text == script  # httpx decompresses
            assert int(r.headers["content-length"]) < len(script) / 5
            plain = await c.get("/assets/index-abc123.js", headers={"accept-encoding": "identity"})
            assert "content-encoding" not in plain.headers and plain.text == script
            # client routes get the page; a missing build file is a 404, not the page
            assert (await c.get("/runs/abc")).text == "<html>spa</html>"
            gone = await c.get("/assets/index-old.js")
            assert gone.status_code == 404 and gone.json()["error"]["code"]
            # nothing outside web_dir is reachable
            for bad in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
                r = await c.get(bad)
                assert "do not serve" not in r.text, bad
            assert (await c.get("/api/nope")).status_code == 404
