"""Rules and alerts end to end: real training processes, a real server, real webhooks.

Each test starts a real server (uvicorn on a free port over the real SQLite store), makes
rules over its API, and runs ``scripts/alert_child.py`` — the real SDK in a child process
writing the store — through one scenario. Webhooks are real HTTP servers on 127.0.0.1
that record what they get. Time-based rules use small ``minutes`` and the server's real
clock; nothing asserts how long anything takes: every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from serving import served
from support import server_settings, wait_for

from traindeck.server import create_app

SCRIPT = Path(__file__).parent / "scripts" / "alert_child.py"


# -- webhook receivers -------------------------------------------------------------------


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1: ``/ok…`` answers 200, ``/flaky`` 500 then 200,
    ``/hang`` never answers (until the test ends)."""

    url: str
    got: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answered: dict[str, list[int]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return list(self.got.get(path, []))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state.got.setdefault(self.path, []).append(data)
            if self.path == "/hang":
                state.release.wait(60)
                return
            status = 500 if self.path == "/flaky" and len(state.got[self.path]) == 1 else 200
            state.answered.setdefault(self.path, []).append(status)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


# -- the server and the training children -------------------------------------------------


@dataclass
class Deck:
    url: str
    dir: Path
    app: Any
    client: httpx.Client

    def rule(self, **body: Any) -> dict[str, Any]:
        r = self.client.post("/api/rules", json={"project": "alerts", **body})
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def hook(self, url: str, format: str = "json") -> dict[str, Any]:
        r = self.client.post("/api/webhooks", json={"url": url, "format": format})
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/api/alerts", params=params)
        assert r.status_code == 200, r.text
        out: list[dict[str, Any]] = r.json()["alerts"]
        return out


@pytest.fixture
def deck(tmp_path: Path) -> Iterator[Deck]:
    settings = server_settings(tmp_path / "td", reap_interval=0.2, rules_timer_interval=0.1,
                        webhook_timeout=1.0, webhook_attempts=3)
    app = create_app(settings)
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Deck(url, tmp_path / "td", app, client)


@dataclass
class Child:
    proc: subprocess.Popen[str]
    run_id: str

    def go(self) -> None:
        """The rules are in place: log the scenario (and wait for ``LOGGED``)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.strip() == "LOGGED", f"child said {line!r}"

    def finish(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(60) == 0


@pytest.fixture
def start_child(deck: Deck, tmp_path: Path) -> Iterator[Callable[..., Child]]:
    children: list[subprocess.Popen[str]] = []
    env = {**os.environ, "TRAINDECK_DIR": str(deck.dir), "TRAINDECK_STRICT": "1"}

    def start(*args: str) -> Child:
        err = (tmp_path / f"child{len(children)}.err").open("w")
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        err.close()
        children.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), f"child said {line!r}"
        return Child(proc, line.split()[1])

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def alerts_of(deck: Deck, rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in deck.alerts() if a["rule_id"] == rule["id"]]


def one_alert(deck: Deck, rule: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = wait_for(lambda: alerts_of(deck, rule),
                                           what=f"a {rule['kind']} alert")
    return found[0]


# -- each kind against a real training process --------------------------------------------


def test_nan_alert_reaches_the_event_log_the_websocket_and_every_webhook_format(
        deck: Deck, receiver: Receiver, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="nan", key="loss", severity="error")
    for path, format in (("/ok", "json"), ("/slack", "slack"), ("/discord", "discord")):
        deck.hook(receiver.url + path, format)
    child = start_child("nan")

    async def listen() -> dict[str, Any]:
        ws_url = deck.url.replace("http", "ws", 1) + "/ws"
        async with websockets.connect(ws_url) as ws:  # no subscription: alerts go to all
            await asyncio.to_thread(child.go)
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "alert":
                    return dict(msg["alert"])

    pushed = asyncio.run(listen())
    child.finish()
    alert = one_alert(deck, rule)
    assert alert == pushed
    assert (alert["run_id"], alert["run_name"], alert["project"]) == (child.run_id, "nan",
                                                                      "alerts")
    assert (alert["kind"], alert["key"], alert["severity"]) == ("nan", "loss", "error")
    assert (alert["step"], alert["value"]) == (30, "NaN")
    events = deck.client.get(f"/api/runs/{child.run_id}/events",
                             params={"kind": "alert"}).json()["events"]
    assert [e["seq"] for e in events] == [alert["seq"]]

    wait_for(lambda: all(receiver.bodies(p) for p in ("/ok", "/slack", "/discord")),
             what="every webhook")
    generic = receiver.bodies("/ok")[0]
    assert generic["type"] == "alert" and generic["alert"] == alert
    slack = receiver.bodies("/slack")[0]
    assert "loss is NaN" in slack["text"] and slack["blocks"][0]["type"] == "header"
    discord = receiver.bodies("/discord")[0]
    assert "loss is NaN" in discord["content"]
    assert discord["embeds"][0]["title"] == "loss is NaN"


def test_spike_alert_names_the_step_of_the_spike(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="spike", key="loss", params={"k": 8, "window": 50})
    child = start_child("spike")
    child.go()
    child.finish()
    alert = one_alert(deck, rule)
    assert (alert["step"], alert["value"]) == (150, 50.0)


def test_plateau_alert_after_n_steps_without_improvement(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="plateau", key="loss", params={"steps": 40, "min_delta": 0.001})
    child = start_child("plateau", "--steps", "150")
    child.go()
    child.finish()
    alert = one_alert(deck, rule)
    # The loss stops falling at step 38 (0.25): flat for 40 steps from there on.
    assert alert["step"] >= 77 and alert["value"] == 0.25


def test_threshold_alert_only_after_its_step(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="threshold", key="val/acc",
                     params={"op": "<", "value": 0.5, "after_step": 50})
    child = start_child("threshold")
    child.go()
    child.finish()
    alert = one_alert(deck, rule)
    assert (alert["step"], alert["value"]) == (101, 0.3)  # not steps 0-49, below 0.5 too
    assert len(alerts_of(deck, rule)) == 1


def test_stall_alert_when_a_running_run_logs_no_new_step(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="stall", params={"minutes": 0.01})
    child = start_child("quiet", "--hold")
    child.go()
    alert = one_alert(deck, rule)
    assert alert["run_id"] == child.run_id and alert["key"] is None
    child.finish()


def test_heartbeat_alert_when_the_process_dies(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="heartbeat", severity="error")
    child = start_child("quiet", "--hold")
    child.go()
    child.proc.send_signal(signal.SIGKILL)
    child.proc.wait(30)
    alert = one_alert(deck, rule)
    assert alert["run_id"] == child.run_id and alert["title"] == "heartbeat lost"
    run = deck.client.get(f"/api/runs/{child.run_id}").json()
    assert run["status"] == "interrupted"


def test_gpu_idle_alert(deck: Deck, start_child: Callable[..., Child]) -> None:
    rule = deck.rule(kind="gpu_idle", params={"below": 5, "minutes": 0.01})
    child = start_child("gpu", "--steps", "20", "--hold")
    child.go()
    alert = one_alert(deck, rule)
    assert alert["key"] == "sys/gpu0/util" and alert["value"] == 0.0
    child.finish()


def test_disk_alert_from_the_system_sampler(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    # Every disk has less than 100 % free: the real sampler's sys/disk_percent fires it.
    rule = deck.rule(kind="disk", params={"min_free_percent": 100})
    child = start_child("quiet", "--hold", "--system", "0.2")
    child.go()
    alert = one_alert(deck, rule)
    assert alert["key"] == "sys/disk_percent" and 0 <= alert["value"] <= 100
    child.finish()


def test_cooldown_holds_back_the_same_rule_on_the_same_run(
        deck: Deck, start_child: Callable[..., Child]) -> None:
    eager = deck.rule(kind="nan", key="loss", cooldown_s=0)
    patient = deck.rule(kind="nan", key="loss", cooldown_s=3600)
    child = start_child("flapping", "--steps", "60")
    child.go()
    child.finish()
    wait_for(lambda: len(alerts_of(deck, eager)) >= 2, what="two NaN episodes alerted")
    assert len(alerts_of(deck, patient)) == 1


# -- run.alert() and webhook delivery ------------------------------------------------------


def test_sdk_alert_goes_the_same_way_and_failing_webhooks_block_nothing(
        deck: Deck, receiver: Receiver, start_child: Callable[..., Child]) -> None:
    hang = deck.hook(receiver.url + "/hang")
    deck.hook(receiver.url + "/flaky")
    deck.hook(receiver.url + "/ok")
    child = start_child("alert")
    child.go()
    child.finish()
    alert = wait_for(lambda: deck.alerts(), what="the SDK's alert")[0]
    assert (alert["rule_id"], alert["kind"], alert["severity"], alert["step"]) == (
        None, "sdk", "error", 7)
    assert alert["title"] == "checkpoint disk almost full"
    # The hanging webhook is still hanging while the others got the alert.
    wait_for(lambda: receiver.bodies("/ok"), what="the good webhook")
    assert receiver.bodies("/hang") and not receiver.release.is_set()
    # 500 then 200: tried again, delivered once.
    wait_for(lambda: receiver.answered.get("/flaky") == [500, 200], what="a retry")
    sender = deck.app.state.webhooks
    wait_for(lambda: sender.failed == 1, what="the hanging webhook given up")
    assert len(receiver.bodies("/hang")) == 3  # tried webhook_attempts times, timed out
    assert [b["alert"]["seq"] for b in receiver.bodies("/ok")] == [alert["seq"]]
    assert sender.delivered == 2
    listed = deck.client.get("/api/webhooks").json()["webhooks"]
    assert hang["id"] in {h["id"] for h in listed}
