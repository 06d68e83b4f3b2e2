"""The dashboard: the built React app with SPA fallback, or a small built-in page.

When ``<web_dir>/index.html`` exists (``npm run build`` writes it), files under ``web_dir``
are served as they are and any other path that is not ``/api/…`` gets ``index.html`` (the
client routes it). Vite names the files under ``assets/`` by their content hash, so those
are cached for a year (``immutable``) and sent gzipped to clients that accept it (compressed
once, kept in memory); ``index.html`` is always revalidated. Every page of the app gets
:data:`APP_CSP`. Until then ``/`` serves :data:`FALLBACK_PAGE`, a live mini-dashboard
with no dependencies and no build step: the run list, charts of the selected run, its
system gauges, command buttons and event log, kept current over ``/ws``. Its script and
style sheet are the files of :data:`ASSETS` (``assets/`` beside this module, shipped in the
wheel), served at ``/_fallback/<name>`` (gzipped when the client accepts it, with an ETag).
Paths never leave ``web_dir``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

from traindeck._version import __version__

#: The fallback page's files: name → content type.
ASSETS: Final = {
    "fallback.js": "text/javascript; charset=utf-8",
    "fallback.css": "text/css; charset=utf-8",
}
ASSETS_DIR: Final = Path(__file__).resolve().parent / "assets"
#: Where the fallback page's files are served (a prefix the React build never uses).
ASSETS_PREFIX: Final = "_fallback"

#: Same-origin only: the page loads its own two files and talks to its own server
#: (``connect-src 'self'`` covers ``ws://`` of the same host); nothing inline, nothing else.
FALLBACK_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
#: The React app: its own scripts only; inline *style attributes* are allowed because
#: uPlot and React position elements with them (no inline scripts, nothing off-site).
APP_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_COMPRESSIBLE: Final = (".js", ".css", ".html", ".svg", ".json", ".map", ".txt")

FALLBACK_PAGE: Final = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>traindeck</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/{ASSETS_PREFIX}/fallback.css?v={__version__}">
<script src="/{ASSETS_PREFIX}/fallback.js?v={__version__}" defer></script>
</head><body>
<header id="top"><b>traindeck</b><span class="dim">v{__version__}</span>
<span id="count" class="dim"></span><span id="conn" class="bad">○ connecting</span>
<span class="dim grow">j/k move · enter select · click a chart: log scale</span>
<span id="clock" class="dim"></span></header>
<main>
<nav id="runs-pane"><div class="title">RUNS</div><ol id="runs" tabindex="0"></ol>
<div id="runs-empty" class="dim pad">no runs yet — start a script that calls
traindeck.init(), or run <b>traindeck demo</b></div></nav>
<section id="detail"><div id="none" class="dim pad">select a run</div>
<div id="run-head"></div>
<div id="actions"><span class="title">COMMANDS</span><span id="buttons"></span></div>
<div id="charts"></div>
<div id="bottom">
<div id="log-pane" class="box"><div class="title">EVENTS</div><ol id="log"></ol></div>
<div id="cmd-pane" class="box"><div class="title">COMMAND STATE</div><ol id="cmds"></ol></div>
<div id="sys-pane" class="box"><div class="title">SYSTEM</div><div id="sys"></div></div>
</div></section></main>
<noscript>this page needs JavaScript; the API is at /api/runs</noscript>
</body></html>
"""

#: Paths the dashboard never owns: unknown ones there are JSON 404s.
RESERVED: Final = ("api", "ws", "health", "docs", "redoc", "openapi.json")


@functools.lru_cache(maxsize=256)
def _gzipped(path: Path, mtime_ns: int, size: int) -> bytes:
    """A built file, gzipped (cached by path, mtime and size: a rebuild is picked up)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _app_file(path: Path, request: Request, root: Path) -> Response:
    immutable = path.parent == root / "assets"
    headers = {"x-content-type-options": "nosniff",
               "cache-control": _IMMUTABLE if immutable else "no-cache"}
    if path.suffix in (".html",):
        headers["content-security-policy"] = APP_CSP
    if path.suffix in _COMPRESSIBLE and "gzip" in request.headers.get("accept-encoding", ""):
        st = path.stat()
        media_type = FileResponse(path).media_type
        return Response(_gzipped(path, st.st_mtime_ns, st.st_size), media_type=media_type,
                        headers={**headers, "content-encoding": "gzip",
                                 "vary": "accept-encoding"})
    return FileResponse(path, headers=headers)


@functools.cache
def asset(name: str) -> tuple[bytes, bytes, str]:
    """A file of :data:`ASSETS`: its bytes, gzipped bytes and ETag (read once)."""
    data = (ASSETS_DIR / name).read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
    return data, gzip.compress(data, mtime=0), etag


def install(app: FastAPI, web_dir: Path) -> None:
    root = web_dir.resolve()

    @app.get(f"/{ASSETS_PREFIX}/{{name}}", include_in_schema=False)
    def fallback_asset(name: str, request: Request) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404, f"no route /{ASSETS_PREFIX}/{name}")
        data, zipped, etag = asset(name)
        headers = {**_HEADERS, "etag": etag, "vary": "accept-encoding"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(zipped, media_type=media_type,
                            headers={**headers, "content-encoding": "gzip"})
        return Response(data, media_type=media_type, headers=headers)

    @app.get("/{path:path}", include_in_schema=False)
    def dashboard(path: str, request: Request) -> Response:
        if path.split("/", 1)[0] in RESERVED:
            raise HTTPException(404, f"no route /{path}")
        index = root / "index.html"
        if index.is_file():
            if path:
                candidate = (root / path).resolve()
                if candidate.is_relative_to(root) and candidate.is_file():
                    return _app_file(candidate, request, root)
                if path.startswith("assets/"):  # a missing build file, not a client route
                    raise HTTPException(404, "no such file in the dashboard build")
            return _app_file(index, request, root)
        if path == "":
            return HTMLResponse(FALLBACK_PAGE, headers={
                **_HEADERS, "content-security-policy": FALLBACK_CSP,
            })
        raise HTTPException(404, f"no route /{path}")
