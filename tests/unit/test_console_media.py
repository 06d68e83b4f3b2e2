"""Console capture (tee, line splitting, redaction), the PNG encoder and image checks, and
the store's console lines and media rows. Real components only: a real store on a temp
file, real streams (StringIO stand-ins for the terminal), the real SDK."""

from __future__ import annotations

import io
import struct
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import traindeck as td
from traindeck.redact import MARK, Redactor
from traindeck.sdk.console import MAX_LINE, ConsoleCapture, Tee
from traindeck.sdk.media import MAX_PIXELS, check_file, check_key, encode_png, to_pixels
from traindeck.store import InvalidInput, NotFound, Store
from traindeck.store.images import image_size, sniff_image
from traindeck.store.log_rows import MAX_READ

# -- PNG -----------------------------------------------------------------------------------


def decode_png(data: bytes) -> np.ndarray[Any, Any]:
    """A minimal PNG reader for what ``encode_png`` writes (8-bit, filter 0), checking
    every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    kinds = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        kinds.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert header is not None
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0
    channels = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * channels)
    assert (raw[:, 0] == 0).all()  # filter type 0 on every row
    pixels = raw[:, 1:].reshape(h, w, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (7, 5, 1), (16, 9, 3), (3, 30, 4)])
def test_png_round_trips(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    data = encode_png(pixels)
    back = decode_png(data)
    want = pixels[:, :, 0] if len(shape) == 3 and shape[2] == 1 else pixels
    assert np.array_equal(back, want)
    assert image_size(data) == (shape[1], shape[0])
    assert sniff_image(data) == ".png"


def test_pixels_from_bool_and_float_and_copied() -> None:
    mask = np.array([[True, False], [False, True]])
    assert to_pixels(mask).tolist() == [[255, 0], [0, 255]]
    ramp = np.array([[0.0, 0.5, 1.0]])
    assert to_pixels(ramp).tolist() == [[0, 128, 255]]
    src = np.zeros((2, 2, 3), np.uint8)
    out = to_pixels(src)
    src[:] = 9
    assert (out == 0).all(), "the image is copied: later changes to the buffer do not count"


@pytest.mark.parametrize("bad", [
    np.zeros((4, 4), np.int32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4), np.uint8),
    np.zeros((2, 2, 2, 2), np.uint8), np.array([[0.0, 1.5]]), np.array([[np.nan]]),
    np.broadcast_to(np.uint8(0), (MAX_PIXELS // 1000 + 1, 1000)), "not an image", 3,
])
def test_bad_images_are_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_pixels(bad) if not isinstance(bad, str) else check_file(bad)


@pytest.mark.parametrize("key", ["", "a/b", "a\\b", "..", "x..y", ".hidden", "a\nb",
                                 "k" * 129, 3])
def test_bad_keys_are_refused(key: Any) -> None:
    with pytest.raises(ValueError):
        check_key(key)


def test_image_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError):
        check_file(tmp_path / "notes.txt")
    good = tmp_path / "A.JPEG"
    good.write_bytes(b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x20\x00\x40\x03" + b"\x00" * 20)
    assert check_file(good) == (good, ".jpg")
    assert image_size(good.read_bytes()) == (64, 32)


# -- redaction ---------------------------------------------------------------------------


def test_redaction_blanks_known_secret_shapes() -> None:
    r = Redactor(["s3cr3t-value-from-env"])
    cases = {
        "token td_AbCdEf0123456789_-xyz used": "td_" + MARK,
        "env s3cr3t-value-from-env here": MARK,
        "Authorization: Bearer abcdefghijklmnop": "Bearer " + MARK,
        "password=hunter22 user=bob": "password=" + MARK,
        "DB_PASSWORD: 'x y'": MARK,
        "hf hf_abcdefghijklmnopqrstu": "hf_" + MARK,
        "gh ghp_abcdefghijklmnopqrstuvwxyz012345": "ghp_" + MARK,
        "aws AKIAABCDEFGHIJKLMNOP": "AKIA" + MARK,
        "-----BEGIN RSA PRIVATE KEY-----MIIEabc": "PRIVATE KEY-----" + MARK,
    }
    for text, mark in cases.items():
        out = r(text)
        assert mark in out, (text, out)
    assert "hunter22" not in r("password=hunter22")
    assert "s3cr3t" not in r("x s3cr3t-value-from-env")
    assert r("loss 0.25 at step 10") == "loss 0.25 at step 10"


# -- the tee and its lines -----------------------------------------------------------------


class Lines:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, t: float, stream: str, text: str) -> None:
        with self.lock:
            self.got.append((stream, text))


def test_a_progress_bar_redrawn_with_carriage_returns_is_one_line() -> None:
    out = io.StringIO()
    tee = Tee(out, "stderr")
    lines = Lines()
    tee.attach(lines)
    for pct in range(0, 101, 10):  # what tqdm writes: "\r" + the bar, flushed each time
        tee.write(f"\r{pct:3d}%|{'#' * (pct // 10):<10}|")
        tee.flush()
    tee.write("\n")
    tee.write("a\rb\rcd\r\n")
    tee.write("epoch 1\r")
    tee.write("\n")
    assert lines.got == [("stderr", "100%|##########|"), ("stderr", "cd"), ("stderr", "epoch 1")]
    assert out.getvalue().count("\r") == 15  # the terminal still gets every redraw


def test_tee_writes_through_and_splits_lines() -> None:
    out = io.StringIO()
    tee = Tee(out, "stdout")
    lines = Lines()
    tee.attach(lines)
    tee.write("a\nb")
    tee.write("c\r\n\nd")
    assert out.getvalue() == "a\nbc\r\n\nd"  # unchanged
    assert lines.got == [("stdout", "a"), ("stdout", "bc"), ("stdout", "")]
    tee.flush()  # a partial line waits for its newline, whatever the flushes
    assert len(lines.got) == 3
    tee.write("tail")
    tee.detach(lines)  # ... or the end of the run
    assert lines.got[-1] == ("stdout", "dtail")
    tee.write("after\n")
    assert len(lines.got) == 4  # not captured once detached
    assert tee.encoding == out.encoding if hasattr(out, "encoding") else True


def test_long_lines_are_cut_with_a_marker() -> None:
    tee = Tee(io.StringIO(), "stderr")
    lines = Lines()
    tee.attach(lines)
    for _ in range(5):
        tee.write("x" * (MAX_LINE // 2))
    tee.write("y\nnext\n")
    (s, first), second = lines.got
    assert s == "stderr" and first.startswith("x" * MAX_LINE)
    assert first.endswith(f"… [{MAX_LINE // 2 * 3 + 1} characters cut]")
    assert second == ("stderr", "next")


def test_tee_is_thread_safe() -> None:
    tee = Tee(io.StringIO(), "stdout")
    lines = Lines()
    tee.attach(lines)

    def work(i: int) -> None:
        for j in range(300):
            tee.write(f"thread {i} line {j}\n")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted(text for _, text in lines.got)
    assert got == sorted(f"thread {i} line {j}" for i in range(8) for j in range(300))


def test_capture_nests_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    first, second = Lines(), Lines()
    a = ConsoleCapture(first)
    tee = sys.stdout
    assert isinstance(tee, Tee)
    b = ConsoleCapture(second)
    assert sys.stdout is tee, "a second capture does not wrap again"
    print("to the newest")
    b.close()
    print("back to the first")
    a.close()
    assert sys.stdout is out and sys.stderr is err
    print("not captured")
    a.close()  # idempotent
    assert first.got == [("stdout", "back to the first")]
    assert second.got == [("stdout", "to the newest")]
    assert out.getvalue() == "to the newest\nback to the first\nnot captured\n"


def test_capture_survives_a_failing_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    def broken(t: float, stream: str, text: str) -> None:
        raise RuntimeError("boom")

    cap = ConsoleCapture(broken)
    print("still printed")
    cap.close()
    assert out.getvalue() == "still printed\n"


# -- the store -----------------------------------------------------------------------------


def test_log_lines_paging_tail_and_search(store: Store) -> None:
    store.create_run(project="p", id="r")
    assert store.last_log_seq("r") == 0
    texts = [f"step {i} loss {i / 10}" for i in range(1, 101)]
    texts[41] = "ERROR: 100% of the_batch failed"
    assert store.write_log_lines("r", [(float(i), "stdout", t) for i, t in
                                       enumerate(texts[:60])]) == 60
    assert store.write_log_lines("r", [(float(i), "stderr", t) for i, t in
                                       enumerate(texts[60:])]) == 100
    assert store.last_log_seq("r") == 100
    first = store.read_log_lines("r", limit=10)
    assert [x.seq for x in first] == list(range(1, 11))
    nxt = store.read_log_lines("r", after_seq=first[-1].seq, limit=10)
    assert [x.seq for x in nxt] == list(range(11, 21))
    assert [x.seq for x in store.read_log_lines("r", tail=5)] == [96, 97, 98, 99, 100]
    back = store.read_log_lines("r", before_seq=96, limit=3)
    assert [x.seq for x in back] == [93, 94, 95]
    assert [x.seq for x in store.read_log_lines("r", after_seq=10, before_seq=14)] == [11, 12, 13]
    assert store.read_log_lines("r", after_seq=100) == []
    assert store.read_log_lines("r", tail=1)[0].stream == "stderr"
    hits = store.read_log_lines("r", q="error")
    assert [x.seq for x in hits] == [42]
    assert [x.seq for x in store.read_log_lines("r", q="100%")] == [42]
    assert [x.seq for x in store.read_log_lines("r", q="the_b")] == [42]
    assert store.read_log_lines("r", q="%") == hits  # LIKE wildcards are literal
    assert [x.seq for x in store.read_log_lines("r", q="LOSS 9.")] == list(range(90, 100))
    assert len(store.read_log_lines("r", q="loss", tail=3)) == 3
    with pytest.raises(NotFound):
        store.read_log_lines("nope")
    with pytest.raises(NotFound):
        store.write_log_lines("nope", [(1.0, "stdout", "x")])
    with pytest.raises(InvalidInput):
        store.write_log_lines("r", [(1.0, "stdin", "x")])
    assert len(store.read_log_lines("r", limit=MAX_READ * 2)) == 100


def test_changes_feed_names_runs_with_new_lines(store: Store) -> None:
    store.create_run(project="p", id="a")
    store.create_run(project="p", id="b")
    seq, ev = store.current_seq()
    store.write_log_lines("a", [(1.0, "stdout", "x"), (2.0, "stdout", "y")])
    changes = store.changes_since(seq, ev)
    assert changes.logs == {"a": 2}
    assert store.changes_since(changes.seq, ev).logs == {}
    store.delete_run("a")
    assert store.last_log_seq("a") == 0


def test_media_rows_are_idempotent_and_announced(store: Store) -> None:
    store.create_run(project="p", id="r")
    m, created = store.add_media("r", key="samples", step=3, path="media/samples/3_0.png",
                                 caption="c", width=4, height=2, size=10)
    assert created and m.width == 4 and m.height == 2
    again, created2 = store.add_media("r", key="samples", step=3,
                                      path="media/samples/3_0.png")
    assert not created2 and again == m
    store.add_media("r", key="other", step=1, path="media/other/1_0.png")
    assert [x.key for x in store.list_media("r")] == ["other", "samples"]
    assert store.list_media("r", key="samples", step_min=4) == []
    assert store.media_keys("r") == ["other", "samples"]
    assert store.get_media(m.id) == m
    events = store.list_events("r", kind="media_logged")
    assert len(events) == 2
    assert events[0].payload == {"id": m.id, "key": "samples", "step": 3, "caption": "c",
                                 "kind": "image"}
    for bad in ("/etc/passwd", "media/../../x.png", ""):
        with pytest.raises(InvalidInput):
            store.add_media("r", key="k", step=0, path=bad)
    with pytest.raises(NotFound):
        store.get_media(999)


# -- the SDK, embedded -----------------------------------------------------------------------


def test_run_captures_console_and_logs_images(tmp_path: Path, store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("TRAINDECK_TOKEN", "td_envsecretvalue123")
    run = td.init(project="p", dir=tmp_path / "td", store=store, system_interval=None,
                  strict=True)
    print("hello")
    print("my token is td_envsecretvalue123")
    sys.stdout.write("no newline yet")
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    run.log({"loss": 1.0}, step=7)
    run.log_image("samples", pixels, caption="first")
    pixels[:] = 0  # copied: this does not change what is saved
    run.log_image("samples", pixels)
    with pytest.raises(ValueError):
        run.log_image("a/b", pixels)
    with pytest.raises(ValueError):
        run.log_image("ok", np.zeros((2, 2), np.int64))
    assert run.flush()
    run.finish()
    assert sys.stdout is out
    assert "hello\n" in out.getvalue() and "td_envsecretvalue123" in out.getvalue()
    texts = [x.text for x in store.read_log_lines(run.id)]
    assert texts[:2] == ["hello", "my token is [redacted]"]
    assert "no newline yet" in texts  # the partial line, at finish
    assert not any("envsecret" in t for t in texts)
    media = store.list_media(run.id)
    assert [(m.key, m.step, m.path, m.caption) for m in media] == [
        ("samples", 7, "media/samples/7_0.png", "first"),
        ("samples", 7, "media/samples/7_1.png", None)]
    assert run.dir is not None
    saved = (run.dir / media[0].path).read_bytes()
    assert saved == encode_png(np.arange(24, dtype=np.uint8).reshape(2, 4, 3))
    assert (media[0].width, media[0].height) == (4, 2)


def test_bad_images_are_reported_once_when_not_strict(tmp_path: Path, store: Store,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    run = td.init(project="p", dir=tmp_path / "td", store=store, system_interval=None,
                  strict=False, capture_console=False)
    run.log_image("k", tmp_path / "missing.png")
    run.log_image("k", tmp_path / "missing.png")
    run.finish()
    assert capsys.readouterr().err.count("log_image() failed") == 1
    assert store.list_media(run.id) == []


def test_disabled_run_captures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINDECK_MODE", "disabled")
    before = sys.stdout
    run = td.init(project="p")
    assert sys.stdout is before
    run.log_image("k", np.zeros((2, 2), np.uint8))
    run.finish()
