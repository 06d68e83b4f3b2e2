"""Code and data to an SSH host: one archive vs one SFTP transfer per file (issue 11 §5).

A dataset of 2,000 files, 200 MB in all, mixed sizes (log-uniform, 0.5 kB to 2 MB, scaled to
the total) and mixed content (half random bytes, like images; half low-entropy bytes, like
text) is sent to the tests' loopback sshd (tests/sshd_service.py) twice in the same run:

- **archive**: the executor's own path, ``traindeck.remote.deploy.upload`` (content
  fingerprint, a check for it on the host, pack into one .tar.gz, one SFTP upload, sha256
  check and extraction on the host), timed end to end, with its stages;
- **per file**: one asyncssh SFTP client, each folder made once, then ``put`` of each file,
  one after the other (what copying the folder file by file does).

``--rtt-ms N`` puts a relay in this process between the client and sshd that delays every
chunk by N/2 ms each way (a link with latency, as to a rented host; nothing system-wide
changes). Then the same data again through ``deploy.upload`` (a second launch): bytes uploaded.
With ``--levels`` the archive path is also timed with ``pack(level=N)`` for each N (the
same functions ``deploy.upload`` calls), for when compression costs more than loopback
saves. Bar: archive at least 5 times faster than per file; the second launch uploads nothing.

    .venv/bin/python bench/ssh_upload.py [--files 2000] [--mb 200] [--levels 0,1]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import random
import shlex
import tempfile
import threading
import time
import uuid
from pathlib import Path

import asyncssh
from _remote import sshd, target

from traindeck.remote import deploy, job
from traindeck.remote.archive import extract_command, fingerprint, pack
from traindeck.remote.deploy import RemoteSettings
from traindeck.remote.ssh import Progress, SSHLink, SSHTarget


class CountingLink(SSHLink):
    """An SSH link that counts the bytes it uploads."""

    sent = 0

    def put(self, local: Path, remote: str, *, progress: Progress | None = None) -> None:
        super().put(local, remote, progress=progress)
        self.sent += local.stat().st_size


class Stages:
    """A ``deploy.Report`` that notes when each step began."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.at: dict[str, float] = {}

    def _mark(self, text: str) -> None:
        word = text.split(" ", 1)[0]
        self.at.setdefault(word, time.perf_counter() - self.t0)

    def stage(self, stage: str, line: str) -> None:
        self._mark(line)

    def line(self, text: str) -> None:
        self._mark(text)

    def check(self) -> None:
        pass


def make_dataset(root: Path, files: int, total: int) -> list[Path]:
    rng = random.Random(11)
    raw = [math.exp(rng.uniform(math.log(512), math.log(2 << 20))) for _ in range(files)]
    scale = total / sum(raw)
    sizes = [max(1, int(s * scale)) for s in raw]
    sizes[-1] += total - sum(sizes)
    out = []
    for i, size in enumerate(sizes):
        path = root / f"shard{i % 20:02d}" / f"item{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i % 2:
            data = rng.randbytes(size)
        else:  # 16 symbols: about 2:1 under gzip, like text or CSV
            data = bytes(48 + (b & 15) for b in rng.randbytes(size))
        path.write_bytes(data)
        out.append(path)
    return out


class DelayProxy:
    """A TCP relay on 127.0.0.1 that holds every chunk ``one_way_s`` seconds in each
    direction (a link with that much latency and no bandwidth limit), on a thread of its
    own; nothing outside this process changes."""

    def __init__(self, upstream: tuple[str, int], one_way_s: float) -> None:
        self.upstream, self.delay = upstream, one_way_s
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop).result(10)
        self.port: int = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                at, data = await queue.get()
                if at > loop.time():
                    await asyncio.sleep(at - loop.time())
                if not data:
                    dst.close()
                    return
                dst.write(data)
                await dst.drain()

        task = loop.create_task(deliver())
        try:
            while data := await src.read(1 << 16):
                queue.put_nowait((loop.time() + self.delay, data))
        finally:
            queue.put_nowait((loop.time() + self.delay, b""))
            await task

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)


async def per_file(t: SSHTarget, files: list[Path], root: Path, dest: str) -> float:
    t0 = time.perf_counter()
    async with asyncssh.connect(t.host, t.port, username=t.user,
                                client_keys=[str(t.key)],
                                known_hosts=str(t.known_hosts), config=None) as conn:
        async with conn.start_sftp_client() as sftp:
            made: set[str] = set()
            for path in files:
                remote = f"{dest}/{path.relative_to(root).as_posix()}"
                folder = remote.rsplit("/", 1)[0]
                if folder not in made:
                    await sftp.makedirs(folder, exist_ok=True)
                    made.add(folder)
                await sftp.put(str(path), remote)
    return time.perf_counter() - t0


def archive_with_level(link: SSHLink, sources: dict[str, Path], workdir: str, scratch: Path,
                       level: int) -> dict[str, float]:
    """``deploy.upload``'s steps with ``pack(level=level)``: seconds of each, and in all."""
    t0 = time.perf_counter()
    fp = fingerprint(sources)
    t1 = time.perf_counter()
    packed = pack(sources, scratch / f"l{level}.tar.gz", level=level)
    t2 = time.perf_counter()
    a = job.Archive(workdir, fp)
    link.run(f"mkdir -p {shlex.quote(a.root)}", timeout=30)
    link.put(packed.path, a.file)
    t3 = time.perf_counter()
    done = link.run(extract_command(a.file, a.folder, packed.sha256, remove_archive=True),
                    timeout=3600)
    t4 = time.perf_counter()
    assert done.exit_status == 0, done.stderr
    packed.path.unlink()
    return {"level": level, "archive_mb": round(packed.size / 1e6, 1),
            "fingerprint_s": round(t1 - t0, 2), "pack_s": round(t2 - t1, 2),
            "upload_s": round(t3 - t2, 2), "extract_s": round(t4 - t3, 2),
            "total_s": round(t4 - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--levels", default="0,1", help="archive levels also timed ('' for none)")
    ap.add_argument("--rtt-ms", type=float, default=0.0,
                    help="round-trip latency added by a relay in this process (0: plain "
                         "loopback)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, sshd() as server:
        tmp = Path(d)
        data = tmp / "dataset"
        files = make_dataset(data, args.files, args.mb * 1_000_000)
        total = sum(p.stat().st_size for p in files)
        code = tmp / "code"
        code.mkdir()
        (code / "train.py").write_text("print('train')\n")
        t = target(server, tmp)
        proxy = None
        if args.rtt_ms > 0:
            proxy = DelayProxy((server.host, server.port), args.rtt_ms / 2000)
            line = server.known_hosts_line.replace(f"]:{server.port} ", f"]:{proxy.port} ")
            t.known_hosts.write_text(line + "\n")
            t = dataclasses.replace(t, port=proxy.port)
        link = CountingLink.open(t)
        try:
            home = str(server.workdir)
            settings = RemoteSettings(datasets={"bench": data})
            lock = threading.Lock()

            # per file first: the page cache then holds the dataset for both
            dest = f"{home}/perfile-{uuid.uuid4().hex[:6]}"
            per_file_s = asyncio.run(per_file(t, files, data, dest))
            link.run(f"rm -rf {shlex.quote(dest)}", timeout=600)

            workdir = f"{home}/archive-{uuid.uuid4().hex[:6]}"
            stages = Stages()
            archive, reused = deploy.upload(link, settings, code, workdir, tmp, stages, lock)
            archive_s = time.perf_counter() - stages.t0
            assert not reused
            first_sent = link.sent
            there = link.run(f"find {shlex.quote(archive.folder)} -type f | wc -l", timeout=60)
            assert int(there.stdout) == args.files + 1, there.stdout  # + train.py

            link.sent = 0
            t0 = time.perf_counter()
            _, reused_again = deploy.upload(link, settings, code, workdir, tmp, Stages(), lock)
            second_s = time.perf_counter() - t0
            second_sent = link.sent

            levels = []
            for level in [int(x) for x in args.levels.split(",") if x.strip()]:
                wd = f"{home}/level{level}-{uuid.uuid4().hex[:6]}"
                levels.append(archive_with_level(
                    link, {"code": code, "data/bench": data}, wd, tmp, level))
        finally:
            link.close()
            if proxy is not None:
                proxy.close()
    print(json.dumps({
        "benchmark": "ssh_upload",
        "files": args.files,
        "dataset_mb": round(total / 1e6, 1),
        "per_file_sftp_s": round(per_file_s, 2),
        "archive_s": round(archive_s, 2),
        "archive_stages_s": {k: round(v, 2) for k, v in stages.at.items()},
        "archive_uploaded_mb": round(first_sent / 1e6, 1),
        "speedup": round(per_file_s / archive_s, 2),
        "bar_speedup": 5.0,
        "second_launch": {"reused": reused_again, "uploaded_bytes": second_sent,
                          "s": round(second_s, 2)},
        "archive_by_level": levels,
        "link": "loopback sshd (tests/sshd_service.py)" + (
            f" through a relay adding {args.rtt_ms:g} ms of round trip" if args.rtt_ms else ""),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
