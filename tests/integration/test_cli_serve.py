"""``traindeck serve`` as a user runs it: the installed entry point in a real process."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support import clean_env, free_port, open_dir_store


def traindeck_command() -> list[str]:
    """The console script installed beside this Python, else ``python -m traindeck.cli``."""
    script = Path(sys.executable).parent / "traindeck"
    if script.exists():
        return [str(script)]
    found = shutil.which("traindeck")
    return [found] if found else [sys.executable, "-m", "traindeck.cli"]



def first_get(proc: subprocess.Popen[str], url: str) -> httpx.Response:
    """GET ``url`` from a ``traindeck serve`` process that is still starting: the first
    answer it gives (the deadline only bounds a failing test)."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "server did not come up"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)

def test_serve_reads_traindeck_dir_serves_the_store_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    with open_dir_store(tdir) as store:
        run = store.create_run(project="p", name="before-the-server")
    port = free_port()
    env = clean_env()
    env["TRAINDECK_DIR"] = str(tdir)  # no --dir: the environment says where the store is
    with subprocess.Popen([*traindeck_command(), "serve", "--port", str(port)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 60
            listing = None
            while listing is None:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "server did not come up"
                try:
                    listing = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=2).json()
                except httpx.TransportError:
                    time.sleep(0.1)
            assert [r["id"] for r in listing["runs"]] == [run.id]
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_serve_roots_come_from_the_flag_and_the_environment(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    roots = [tmp_path / "ckpts-a", tmp_path / "ckpts-b"]
    with open_dir_store(tdir) as store:
        run = store.create_run(project="p")
        ids = []
        for i, root in enumerate(roots):
            root.mkdir()
            (root / "w.pth").write_bytes(f"weights {i}".encode())
            ids.append(store.add_checkpoint(run.id, step=i, path=str(root / "w.pth")).id)
    port = free_port()
    env = clean_env()
    env["TRAINDECK_SERVE_ROOTS"] = str(roots[0])
    command = [*traindeck_command(), "serve", "--dir", str(tdir), "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            first = first_get(proc, f"{base}/api/checkpoints/{ids[0]}/download")
            assert first.content == b"weights 0"
            second = httpx.get(f"{base}/api/checkpoints/{ids[1]}/download", timeout=2)
            assert second.status_code == 403
            assert f"--serve-root {roots[1].resolve()}" in second.json()["error"]["message"]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
    missing = subprocess.run([*command, "--serve-root", str(tmp_path / "nope")], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_serve_takes_a_files_root_apart_from_the_store(tmp_path: Path) -> None:
    """--files-root: run folders live there, not beside the database; downloads read them
    there and the system panel measures that disk."""
    tdir, files_root = tmp_path / "td", tmp_path / "scratch"
    with open_dir_store(tdir) as store:
        run = store.create_run(project="p")
        ck = store.add_checkpoint(run.id, step=1, path="checkpoints/w.pth").id
    (files_root / "runs" / run.id / "checkpoints").mkdir(parents=True)
    (files_root / "runs" / run.id / "checkpoints" / "w.pth").write_bytes(b"scratch weights")
    port = free_port()
    env = clean_env()
    env["TRAINDECK_FILES_ROOT"] = str(files_root)
    command = [*traindeck_command(), "serve", "--dir", str(tdir), "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            got = first_get(proc, f"{base}/api/checkpoints/{ck}/download")
            assert got.status_code == 200 and got.content == b"scratch weights"
            disk = httpx.get(f"{base}/api/system/status", timeout=5).json()["disk"]
            assert disk["path"] == str(files_root)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)


def test_a_long_request_line_sent_in_pieces_gets_an_answer_not_a_reset(
        tmp_path: Path) -> None:
    # a run table asking for many columns: a 45 KiB request line that reaches the server
    # in several reads (h11 alone resets the connection past 16 KiB)
    import socket
    from urllib.parse import quote

    port = free_port()
    env = clean_env()
    with subprocess.Popen([*traindeck_command(), "serve", "--port", str(port),
                           "--dir", str(tmp_path / "td")], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            first_get(proc, f"http://127.0.0.1:{port}/health")
            # 190 columns of metric keys with accents, percent-encoded: a valid request
            columns = ",".join(f"metric:{'é' * 40}{i}:last" for i in range(190))
            head = (f"GET /api/runs?columns={quote(columns, safe=',:')} HTTP/1.1\r\n"
                    "Host: x\r\nConnection: close\r\n\r\n").encode()
            assert len(head) > 40_000
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                for i in range(0, len(head), 4096):
                    sock.sendall(head[i:i + 4096])
                    time.sleep(0.01)  # each piece its own read
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
