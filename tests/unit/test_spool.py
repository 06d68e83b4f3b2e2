"""The durable spool on real files: append, ack, reopen after a crash (torn last record)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import missing

from traindeck.sdk.spool import HEADER, Spool, SpoolBusy, find_spools


def payloads(spool: Spool) -> list[bytes]:
    return [p for _, p in spool]


def test_append_peek_ack(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as sp:
        seqs = [sp.append(f"batch {i}".encode()) for i in range(5)]
        assert seqs == [1, 2, 3, 4, 5]
        assert len(sp) == 5 and sp.pending_bytes == sum(len(f"batch {i}") for i in range(5))
        assert sp.peek(2) == [(1, b"batch 0"), (2, b"batch 1")]
        sp.ack(2)
        assert len(sp) == 3 and sp.peek(1) == [(3, b"batch 2")]
        sp.ack(2)  # again: nothing changes
        assert len(sp) == 3
    with Spool(tmp_path / "spool") as sp:  # acks survive a reopen
        assert payloads(sp) == [b"batch 2", b"batch 3", b"batch 4"]
        assert sp.append(b"more") == 6
        sp.ack(6)
        assert len(sp) == 0
        assert len(sp.segments()) == 1  # the one appended to stays while open
    with Spool(tmp_path / "spool") as sp:
        assert sp.segments() == []  # closed: fully acked segments are deleted
        assert len(sp) == 0 and sp.next_seq == 7  # numbers never repeat


def test_a_process_killed_after_acks_never_gives_a_number_twice(tmp_path: Path) -> None:
    # acks are written lazily: a process that dies without closing may leave ``acked``
    # behind, and the batches after it are offered again (the server knows their ids);
    # what must hold is that no sequence number is given twice.
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from traindeck.sdk.spool import Spool\n"
        "sp = Spool(sys.argv[1])\n"
        "for i in range(3):\n"
        "    sp.ack(sp.append(b'batch %d' % i))\n"
        "os._exit(0)\n"  # no close(): as if killed
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
    with Spool(tmp_path) as sp:
        assert sp.next_seq == 4
        offered = payloads(sp)
        assert offered == [b"batch 0", b"batch 1", b"batch 2"][3 - len(offered):]
        assert sp.append(b"after") == 4


def test_segments_roll_and_are_deleted_once_acked(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as sp:
        for i in range(10):
            sp.append(bytes([i]) * 60)
        assert len(sp.segments()) == 5  # two 76-byte records each
        sp.ack(5)
        assert len(sp.segments()) == 3  # the one holding 5 and 6 stays
    with Spool(tmp_path, segment_bytes=100) as sp:
        assert [p[0] for p in payloads(sp)] == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size, HEADER.size + 3])
def test_torn_last_record_is_cut_and_the_rest_kept(tmp_path: Path, cut: int) -> None:
    folder = tmp_path / "spool"
    with Spool(folder) as sp:
        for i in range(3):
            sp.append(f"ok {i}".encode() * 10)
        sp.append(b"the torn one" * 10)
        seg = sp.segments()[-1]
    size = seg.stat().st_size
    last = HEADER.size + len(b"the torn one" * 10)
    os.truncate(seg, size - last + cut)  # killed in the middle of writing the 4th
    with Spool(folder) as sp:
        assert sp.repaired == cut
        assert payloads(sp) == [f"ok {i}".encode() * 10 for i in range(3)]
        assert sp.append(b"after") == 4
    with Spool(folder) as sp:
        assert payloads(sp)[-1] == b"after" and sp.repaired == 0


def test_corrupt_last_record_is_cut(tmp_path: Path) -> None:
    with Spool(tmp_path) as sp:
        sp.append(b"good")
        sp.append(b"flipped")
        seg = sp.segments()[-1]
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF  # a bit flip in the last payload: its CRC no longer matches
    seg.write_bytes(bytes(data))
    with Spool(tmp_path) as sp:
        assert payloads(sp) == [b"good"]


def test_full_disk_keeps_the_spool_whole(tmp_path: Path) -> None:
    # A real ENOSPC needs a small filesystem; /dev/full fails every write the same way.
    if not os.path.exists("/dev/full"):
        missing("/dev/full")
    with Spool(tmp_path) as sp:
        sp.append(b"kept")
        seg = sp.segments()[-1]
        good = seg.stat().st_size
        fh = sp._fh
        assert fh is not None
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fh)  # the segment's descriptor now writes to a full device
        os.close(full)
        with pytest.raises(OSError):
            sp.append(b"lost")
        assert len(sp) == 1 and sp.next_seq == 2
        assert sp.append(b"later") == 2  # a fresh descriptor: the disk has room again
    assert seg.stat().st_size >= good
    with Spool(tmp_path) as sp:
        assert payloads(sp) == [b"kept", b"later"]


def test_one_process_at_a_time(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolBusy):
        Spool(tmp_path)
    Spool(tmp_path).close()  # released


def test_find_spools(tmp_path: Path) -> None:
    for run in ("a", "b"):
        with Spool(tmp_path / "td" / "runs" / run / "spool") as sp:
            sp.append(b"x")
    found = find_spools([tmp_path / "td"])
    assert [p.parent.name for p in found] == ["a", "b"]
    assert find_spools([tmp_path / "td" / "runs" / "a"]) == found[:1]
    assert find_spools([tmp_path / "nope"]) == []


def test_a_process_killed_while_appending_leaves_a_whole_spool(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys\n"
        "from traindeck.sdk.spool import Spool\n"
        "sp = Spool(sys.argv[1], segment_bytes=1 << 20)\n"
        "print('go', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    sp.append(i.to_bytes(8, 'little') * (1 + i % 500))\n"
    )
    with subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "go\n"
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Spool(tmp_path) as sp:
        got = list(sp)
        assert len(got) > 10
        for n, (seq, payload) in enumerate(got, start=1):
            assert seq == n
            assert payload == n.to_bytes(8, "little") * (1 + n % 500)
        assert sp.append(b"after") == len(got) + 1
