"""What the SSH and Slurm benchmarks share: the real sshd and one-node Slurm the tests start
(tests/sshd_service.py, tests/slurm_service.py, imported from tests/ on ``sys.path``), an
SSH target with its key trusted, and a ``traindeck serve`` process on a chosen port.

A missing component (no sshd, not root, no Slurm) ends the benchmark with a message instead
of a figure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sshd_service import SSHD, running_sshd  # noqa: E402

from traindeck.remote.ssh import SSHTarget  # noqa: E402


@contextlib.contextmanager
def sshd(*, start: bool = True) -> Iterator[SSHD]:
    """The tests' loopback sshd; exits with a message when it cannot run here."""
    try:
        with running_sshd(start=start) as server:
            yield server
    except BaseException as exc:  # pytest's skip outside pytest: say why and stop
        if type(exc).__name__ in ("Skipped", "Failed"):
            raise SystemExit(f"no real sshd here: {exc}") from None
        raise


def target(server: SSHD, folder: Path, name: str = "bench") -> SSHTarget:
    """An SSH target for ``server`` whose host key is trusted (a known_hosts in ``folder``)."""
    known = folder / f"known_hosts-{uuid.uuid4().hex[:6]}"
    known.write_text(server.known_hosts_line + "\n")
    return SSHTarget(name=name, host=server.host, user=server.user, port=server.port,
                     key=server.client_key, known_hosts=known)


def serve(folder: Path, port: int, templates: Path,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``traindeck serve`` over the store in ``folder`` on 127.0.0.1:``port`` (not waited
    for: the caller times its start)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    log = (folder / "server.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "serve", "--dir", str(folder), "--port",
         str(port), "--templates", str(templates)],
        env={**clean, **(env or {})}, stdout=log, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
