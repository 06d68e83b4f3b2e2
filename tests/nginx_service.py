"""A real nginx on 127.0.0.1 in front of several traindeck servers (importable as
``nginx_service``), with the configuration docs/deployment.md gives (``proxy_config``):
WebSocket upgrades passed on, no buffering (long polls, pushes), a dead server skipped.

Runs in the foreground as a child of the test (``daemon off``), its pid, logs and temp
folders in a temp folder. A machine without nginx skips, or fails under
``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from support import free_port, missing, wait_for

NGINX = "/usr/sbin/nginx"


def proxy_config(upstreams: Sequence[int], port: int, folder: Path) -> str:
    """The http block of docs/deployment.md for servers on ``upstreams``, listening on
    ``port``, with the paths a non-system nginx needs."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
                        for p in upstreams)
    temps = "\n".join(f"    {kind}_temp_path {folder / kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
user root;
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temps}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream traindeck {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://traindeck;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


@contextmanager
def running_nginx(upstreams: Sequence[int], folder: Path) -> Iterator[str]:
    """nginx over ``upstreams``; yields its URL."""
    if not Path(NGINX).exists() and shutil.which("nginx") is None:
        missing("nginx (apt-get install nginx)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(proxy_config(upstreams, port, folder))
    binary = NGINX if Path(NGINX).exists() else str(shutil.which("nginx"))
    checked = subprocess.run([binary, "-t", "-c", str(conf), "-p", str(folder)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, what="nginx in front of the servers")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
