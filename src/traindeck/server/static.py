"""The dashboard: the built React app (``index.html`` for client routes), or a note on how
to build it.

When ``<web_dir>/index.html`` exists (``npm run build`` writes it), files under ``web_dir``
are served as they are and any other ``GET`` path that is not reserved (``/api/…``,
``/ws``, …) gets ``index.html`` (the client routes it), unless it names a missing file
of a kind the build holds (``….js``, ``….css``, an image, a font: :data:`FILE_SUFFIXES`),
which is a 404. Vite names the files under ``assets/`` by their content hash, so those are
cached for a year (``immutable``) and sent gzipped to clients that accept it (compressed
once, kept in memory); ``index.html`` is always revalidated. Every page of the app gets
:data:`APP_CSP`.

Without a build, a page path gets :data:`NO_BUILD_PAGE` (503): a few lines saying how to
build the dashboard; the API works all the same.

This is the router's *default* handler, not a route: it runs only when no route matches
the path, so a known path asked with the wrong method still answers 405, and any method
on an unknown path answers 404 (``{"error": …}`` under ``/api``). Paths never leave
``web_dir``; a path the file system cannot take (a NUL byte, too long) is a 404, never a
500.
"""

from __future__ import annotations

import functools
import gzip
import html
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

#: The React app: its own scripts only; inline *style attributes* are allowed because
#: uPlot and React position elements with them (no inline scripts, nothing off-site).
APP_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_COMPRESSIBLE: Final = (".js", ".css", ".html", ".svg", ".json", ".map", ".txt")

#: The commands that build the dashboard (from a checkout), shown when it is missing.
BUILD_COMMAND: Final = "cd web && npm ci && npm run build"
#: The page served instead of the dashboard when it is not built: no script, no style.
NO_BUILD_PAGE: Final = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>traindeck · dashboard not built</title>
<link rel="icon" href="data:,"></head><body>
<h1>traindeck: the dashboard is not built</h1>
<p>This server has no built dashboard to show (no <code>index.html</code> in its web folder).
The API works: <a href="/api/runs">/api/runs</a>, <a href="/docs">/docs</a>.</p>
<p>From a checkout, build it (Node.js 20 or later) and restart the server:</p>
<pre>{html.escape(BUILD_COMMAND)}</pre>
<p>Or reinstall traindeck from a wheel, which carries the built dashboard:
<code>pip install --force-reinstall traindeck</code>.</p>
</body></html>
"""
#: Nothing on the note loads anything.
NO_BUILD_CSP: Final = "default-src 'none'; base-uri 'none'; form-action 'none'; " \
                      "frame-ancestors 'none'"

#: A missing path ending so names a file of the build, never a client route: 404.
FILE_SUFFIXES: Final = frozenset({".js", ".mjs", ".css", ".map", ".json", ".svg", ".png",
                                  ".jpg", ".ico", ".webp", ".woff", ".woff2", ".ttf",
                                  ".txt", ".wasm"})
#: Paths the dashboard never owns: unknown ones there are JSON 404s.
RESERVED: Final = ("api", "ws", "health", "docs", "redoc", "openapi.json")
_PAGE_METHODS: Final = ("GET", "HEAD")


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


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file; ``False`` for a name the OS refuses (a NUL byte,
    a name too long) instead of an error."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _inside(root: Path, path: str) -> Path | None:
    """``root / path`` resolved, when it stays inside ``root`` and the OS can name it."""
    if "\x00" in path:
        return None
    try:
        candidate = (root / path).resolve()
    except (OSError, ValueError):
        return None
    return candidate if candidate.is_relative_to(root) else None


class Dashboard:
    """The router's default handler: the dashboard's files and pages, else a 404."""

    def __init__(self, web_dir: Path) -> None:
        self.root = web_dir.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no such WebSocket route
            await send({"type": "websocket.close", "code": 1000})
            return
        response = self.respond(Request(scope, receive))
        await response(scope, receive, send)

    def respond(self, request: Request) -> Response:
        path = request.url.path.lstrip("/")
        if request.method not in _PAGE_METHODS or path.split("/", 1)[0] in RESERVED \
                or "\x00" in path:
            raise HTTPException(404, "no such route")
        index = self.root / "index.html"
        if not _is_file(index):
            return HTMLResponse(NO_BUILD_PAGE, status_code=503, headers={
                                    "cache-control": "no-store",
                                    "x-content-type-options": "nosniff",
                                    "content-security-policy": NO_BUILD_CSP})
        if path:
            candidate = _inside(self.root, path)
            if candidate is not None and _is_file(candidate):
                return _app_file(candidate, request, self.root)
            if path.startswith("assets/") or Path(path).suffix.lower() in FILE_SUFFIXES:
                # a missing build file, not a client route
                raise HTTPException(404, "no such file in the dashboard build")
        return _app_file(index, request, self.root)


def install(app: FastAPI, web_dir: Path) -> None:
    """Serve the dashboard wherever no route matches (see the module's docstring)."""
    app.router.default = Dashboard(web_dir)
