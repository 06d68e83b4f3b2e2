"""Console capture and images end to end: a real training process (the SDK in a child
process), a real server (``traindeck.server.serve`` in another), REST, and a real
WebSocket client. Remote mode and offline + ``traindeck sync`` carry lines exactly once."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from support import free_port, open_dir_store, start_server, wait_for
from websockets.asyncio.client import ClientConnection, connect

from traindeck.sdk.media import encode_png
from traindeck.server.protocol import SERVER_MESSAGE

TIMEOUT = 30.0

CHILD = r'''
import sys, time
import numpy as np
import traindeck as td

run = td.init(project="console", system_interval=None, strict=True)
print("READY", run.id, flush=True)
phases = int(sys.argv[1])
n = int(sys.argv[2])
for phase in range(phases):
    if phases > 1:
        sys.stdin.readline()
    for i in range(phase * n, (phase + 1) * n):
        print(f"Line {i} of the run", flush=True)
        if phases > 1:
            time.sleep(0.003)
    print(f"PHASE {phase} done", flush=True)
print("the token is td_supersecretvalue42 ok", file=sys.stderr)
sys.stdout.write("a partial line")
img = (np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3) * 3)
run.log({"loss": 0.5}, step=5)
run.log_image("samples", img, caption="step five")
run.finish()
print("FINISHED", flush=True)
'''

IMAGE = (np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3) * 3)


@pytest.fixture
def server_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    folder = tmp_path / "srv"
    proc = start_server(folder, port, tmp_path / "server.log", ", follow_interval=0.02")
    yield f"127.0.0.1:{port}", folder
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn(tmp_path: Path, env: dict[str, str], phases: int, n: int
          ) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(phases), str(n)],
        env={**os.environ, **env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    return line.split()[1]


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "FINISHED" in out
    return out, err


class Conn:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **msg: Any) -> None:
        await self.ws.send(orjson.dumps(msg).decode())

    async def recv(self) -> dict[str, Any]:
        msg: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        SERVER_MESSAGE.validate_python(msg)
        return msg

    async def lines_until(self, text: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while not any(x["text"] == text for x in got):
            msg = await self.recv()
            if msg["type"] == "log":
                got += msg["lines"]
        return got


async def test_lines_and_image_over_rest_and_websocket(tmp_path: Path,
                                                       server_dir: tuple[str, Path]) -> None:
    host, folder = server_dir
    url, ws_url = f"http://{host}", f"ws://{host}/ws"
    proc = spawn(tmp_path, {"TRAINDECK_DIR": str(folder)}, phases=2, n=150)
    assert proc.stdin is not None
    run_id = ready(proc)
    async with connect(ws_url) as raw:
        ws = Conn(raw)
        await ws.send(type="subscribe", run_id=run_id)
        ack = await ws.recv()
        assert ack["type"] == "subscribed" and isinstance(ack["cursor"]["log_seq"], int)
        start = ack["cursor"]["log_seq"]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        first = await ws.lines_until("PHASE 0 done")
        assert all(x["stream"] in ("stdout", "stderr") for x in first)
    # Disconnected while phase 1 prints; reconnect mid-stream with the cursor.
    proc.stdin.write("go\n")
    proc.stdin.flush()
    await asyncio.sleep(0.1)
    async with connect(ws_url) as raw:
        ws = Conn(raw)
        await ws.send(type="subscribe", run_id=run_id,
                      since={"log_seq": first[-1]["seq"]})
        ack = await ws.recv()
        assert ack["type"] == "subscribed"
        second = await ws.lines_until("PHASE 1 done")
    finish(proc)
    seqs = [x["seq"] for x in first + second]
    assert seqs == list(range(start + 1, seqs[-1] + 1)), "no holes, no duplicates"
    texts = [x["text"] for x in first + second]
    assert [t for t in texts if t.startswith("Line ")] == [
        f"Line {i} of the run" for i in range(300)]

    with httpx.Client(base_url=url, timeout=10) as c:
        body = c.get(f"/api/runs/{run_id}/logs", params={"q": "line 12", "limit": 50}).json()
        assert [x["text"] for x in body["lines"]] == [
            "Line 12 of the run", *[f"Line {i} of the run" for i in range(120, 130)]]
        assert body["next_seq"] == body["lines"][-1]["seq"]
        everything = c.get(f"/api/runs/{run_id}/logs", params={"limit": 10000}).json()
        all_texts = [x["text"] for x in everything["lines"]]
        assert "the token is td_[redacted] ok" in all_texts
        assert not any("supersecret" in t for t in all_texts)
        assert "a partial line" in all_texts
        tail = c.get(f"/api/runs/{run_id}/logs", params={"tail": 2}).json()["lines"]
        assert [x["seq"] for x in tail] == [x["seq"] for x in everything["lines"][-2:]]
        after = c.get(f"/api/runs/{run_id}/logs",
                      params={"after_seq": everything["next_seq"]}).json()
        assert after == {"lines": [], "next_seq": None}
        assert c.get("/api/runs/nope/logs").status_code == 404
        for bad in ({"limit": 0}, {"tail": 0}, {"after_seq": -1}, {"limit": "x"},
                    {"after_seq": 2**70}):
            r = c.get(f"/api/runs/{run_id}/logs", params=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"

        listing = c.get(f"/api/runs/{run_id}/media").json()
        assert listing["keys"] == ["samples"]
        [m] = listing["media"]
        assert (m["key"], m["step"], m["caption"], m["kind"]) == ("samples", 5, "step five",
                                                                  "image")
        assert (m["width"], m["height"]) == (8, 6)
        assert m["url"] == f"/api/media/{m['id']}/file"
        f = c.get(m["url"])
        assert f.status_code == 200 and f.headers["content-type"] == "image/png"
        assert f.content == encode_png(IMAGE)
        assert c.get(f"/api/runs/{run_id}/media", params={"step_min": 6}).json()["media"] == []
        assert c.get("/api/media/999999/file").status_code == 404
        assert c.get("/api/media/-1/file").status_code == 404
        assert c.get("/api/runs/nope/media").status_code == 404
        events = c.get(f"/api/runs/{run_id}/events", params={"kind": "media_logged"}).json()
        assert events["events"][0]["payload"]["id"] == m["id"]


def test_media_upload_route(server_dir: tuple[str, Path]) -> None:
    host, folder = server_dir
    png = encode_png(IMAGE)
    with httpx.Client(base_url=f"http://{host}", timeout=10) as c:
        run_id = "upload-run"
        c.post(f"/api/runs/{run_id}/batch", json={
            "batch_id": "b:1", "run": {"project": "p"}}).raise_for_status()
        params = {"key": "val images", "step": 3, "filename": "3_0.png", "caption": "c"}
        first = c.post(f"/api/runs/{run_id}/media", params=params, content=png)
        assert first.status_code == 201 and first.json()["created"] is True
        again = c.post(f"/api/runs/{run_id}/media", params=params, content=png)
        assert again.status_code == 200 and again.json()["created"] is False
        assert again.json()["media"]["id"] == first.json()["media"]["id"]
        assert (folder / "runs" / run_id / "media" / "val_images" / "3_0.png").read_bytes() == png
        assert c.get(first.json()["media"]["url"]).content == png
        for bad, status in (({**params, "filename": "../x.png"}, 422),
                            ({**params, "filename": "x.txt"}, 422),
                            ({**params, "key": "../up"}, 422),
                            ({**params, "filename": "4_0.jpg"}, 422),  # a PNG body
                            ({"key": "k", "step": 1}, 422)):
            r = c.post(f"/api/runs/{run_id}/media", params=bad, content=png)
            assert r.status_code == status, (bad, r.text)
        r = c.post(f"/api/runs/{run_id}/media", params={**params, "filename": "9_0.png"},
                   content=b"not a png")
        assert r.status_code == 422
        r = c.post("/api/runs/nope/media", params=params, content=png)
        assert r.status_code == 404
        assert len(c.get(f"/api/runs/{run_id}/media").json()["media"]) == 1

        # A batch with lines and an image, sent twice, is applied once.
        batch = {"batch_id": "b:2", "logs": [[1.0, "stdout", "one"], [2.0, "stderr", "two"]],
                 "media": [{"key": "k", "step": 1, "filename": "1_0.png", "caption": None,
                            "data": base64.b64encode(png).decode()}]}
        answers = [c.post(f"/api/runs/{run_id}/batch", json=batch).json()["applied"]
                   for _ in range(2)]
        assert answers == [True, False]
        lines = c.get(f"/api/runs/{run_id}/logs").json()["lines"]
        assert [(x["seq"], x["stream"], x["text"]) for x in lines] == [
            (1, "stdout", "one"), (2, "stderr", "two")]
        assert len(c.get(f"/api/runs/{run_id}/media").json()["media"]) == 2
        for bad_batch in ({"batch_id": "b:3", "logs": [[1.0, "stdin", "x"]]},
                          {"batch_id": "b:4", "logs": "x"},
                          {"batch_id": "b:5", "media": [{"key": "k", "step": 1,
                                                         "filename": "1_1.png",
                                                         "data": "!!"}]}):
            assert c.post(f"/api/runs/{run_id}/batch", json=bad_batch).status_code == 422


def check_remote_run(folder: Path, run_id: str, n: int) -> None:
    with open_dir_store(folder) as store:
        lines = store.read_log_lines(run_id, limit=10_000)
        assert [x.seq for x in lines] == list(range(1, len(lines) + 1))
        texts = [x.text for x in lines]
        assert [t for t in texts if t.startswith("Line ")] == [
            f"Line {i} of the run" for i in range(n)], "every line exactly once"
        assert "the token is td_[redacted] ok" in texts
        [m] = store.list_media(run_id)
        assert (folder / "runs" / run_id / m.path).read_bytes() == encode_png(IMAGE)
        assert (m.width, m.height, m.caption) == (8, 6, "step five")


def test_remote_run_sends_lines_once_and_the_image(tmp_path: Path,
                                                   server_dir: tuple[str, Path]) -> None:
    host, folder = server_dir
    proc = spawn(tmp_path, {"TRAINDECK_URL": f"http://{host}",
                            "TRAINDECK_DIR": str(tmp_path / "client")}, phases=1, n=400)
    run_id = ready(proc)
    finish(proc)

    def complete() -> bool:
        with open_dir_store(folder) as store:
            return any(x.text == "a partial line" for x in store.read_log_lines(run_id, tail=5))

    wait_for(complete, TIMEOUT, "the last lines on the server")
    check_remote_run(folder, run_id, 400)


def test_offline_lines_and_image_arrive_by_sync_once(tmp_path: Path,
                                                     server_dir: tuple[str, Path]) -> None:
    host, folder = server_dir
    client = tmp_path / "client"
    proc = spawn(tmp_path, {"TRAINDECK_MODE": "offline", "TRAINDECK_DIR": str(client)},
                 phases=1, n=200)
    run_id = ready(proc)
    finish(proc)
    assert (client / "runs" / run_id / "media" / "samples" / "5_0.png").read_bytes() == \
        encode_png(IMAGE)

    def sync() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "traindeck.cli", "sync", str(client), "--url",
             f"http://{host}"], capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "120"})

    first = sync()
    assert first.returncode == 0, first.stderr
    check_remote_run(folder, run_id, 200)
    second = sync()
    assert second.returncode == 0 and "nothing to sync" in second.stdout
    check_remote_run(folder, run_id, 200)
