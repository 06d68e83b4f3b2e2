"""What the server answers outside the API: the dashboard, the note when it is not built,
and unknown routes, against a real server (uvicorn on a free port, real HTTP).

Defects covered: 11 (unknown routes answered 405 for POST where 404 is promised) and 16 (an
encoded NUL in a path outside ``/api`` answered 500).
"""

from __future__ import annotations

import html
import importlib.resources
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import served

from traindeck.server import Settings, create_app
from traindeck.server.static import BUILD_COMMAND
from traindeck.store import Store

ASSET = "index-abc123.js"


def built(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>spa</html>")
    (web / "assets" / ASSET).write_text("console.log(1)")
    return web


@pytest.fixture(params=["built", "not built"])
def url(request: pytest.FixtureRequest, tmp_path: Path, store: Store) -> Iterator[str]:
    web = built(tmp_path) if request.param == "built" else tmp_path / "no-web"
    app = create_app(Settings(dir=store.files_root, web_dir=web), store=store)
    with served(app) as base:
        yield base


@pytest.fixture
def no_build(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def json_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == code


def test_without_a_build_pages_say_how_to_build_it(no_build: str) -> None:
    for path in ("/", "/runs/abc", "/login-later"):
        page = httpx.get(no_build + path)
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert html.escape(BUILD_COMMAND) in page.text  # cd web && npm ci && npm run build
        assert "pip install" in page.text
        assert "<script" not in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
    # the API works all the same
    assert httpx.get(no_build + "/api/runs").status_code == 200
    assert httpx.get(no_build + "/health").json() == {"status": "ok"}


def test_the_old_built_in_page_is_gone(url: str) -> None:
    for path in ("/_fallback/fallback.js", "/_fallback/fallback.css"):
        r = httpx.get(url + path)
        assert r.status_code in (404, 503), r.text  # 503: the note on how to build
        assert "fallback" not in r.text
        if r.status_code == 503:
            assert html.escape(BUILD_COMMAND) in r.text
    server = importlib.resources.files("traindeck.server")
    assert not server.joinpath("assets").is_dir()  # the package no longer ships it
    assert not any(p.name.startswith("fallback") for p in server.iterdir())


def test_with_a_build_client_routes_get_the_app(tmp_path: Path, store: Store) -> None:
    web = built(tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    with served(create_app(Settings(dir=store.files_root, web_dir=web), store=store)) as base:
        assert httpx.get(base + "/").text == "<html>spa</html>"
        assert httpx.get(base + "/runs/abc/charts").text == "<html>spa</html>"
        assert httpx.get(base + f"/assets/{ASSET}").text == "console.log(1)"
        assert "secret" not in httpx.get(base + "/..%2Fsecret.txt").text
        json_error(httpx.get(base + "/assets/missing.js"), 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_unknown_api_routes_are_404_for_every_method(url: str, method: str) -> None:
    """Defect 11: POST to an unknown route answered 405."""
    for path in ("/api/nope", "/api/runs/r1/nope", "/api/"):
        json_error(httpx.request(method, url + path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unknown_pages_are_404_for_writes(url: str, method: str) -> None:
    for path in ("/", "/nope", "/runs/abc"):
        json_error(httpx.request(method, url + path), 404, "not_found")


def test_a_known_route_with_another_method_is_still_405(url: str) -> None:
    json_error(httpx.put(url + "/api/runs"), 405, "method_not_allowed")
    json_error(httpx.post(url + "/health"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/%00", "/login%00", f"/assets/{ASSET}%00", "/runs/%00/x",
                                  "/%00/..", "/" + "a" * 5000])
def test_paths_the_file_system_refuses_are_404_not_500(url: str, path: str) -> None:
    """Defect 16: an encoded NUL answered 500 (ValueError: embedded null byte)."""
    r = httpx.get(url + path)
    if r.status_code == 200:  # a client route of the built app: the page, never the file
        assert r.text == "<html>spa</html>"
        return
    assert r.status_code in (404, 503), r.text
    assert r.status_code != 500
