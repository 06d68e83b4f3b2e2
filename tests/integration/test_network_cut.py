"""Network cuts: a real training process logs 200k points across 3 remote runs through a
TCP proxy (in this test, on a loopback port) that, at random moments, cuts a batch upload
in the middle of its body (the server holds a half-read request, then both connections
drop), or lets the server answer and drops the answer before the script reads it. Once,
the proxy holds a large upload half-sent while the real server is SIGKILLed, and the
server is restarted. Afterwards every point is in the store exactly once: per series the
steps are exactly 0..N-1 (count) and the values match what was logged (checksum).

Only loopback addresses. The seed is printed so a failure can be replayed
(``TRAINDECK_CHAOS_SEED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from remote_load import finish_and_check, start_trainer
from support import free_port, start_server

#: Cuts of each kind (at random moments, in random order).
HALF_CUTS = 5
DROPPED_ANSWERS = 4
#: The smallest body (bytes) of the upload during which the server is SIGKILLed.
LARGE = 150_000


class Cut(Exception):
    """Both connections of a proxied pair are to be dropped."""


class CutProxy:
    """A loopback TCP proxy in front of the server that understands just enough HTTP/1.1
    (request line, ``Content-Length``) to cut a ``POST …/batch`` or ``POST /api/batches``
    (the trainer's three runs travel together) where the test asks.

    ``arm(mode)``: the next batch upload (with a body of at least ``min_body`` bytes) is
    cut: ``"half"`` forwards the headers and part of the body, then drops both
    connections; ``"drop"`` forwards it whole and drops the server's answer (and both
    connections) before the client sees it; ``"kill"`` forwards part of the body, calls
    ``on_kill`` (the test SIGKILLs the server), then drops both. ``fired`` is set once
    done. ``refusing``: every connection is dropped at once.
    """

    def __init__(self, upstream: int, rng: random.Random) -> None:
        self.upstream = upstream
        self.rng = rng
        self.lock = threading.Lock()
        self.armed: tuple[str, int] | None = None
        self.fired = threading.Event()
        self.refusing = False
        self.on_kill: Callable[[], None] = lambda: None
        self.done: Counter[str] = Counter()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.server: asyncio.Server | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def start(self) -> None:
        self.thread.start()
        assert self._started.wait(10)

    def stop(self) -> None:
        """Drop every connection, then end the loop (nothing left open to warn about)."""

        async def shut() -> None:
            assert self.server is not None
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def arm(self, mode: str, min_body: int = 2) -> None:
        with self.lock:
            self.fired.clear()
            self.armed = (mode, min_body)

    def _claim(self, length: int) -> str | None:
        with self.lock:
            if self.armed is None or length < self.armed[1]:
                return None
            mode, self.armed = self.armed[0], None
            return mode

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self.server.sockets[0].getsockname()[1])
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def _handle(self, creader: asyncio.StreamReader,
                      cwriter: asyncio.StreamWriter) -> None:
        if self.refusing:
            cwriter.transport.abort()
            return
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            cwriter.transport.abort()
            return
        state = {"drop_answer": False}

        def drop() -> None:
            cwriter.transport.abort()
            swriter.transport.abort()

        async def answers() -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await sreader.read(65536):
                    if state["drop_answer"]:
                        break
                    cwriter.write(chunk)
                    await cwriter.drain()
            drop()

        back = asyncio.ensure_future(answers())
        try:
            await self._requests(creader, swriter, state)
        except (Cut, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            drop()
            if not back.done():
                back.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await back

    async def _requests(self, creader: asyncio.StreamReader, swriter: asyncio.StreamWriter,
                        state: dict[str, bool]) -> None:
        buf = b""

        async def more() -> bytes:
            chunk = await creader.read(65536)
            if not chunk:
                raise Cut
            return chunk

        async def forward(n: int) -> None:
            nonlocal buf
            while n:
                if not buf:
                    buf = await more()
                piece, buf = buf[:n], buf[n:]
                swriter.write(piece)
                n -= len(piece)
            await swriter.drain()

        while True:
            while b"\r\n\r\n" not in buf:
                buf += await more()
            if self.refusing:
                raise Cut
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target = lines[0].split()[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                assert name.strip().lower() != b"transfer-encoding", "chunked upload"
                if name.strip().lower() == b"content-length":
                    length = int(value)
            path = target.split(b"?")[0]
            # a run's own route, or the shared one (a process's runs together)
            batch = method == b"POST" and (path.endswith(b"/batch")
                                           or path == b"/api/batches")
            mode = self._claim(length) if batch else None
            swriter.write(head + b"\r\n\r\n")
            if mode in ("half", "kill"):
                try:
                    await forward(self.rng.randrange(1, length))
                    if mode == "kill":
                        await asyncio.to_thread(self.on_kill)
                finally:
                    self.done[mode] += 1
                    self.fired.set()
                raise Cut
            if mode == "drop":
                state["drop_answer"] = True  # before the server can have answered
            try:
                await forward(length)
            finally:
                if mode == "drop":
                    self.done[mode] += 1
                    self.fired.set()


def test_network_cut_mid_batch_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("TRAINDECK_CHAOS_SEED") or random.randrange(2**32))
    print(f"network-cut seed {seed}")
    rng = random.Random(seed)
    port = free_port()
    srv_dir = tmp_path / "srv"
    log = tmp_path / "server.log"

    def start() -> subprocess.Popen[bytes]:
        return start_server(srv_dir, port, log)

    servers = [start()]

    def kill() -> None:
        servers[-1].send_signal(signal.SIGKILL)
        servers[-1].wait()

    proxy = CutProxy(port, random.Random(rng.random()))
    proxy.on_kill = kill
    proxy.start()
    via_proxy = f"http://127.0.0.1:{proxy.port}"
    child, run_ids, err_path, release = start_trainer(tmp_path, via_proxy, "cut", 0.12)
    try:
        plan = ["half"] * HALF_CUTS + ["drop"] * DROPPED_ANSWERS
        rng.shuffle(plan)
        plan.insert(rng.randrange(1, 4), "kill")  # early: the script is still logging
        for mode in plan:
            time.sleep(rng.uniform(0.2, 2.0))
            assert child.poll() is None, err_path.read_text()
            if mode == "kill":
                # a short outage first, so that a large backlog goes up in one request
                proxy.refusing = True
                time.sleep(5.0)
                proxy.refusing = False
                proxy.arm("kill", LARGE)
                assert proxy.fired.wait(60), "no large upload came"
                servers.append(start())
            else:
                proxy.arm(mode)
                assert proxy.fired.wait(60), f"no upload came to cut ({mode})"
        assert proxy.done == {"half": HALF_CUTS, "drop": DROPPED_ANSWERS, "kill": 1}, \
            proxy.done
        finish_and_check(tmp_path, child, err_path, release, srv_dir, run_ids)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        proxy.stop()
        server = servers[-1]
        if server.poll() is None:
            server.terminate()
            server.wait(10)
