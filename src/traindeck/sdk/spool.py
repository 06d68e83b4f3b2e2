"""The durable spool: every batch a remote run sends is on disk before it is sent.

A spool is a folder (``runs/<id>/spool/``) of append-only *segment* files
``<first seq:016d>.seg``. A record is a 16-byte header (payload length, CRC-32 of the
payload, sequence number; little-endian ``<IIQ``) and the payload (one batch, JSON bytes).
``append`` writes a record and fsyncs before it returns; sequence numbers grow by one.

Acknowledgement is in order: ``ack(seq)`` says every record up to ``seq`` reached the
server. The highest acked number is kept in the file ``acked`` (written to a temporary
name and renamed), and a segment whose records are all acked is deleted, except the one
appended to: while the spool is open that one stays until it holds ``KEEP_ACKED_BYTES``
(or an append to it fails: a full disk), so that a spool the sender keeps emptying does
not create, fsync and delete a file per batch. ``close`` deletes it once all is acked.
A spool of only acked records is empty; its folder may be removed.

What an ack must never lose is the highest sequence number used: batch ids are
``uid:seq`` and the server keeps them, so a number given twice would be taken for a batch
it already has. Every number lives in a segment until that segment is deleted, and
``acked`` is fsynced before any segment goes; in between, ``acked`` is written without an
fsync and at most every ``ACK_EVERY`` seconds (a machine that crashes may forget the last
acks: those batches are then sent again and the server, which knows their ids, keeps
them once). An ack costs a few microseconds instead of two fsyncs and four file
operations.

Crash safety: a process killed in the middle of ``append`` leaves a torn record at the end
of the last segment (short, or with a CRC that does not match). Opening the spool cuts the
segment back to its last whole record, so the records before it are all kept. A failed
``append`` (a full disk) cuts the segment back to where it was, so the spool stays whole
and the caller can try again later.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..checkpoints.files import fsync_dir
from ..runfiles import SPOOL

HEADER: Final = struct.Struct("<IIQ")
SUFFIX: Final = ".seg"
ACKED: Final = "acked"
#: A new segment is started once the current one is this large.
SEGMENT_BYTES: Final = 16 * 1024 * 1024
#: The largest payload a record may hold.
MAX_RECORD: Final = 1 << 31
#: Seconds between writes of ``acked`` while no segment is deleted.
ACK_EVERY: Final = 1.0
#: A segment appended to and wholly acked is deleted once it is this large (what a live
#: run's spool may keep of batches already sent).
KEEP_ACKED_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Ref:
    seq: int
    segment: Path
    offset: int  # of the payload
    length: int


class SpoolError(Exception):
    """A spool that cannot be used (a record too large, a folder that is not a spool)."""


class SpoolBusy(SpoolError):
    """Another process holds the spool (a live run, or a sync)."""


class Spool:
    """An append-only, fsynced, crash-safe queue of byte records in a folder.

    Not thread-safe by itself: the remote backend (``remote.py``) guards it with a lock.
    """

    def __init__(self, folder: str | os.PathLike[str], *, segment_bytes: int = SEGMENT_BYTES,
                 fsync: bool = True, lock: bool = True) -> None:
        self.folder = Path(folder)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lockfd: int | None = None
        if lock:
            self._lockfd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._lockfd)
                raise SpoolBusy(f"the spool {self.folder} is in use by another process") from None
        self.repaired = 0  # bytes cut from torn records when opening
        self._acked = self._read_acked()
        self._acked_written = self._acked  # what the file says
        self._acked_durable = False  # whether that is fsynced (not known at open)
        self._acked_at = time.monotonic()
        self._pending: deque[_Ref] = deque()
        self._bytes = 0
        self._next = self._acked + 1
        self._fh: int | None = None  # the segment appended to
        self._tail: Path | None = None
        self._tail_size = 0
        self._scan()
        self.uid = self._read_uid()

    def _read_uid(self) -> str:
        """A random name of this spool, so that batch ids (``uid:seq``) never repeat."""
        path = self.folder / "uid"
        try:
            uid = path.read_text().strip()
            if uid:
                return uid
        except FileNotFoundError:
            pass
        uid = secrets.token_hex(8)
        tmp = self.folder / "uid.tmp"
        with tmp.open("w") as f:
            f.write(uid)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self.fsync:
            fsync_dir(self.folder)
        return uid

    # -- opening -------------------------------------------------------------------

    def _read_acked(self) -> int:
        try:
            return int((self.folder / ACKED).read_text().strip() or "0")
        except (FileNotFoundError, ValueError):
            return 0

    def segments(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir()
                      if p.suffix == SUFFIX and p.stem.isdigit())

    def _scan(self) -> None:
        segments = self.segments()
        for i, seg in enumerate(segments):
            good = 0
            with seg.open("rb") as f:
                data = f.read()
            pos = 0
            size = len(data)
            while pos + HEADER.size <= size:
                length, crc, seq = HEADER.unpack_from(data, pos)
                end = pos + HEADER.size + length
                if end > size:
                    break
                payload = data[pos + HEADER.size:end]
                if zlib.crc32(payload) != crc:
                    break
                if seq > self._acked:
                    self._pending.append(_Ref(seq, seg, pos + HEADER.size, length))
                    self._bytes += length
                self._next = max(self._next, seq + 1)
                pos = good = end
            if good < size:
                # A torn record (killed mid-append): keep everything before it.
                self.repaired += size - good
                with seg.open("r+b") as f:
                    f.truncate(good)
                    if self.fsync:
                        os.fsync(f.fileno())
            last = i == len(segments) - 1
            if not last and not (self._pending and self._pending[-1].segment == seg):
                self._unlink(seg)
        remaining = self.segments()
        if remaining:
            tail = remaining[-1]
            if not (self._pending and self._pending[-1].segment == tail):
                self._unlink(tail)  # all acked: start a fresh segment on append
            else:
                self._tail = tail
                self._tail_size = tail.stat().st_size

    # -- writing -------------------------------------------------------------------

    def _open_tail(self) -> int:
        if self._fh is not None and self._tail_size < self.segment_bytes:
            return self._fh
        if self._fh is not None:
            os.close(self._fh)
            self._fh = None
        if self._tail is None or self._tail_size >= self.segment_bytes:
            self._tail = self.folder / f"{self._next:016d}{SUFFIX}"
            self._tail_size = 0
            created = True
        else:
            created = False
        self._fh = os.open(self._tail, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if created and self.fsync:
            fsync_dir(self.folder)
        return self._fh

    def append(self, payload: bytes) -> int:
        """Write one record and fsync it; returns its sequence number. On ``OSError`` (a
        full disk) nothing is kept of this record and the spool is as before."""
        if len(payload) >= MAX_RECORD:
            raise SpoolError(f"a spool record holds less than {MAX_RECORD} bytes")
        seq = self._next
        record = HEADER.pack(len(payload), zlib.crc32(payload), seq) + payload
        fh = self._open_tail()
        assert self._tail is not None
        before = self._tail_size
        try:
            written = os.write(fh, record)
            while written < len(record):
                written += os.write(fh, record[written:])
            if self.fsync:
                os.fsync(fh)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fh, before)
            os.close(fh)
            self._fh = None
            if not (self._pending and self._pending[-1].segment == self._tail):
                with contextlib.suppress(OSError):  # all sent: free its room for the next
                    self._unlink(self._tail)
            raise
        self._tail_size = before + len(record)
        self._pending.append(_Ref(seq, self._tail, before + HEADER.size, len(payload)))
        self._bytes += len(payload)
        self._next = seq + 1
        return seq

    # -- reading and acknowledging --------------------------------------------------

    @property
    def next_seq(self) -> int:
        """The sequence number the next ``append`` will give."""
        return self._next

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def acked(self) -> int:
        return self._acked

    def _read(self, ref: _Ref) -> bytes:
        with ref.segment.open("rb") as f:
            f.seek(ref.offset)
            return f.read(ref.length)

    def peek(self, n: int = 1, max_bytes: int | None = None) -> list[tuple[int, bytes]]:
        """The oldest ``n`` records not acked yet, ``[(seq, payload), …]``; with
        ``max_bytes``, fewer once their payloads would pass it (but always one)."""
        out: list[tuple[int, bytes]] = []
        size = 0
        for i, ref in enumerate(self._pending):
            if i >= n or (out and max_bytes is not None and size + ref.length > max_bytes):
                break
            size += ref.length
            out.append((ref.seq, self._read(ref)))
        return out

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for ref in list(self._pending):
            yield ref.seq, self._read(ref)

    def ack(self, seq: int) -> None:
        """Every record up to ``seq`` reached its destination: forget them (see the module
        docstring for what is written when)."""
        if seq <= self._acked:
            return
        self._acked = seq
        done: set[Path] = set()
        while self._pending and self._pending[0].seq <= seq:
            ref = self._pending.popleft()
            self._bytes -= ref.length
            done.add(ref.segment)
        live = {r.segment for r in self._pending}
        keep = {self._tail} if self._tail_size < KEEP_ACKED_BYTES else set()
        for seg in done - live - keep:  # the one appended to stays a while (docstring)
            self._unlink(seg)
        if (self._acked_written != self._acked
                and time.monotonic() - self._acked_at >= ACK_EVERY):
            self._write_acked(durable=False)

    def _write_acked(self, *, durable: bool) -> None:
        tmp = self.folder / (ACKED + ".tmp")
        with tmp.open("w") as f:
            f.write(str(self._acked))
            f.flush()
            if durable and self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.folder / ACKED)
        if durable and self.fsync:
            fsync_dir(self.folder)
        self._acked_written = self._acked
        self._acked_at = time.monotonic()
        self._acked_durable = durable

    def _unlink(self, seg: Path) -> None:
        """Delete a segment whose records are all acked, after making ``acked`` durable
        (the numbers in it must not be given again after a crash)."""
        if not (self._acked_written == self._acked and self._acked_durable):
            self._write_acked(durable=True)
        if seg == self._tail:
            if self._fh is not None:
                os.close(self._fh)
                self._fh = None
            self._tail = None
            self._tail_size = 0
        seg.unlink(missing_ok=True)

    def close(self) -> None:
        """Write ``acked``, delete the segment appended to if all of it is acked, and
        release the spool."""
        with contextlib.suppress(OSError):  # a full disk: the spool is whole as it is
            if self._tail is not None and not self._pending:
                self._unlink(self._tail)
            elif self._acked_written != self._acked:
                self._write_acked(durable=False)
        if self._fh is not None:
            with contextlib.suppress(OSError):
                os.close(self._fh)
            self._fh = None
        if self._lockfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lockfd)  # releases the lock
            self._lockfd = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_spools(paths: list[Path]) -> list[Path]:
    """Spool folders at or under ``paths`` (a spool folder, a run folder, a traindeck
    folder), sorted."""
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            continue
        if path.name == SPOOL and path.is_dir():
            found.add(path)
            continue
        for seg in path.rglob(f"*{SUFFIX}"):
            if seg.parent.name == SPOOL:
                found.add(seg.parent)
    return sorted(found)
