"""Console capture of launched processes: lines cut at newlines, a line begun is kept for
the next read, offsets let a new follower continue without duplicates, secrets redacted."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from traindeck.launch.capture import ConsoleCapture


def test_lines_offsets_and_redaction(tmp_path: Path) -> None:
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    stored: list[tuple[str, str]] = []

    def write(lines: Iterable[tuple[float, str, str]]) -> None:
        stored.extend((s, t) for _, s, t in lines)

    out.write_bytes(b"one\ntw")
    cap = ConsoleCapture(str(out), str(err), write, secrets=["s3cr3t-value"], clock=lambda: 1.0)
    cap.pump()
    assert stored == [("stdout", "one")]
    with out.open("ab") as f:
        f.write(b"o\nkey s3cr3t-value\n")
    cap.pump()
    assert stored[1] == ("stdout", "two") and "s3cr3t-value" not in stored[2][1]
    with out.open("ab") as f:
        f.write(b"three\nunended")
    err.write_bytes(b"\xff bad utf-8\n")
    again = ConsoleCapture(str(out), str(err), write, offsets=cap.offsets(), clock=lambda: 1.0)
    again.pump(final=True)
    assert stored[3:] == [("stdout", "three"), ("stdout", "unended"),
                          ("stderr", "\ufffd bad utf-8")]
