"""SSH reattach: a restarted server → the console of a launch on an SSH host followed again
(issue 11 §5).

A real ``traindeck serve`` launches a script that prints a line every 50 ms on the tests'
loopback sshd (tests/sshd_service.py, tmux); once its lines are being stored, the server is
stopped (SIGTERM) and, after ``--down`` seconds, a new one is started on the same folder and
port. Timed from the new server's process start to the first console line stored that the
old server had not copied from the host (so it came through the new server's reattached
follower: SSH connected again, the remote log read from where it stopped), the store polled
every 10 ms, with the new server's ``/health`` for reference. Bar: at most 5 s.

    .venv/bin/python bench/ssh_reattach.py [--down 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from _launching import free_port, wait
from _remote import serve, sshd, stop

from traindeck.runfiles import RunFiles
from traindeck.store import open_store

SCRIPT = """
import itertools, time
for i in itertools.count():
    print(f"line {i}", flush=True)
    time.sleep(0.05)
"""


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--down", type=float, default=1.0, help="seconds with no server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, sshd() as server:
        tmp = Path(d)
        folder, templates = tmp / "td", tmp / "templates"
        (templates / "ticker").mkdir(parents=True)
        (templates / "ticker" / "train.py").write_text(SCRIPT)
        venv = Path(server.python).parent.parent
        (templates / "ticker" / "traindeck.yaml").write_text(textwrap.dedent(f"""
            command: python train.py
            remote: {{venv: {str(venv)!r}}}
            """))
        folder.mkdir()
        store = open_store(str(folder))
        store.add_host("gpu", user=server.user, address=server.host, port=server.port,
                       key_path=str(server.client_key), workdir=f"{server.workdir}/bench")
        (folder / "known_hosts").write_text(server.known_hosts_line + "\n")
        # a launch on another machine needs tokens required (the host reaches the server
        # through a forwarded port)
        _, secret = store.create_token("bench", "admin")
        auth = {"Authorization": f"Bearer {secret}"}
        port = free_port()
        url = f"http://127.0.0.1:{port}"

        first = serve(folder, port, templates)
        wait(lambda: healthy(url), 60, "the first server")
        r = httpx.post(f"{url}/api/launches", timeout=30, headers=auth,
                       json={"template": "ticker", "executor": "ssh", "host": "gpu"})
        if r.status_code != 201:
            raise SystemExit(f"launch refused: {r.status_code} {r.text}")
        run_id, launch_id = r.json()["run_id"], r.json()["id"]
        wait(lambda: len(store.read_log_lines(run_id, limit=100)) >= 40, 120,
             "the console", 0.05)
        stop(first)
        # what the old server had copied from the host (stored or not): a line after it
        # can only come from the host, through the new server's reattached follower
        copied = RunFiles(folder).console(run_id) / "stdout.log"
        last = max(int(x.split()[1]) for x in copied.read_text().splitlines()
                   if x.startswith("line "))
        time.sleep(args.down)

        def from_host() -> bool:
            return any(x.text.startswith("line ") and int(x.text.split()[1]) > last
                       for x in store.read_log_lines(run_id, tail=50))

        t0 = time.perf_counter()
        second = serve(folder, port, templates)
        try:
            wait(lambda: healthy(url), 60, "the new server", 0.01)
            health_s = time.perf_counter() - t0
            wait(from_host, 60, "a console line from the host", 0.01)
            line_s = time.perf_counter() - t0
            httpx.post(f"{url}/api/runs/{run_id}/cancel", timeout=30, headers=auth)
            wait(lambda: httpx.get(f"{url}/api/launches/{launch_id}", timeout=30, headers=auth)
                 .json()["status"] in ("cancelled", "failed", "completed"), 60, "the end", 0.1)
        finally:
            stop(second)
        store.close()
    print(json.dumps({
        "benchmark": "ssh_reattach",
        "line_every_s": 0.05,
        "server_down_s": args.down,
        "new_server_health_s": round(health_s, 2),
        "new_server_to_console_line_s": round(line_s, 2),
        "bar_s": 5.0,
        "met": line_s <= 5.0,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
