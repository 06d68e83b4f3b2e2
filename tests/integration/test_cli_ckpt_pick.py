"""``traindeck ckpt pick`` as a user runs it: the installed command on a real terminal.

The child gets a pseudo-terminal (stdlib ``pty``) as its controlling terminal, stdin and
stderr, and a pipe as stdout, as in ``ckpt=$(traindeck ckpt pick)``: the table and the
question must reach the terminal, only the chosen path the pipe. Ctrl-C and Ctrl-D are
typed as the terminal's own characters.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import clean_env, open_dir_store

from traindeck.store import Store

TIMEOUT = 60.0


def traindeck_command() -> list[str]:
    """The console script installed beside this Python, else ``python -m traindeck.cli``."""
    script = Path(sys.executable).parent / "traindeck"
    if script.exists():
        return [str(script)]
    found = shutil.which("traindeck")
    return [found] if found else [sys.executable, "-m", "traindeck.cli"]


class Terminal:
    """A ``traindeck`` process on a pseudo-terminal, stdout on a pipe."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        env = clean_env()
        env.update(NO_COLOR="1", TERM="xterm", COLUMNS="160")

        def controlling_terminal() -> None:  # runs in the child, after setsid
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [*traindeck_command(), "ckpt", "pick", *args], stdin=slave, stderr=slave,
            stdout=subprocess.PIPE, env=env, start_new_session=True,
            preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, text: str, count: int = 1) -> str:
        """Read the terminal until ``text`` has appeared ``count`` times in all."""
        deadline = time.monotonic() + TIMEOUT
        while self.screen.count(text) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    data = b""
                assert data or self.proc.poll() is None, (
                    f"exited {self.proc.returncode} before {text!r}:\n{self.screen}")
                self.screen += data.decode(errors="replace")
        return self.screen

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self) -> tuple[int, str]:
        """Wait for the exit; the exit code and what reached stdout."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read().decode()
        code = self.proc.wait(timeout=TIMEOUT)
        self.drain()
        return code, out

    def drain(self) -> None:
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.screen += data.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        os.close(self.master)


@pytest.fixture
def checkpoints(store_dir: Path) -> Iterator[dict[int, str]]:
    """Run ``r1`` with 12 checkpoints (steps 0, 50, …, 550) saved out of order."""
    with open_dir_store(store_dir) as store:
        store.create_run(project="mnist", name="baseline", id="r1")
        paths = {}
        for step in (550, 0, 100, 50, 500, 150, 200, 450, 250, 300, 400, 350):
            paths[step] = save(store, "r1", step)
    yield paths


def save(store: Store, run_id: str, step: int) -> str:
    folder = store.files_root / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint_step_{step:07d}.dat"
    data = f"step {step}".encode()
    path.write_bytes(data)
    store.add_checkpoint(run_id, step=step, path=str(path), size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(),
                         metrics={"quality": step / 1000, "loss": 1 / (step + 1)})
    return str(path)


PROMPT = "Which checkpoint? (number 1-10, Enter for the newest): "


def test_invalid_input_is_asked_again_then_a_number_picks(store_dir: Path,
                                                          checkpoints: dict[int, str]) -> None:
    term = Terminal("--dir", str(store_dir))
    try:
        screen = term.read_until(PROMPT)
        assert "mnist/baseline" in screen and "550" in screen
        assert "  0 " not in screen and "50" in screen  # the last 10: steps 100 … 550
        term.type(b"eleven\r")
        term.read_until("is not a number from 1 to 10")
        term.read_until(PROMPT, count=2)
        term.type(b"11\r")
        term.read_until(PROMPT, count=3)
        term.type(b"3\r")  # #1 is step 100, so #3 is step 200
        code, out = term.finish()
    finally:
        term.close()
    assert code == 0, term.screen
    assert out == checkpoints[200] + "\n"
    assert checkpoints[200] not in term.screen  # the path went to stdout only
    assert "Traceback" not in term.screen


def test_enter_picks_the_newest(store_dir: Path, checkpoints: dict[int, str]) -> None:
    term = Terminal("r1", "--dir", str(store_dir))
    try:
        term.read_until(PROMPT)
        term.type(b"\r")
        code, out = term.finish()
    finally:
        term.close()
    assert code == 0, term.screen
    assert out == checkpoints[550] + "\n"


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_and_ctrl_d_exit_1_cleanly(store_dir: Path, checkpoints: dict[int, str],
                                          key: bytes) -> None:
    term = Terminal("--dir", str(store_dir))
    try:
        term.read_until(PROMPT)
        term.type(key)
        code, out = term.finish()
    finally:
        term.close()
    assert code == 1, term.screen
    assert out == ""
    assert "no checkpoint picked" in term.screen
    assert "Traceback" not in term.screen and "Aborted" not in term.screen
