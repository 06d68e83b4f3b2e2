"""The SDK batch route and the media upload against a real server process: bad bodies are
422 with a message naming the field (defect 17), an image over 32 MiB is 413 (defect 18),
and nothing of a refused body reaches the store."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from support import free_port, open_dir_store, start_server

from traindeck.store.images import IMAGE_TYPES
from traindeck.store.uploads import MAX_MEDIA_BYTES

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
RUN = {"project": "p", "name": "n"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("srv") / "td"
    port = free_port()
    proc = start_server(folder, port, folder.parent / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def post_batch(base: str, run_id: str, body: Any) -> httpx.Response:
    return httpx.post(f"{base}/api/runs/{run_id}/batch", json=body, timeout=30)


def refused(r: httpx.Response, *words: str) -> str:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    for word in words:
        assert word in error["message"], error["message"]
    message: str = error["message"]
    return message


@pytest.mark.parametrize(("field", "value"), [
    ("notes", {"a": 1}),          # was a 500
    ("tags", "x"),                # was a 200, and the run then served "tags": "x"
    ("tags", [1]),
    ("config", 5),
    ("config", [1]),
    ("name", None),
    ("env", "x"),
    ("commands_offered", [None]),
    ("pid", "12"),
    ("git_dirty", "yes"),
    ("heartbeat_timeout", -1),
])
def test_update_fields_are_type_checked(server: tuple[str, Path], field: str,
                                        value: Any) -> None:
    base, _ = server
    run_id = f"u-{field}-{type(value).__name__}"
    assert post_batch(base, run_id, {"batch_id": "b0", "run": RUN}).status_code == 200
    r = post_batch(base, run_id, {"batch_id": "x1", "update": {field: value}})
    refused(r, "'update'", repr(field))
    run = httpx.get(f"{base}/api/runs/{run_id}", timeout=10).json()
    assert run["tags"] == [] and run["config"] == {} and run["notes"] == ""
    # The refused batch was not recorded: sent again, fixed, it applies.
    fixed = post_batch(base, run_id, {"batch_id": "x1", "update": {"notes": "ok"}})
    assert fixed.status_code == 200 and fixed.json()["applied"] is True


@pytest.mark.parametrize(("field", "value"), [
    ("tags", "x"), ("tags", [1]), ("config", 5), ("config", [1]), ("notes", {"a": 1}),
    ("project", 3), ("project", ""), ("launch_spec", [1]),
    # Only the launcher writes a launch spec: resuming a run runs the command it names.
    ("launch_spec", {"command": ["sh", "-c", "id"], "cwd": "/"}),
])
def test_run_fields_are_type_checked(server: tuple[str, Path], field: str, value: Any) -> None:
    base, _ = server
    run_id = f"r-{field}-{type(value).__name__}-{len(str(value))}"
    r = post_batch(base, run_id, {"batch_id": "x1", "run": {**RUN, field: value}})
    refused(r, "'run'", repr(field))
    assert httpx.get(f"{base}/api/runs/{run_id}", timeout=10).status_code == 404


def test_a_bad_batch_in_a_backlog_refuses_the_whole_request(server: tuple[str, Path]) -> None:
    base, _ = server
    r = post_batch(base, "backlog", [
        {"batch_id": "1", "run": RUN},
        {"batch_id": "2", "update": {"tags": "x"}},
    ])
    refused(r, "'tags'")
    assert httpx.get(f"{base}/api/runs/backlog", timeout=10).status_code == 404


def test_good_fields_still_apply(server: tuple[str, Path]) -> None:
    base, _ = server
    body = {"batch_id": "g1", "run": {**RUN, "tags": ["a"], "config": {"lr": 0.1},
                                      "git_dirty": False, "pid": 7},
            "update": {"notes": "n", "commands_offered": ["stop"]}}
    assert post_batch(base, "good", body).json()["applied"] is True
    run = httpx.get(f"{base}/api/runs/good", timeout=10).json()
    assert (run["tags"], run["config"], run["notes"]) == (["a"], {"lr": 0.1}, "n")


def test_an_image_over_the_limit_is_413(server: tuple[str, Path]) -> None:
    base, folder = server
    assert post_batch(base, "big", {"batch_id": "b0", "run": RUN}).status_code == 200
    too_big = PNG + bytes(MAX_MEDIA_BYTES + 1 - len(PNG))
    r = httpx.post(f"{base}/api/runs/big/media",
                   params={"key": "k", "step": 1, "filename": "a.png"},
                   content=too_big, headers={"content-type": IMAGE_TYPES[".png"]}, timeout=60)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert "32 MiB" in r.json()["error"]["message"]
    ok = httpx.post(f"{base}/api/runs/big/media",
                    params={"key": "k", "step": 1, "filename": "a.png"}, content=PNG,
                    timeout=10)
    assert ok.status_code == 201, ok.text
    with open_dir_store(folder) as store:
        assert [m.size for m in store.list_media("big")] == [len(PNG)]


def test_the_sdk_and_a_browser_get_the_same_answers(server: tuple[str, Path]) -> None:
    """The SDK's batches are answered before the web framework (``batch_lane.py``); a
    request with an ``Origin`` (a browser's) goes through the whole stack. Both give the
    same statuses, bodies and effects."""
    base, _ = server

    def both(run_id: str, body: Any, raw: bytes | None = None) -> list[httpx.Response]:
        out = []
        for headers in ({}, {"origin": base}):
            kw: dict[str, Any] = {"content": raw} if raw is not None else {"json": body}
            out.append(httpx.post(f"{base}/api/runs/{run_id}/batch", timeout=30,
                                  headers={"content-type": "application/json", **headers},
                                  **kw))
        return out

    def same(pair: list[httpx.Response], status: int) -> Any:
        lane, stack = pair
        assert (lane.status_code, stack.status_code) == (status, status), (lane.text,
                                                                           stack.text)
        assert lane.headers["content-type"] == stack.headers["content-type"]
        assert lane.json() == stack.json()
        return lane.json()

    assert same(both("x", None, raw=b"{not json"), 422)["error"]["code"] == "invalid_input"
    assert same(both("x", None, raw=b"\0"), 422)["error"]["code"] == "invalid_input"
    missing = same(both("nope", {"batch_id": "b", "heartbeat": 1.0}), 404)
    assert missing["error"]["code"] == "not_found"
    # the first of each pair applies the batch, the second (same id) finds it applied
    new = both("lane", {"batch_id": "a", "run": RUN})
    assert [(r.status_code, r.headers["content-type"], r.json()) for r in new] == [
        (200, "application/json", {"batch_id": "a", "applied": True}),
        (200, "application/json", {"batch_id": "a", "applied": False})]
    backlog = [{"batch_id": f"b{i}", "metrics": {"loss": {
        "steps": [i], "times": [1.0], "values": [0.5]}}} for i in range(3)]
    assert [(r.status_code, r.json()) for r in both("lane", backlog)] == [
        (200, {"batches": 3, "applied": 3}), (200, {"batches": 3, "applied": 0})]
    latest = httpx.get(f"{base}/api/runs/lane/metrics/latest", timeout=30).json()
    assert latest["latest"]["loss"]["step"] == 2


def test_several_runs_in_one_request(server: tuple[str, Path]) -> None:
    """``POST /api/batches`` (a training process's runs together): each run is applied or
    refused on its own, with the status its own route would answer; a body whose shape is
    wrong is refused whole; the SDK's lane and the whole stack (a browser's request) give
    the same answers; a body sent again changes nothing."""
    base, folder = server

    def post(body: Any, *, raw: bytes | None = None, browser: bool = False) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if browser:
            headers["origin"] = base
        kw: dict[str, Any] = {"content": raw} if raw is not None else {"json": body}
        return httpx.post(f"{base}/api/batches", headers=headers, timeout=30, **kw)

    def point(batch_id: str, step: int) -> dict[str, Any]:
        return {"batch_id": batch_id, "metrics": {"loss": {
            "steps": [step], "times": [1.0], "values": [step / 2]}}}

    body = [
        {"run_id": "many-a", "batches": [{"batch_id": "a0", "run": RUN}, point("a1", 0),
                                         point("a2", 1)]},
        {"run_id": "many-missing", "batches": [point("m1", 0)]},
        {"run_id": "many-b", "batches": [{"batch_id": "b0", "run": RUN}, point("b1", 5)]},
        {"run_id": "many-bad", "batches": [{"batch_id": "x0", "run": RUN},
                                           {"batch_id": "x1", "status": "sleeping"}]},
    ]
    first = post(body)
    assert first.status_code == 200, first.text
    answers = first.json()["runs"]
    assert [a["run_id"] for a in answers] == ["many-a", "many-missing", "many-b", "many-bad"]
    assert answers[0] == {"run_id": "many-a", "batches": 3, "applied": 3}
    assert (answers[1]["status"], answers[1]["error"]["code"]) == (404, "not_found")
    assert answers[2] == {"run_id": "many-b", "batches": 2, "applied": 2}
    assert (answers[3]["status"], answers[3]["error"]["code"]) == (422, "invalid_input")
    assert "sleeping" in answers[3]["error"]["message"]
    again = post(body, browser=True)  # the whole stack; every id is known now
    assert again.status_code == 200, again.text
    assert [a.get("applied", a.get("status")) for a in again.json()["runs"]] == [
        0, 404, 0, 422]
    with open_dir_store(folder) as store:
        assert store.read_points("many-a", "loss").steps.tolist() == [0, 1]
        assert store.read_points("many-b", "loss").values.tolist() == [2.5]
        ids = {r.id for r in store.list_runs(limit=1000)[0]}
        assert "many-bad" not in ids and "many-missing" not in ids  # none of it applied

    for browser in (False, True):
        for raw, words in [
            (b"{not json", "not JSON"),
            (b"{}", "array"),
            (b"[]", "array"),
            (orjson.dumps([{"run_id": "r"}]), "exactly"),
            (orjson.dumps([{"run_id": "", "batches": [point("z", 0)]}]), "run_id"),
            (orjson.dumps([{"run_id": "r", "batches": []}]), "at least one"),
            (orjson.dumps([{"run_id": "r", "batches": [point("z", 0)]}] * 2), "twice"),
        ]:
            r = post(None, raw=raw, browser=browser)
            assert r.status_code == 422, (raw, r.text)
            assert words in r.json()["error"]["message"], (raw, r.text)


def raw_post(port: int, path: str, head: str, body: bytes) -> int:
    """A hand-framed request (what httpx will not send): the answer's status."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            got = sock.recv(4096)
            if not got:
                break
            answer += got
    return int(answer.split(b" ", 2)[1])


def chunked(data: bytes, size: int = 500) -> bytes:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_chunked_batch_is_counted_whatever_its_content_length_says(tmp_path: Path) -> None:
    """The body limit holds for a chunked body, with or without a (then meaningless)
    ``Content-Length``: such requests take the whole stack, which counts what arrives."""
    port = free_port()
    proc = start_server(tmp_path / "td", port, tmp_path / "server.log",
                        settings=", max_batch_bytes=2000")
    try:
        path = "/api/runs/big/batch"
        big = b'{"batch_id": "b", "run": {"project": "p"}, "summary": {"x": "' + \
            b"y" * 5000 + b'"}}'
        small = b'{"batch_id": "s", "run": {"project": "p", "name": "n"}}'
        te = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        assert raw_post(port, path, "Content-Length: 10\r\n" + te, chunked(big)) == 413
        assert raw_post(port, path, te, chunked(big)) == 413
        assert raw_post(port, path, f"Content-Length: {len(big)}\r\n" + te[:32], big) == 413
        assert raw_post(port, path, te, chunked(small)) == 200
        with open_dir_store(tmp_path / "td") as store:
            assert store.get_run("big").name == "n"  # the small one only
    finally:
        proc.terminate()
        proc.wait(30)
