"""The SSH link (traindeck.remote.ssh) against a real sshd on 127.0.0.1 (tests/sshd_service.py):
commands, SFTP both ways, following a remote file, host keys (unknown, trusted, changed), a
wrong client key, sshd coming up late, connections killed mid-session (the link reconnects,
its reverse forward works again on the same port, a tmux session and a nohup'd process on the
host live on), and sshd down for a while.

Nothing is mocked: the server, its user, the keys and the connections are real.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shlex
import socketserver
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_service import SSHD, running_sshd
from support import free_port, wait_for

from traindeck.launch.executor import ExecutorError
from traindeck.remote.errors import (
    AuthenticationFailed,
    Disconnected,
    HostKey,
    HostKeyChanged,
    HostKeyUnknown,
    KeyUnusable,
    PortTimeout,
)
from traindeck.remote.known_hosts import scan_host_key, trust_host_key, trusted_keys
from traindeck.remote.probe import wait_for_port
from traindeck.remote.ssh import RunResult, SSHLink, SSHTarget


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


def make_target(sshd: SSHD, folder: Path, *, trusted: bool = True,
                key: Path | None = None) -> SSHTarget:
    known = folder / "known_hosts"
    if trusted:
        known.write_text(sshd.known_hosts_line + "\n")
    return SSHTarget(name="gpubox", host=sshd.host, port=sshd.port, user=sshd.user,
                     key=key or sshd.client_key, known_hosts=known)


@pytest.fixture
def link(sshd: SSHD, tmp_path: Path) -> Iterator[SSHLink]:
    # keepalives every 2 s: a connection whose end went silent is noticed in seconds too
    opened = SSHLink.open(make_target(sshd, tmp_path), backoff_cap=1.0,
                          keepalive_interval=2.0, keepalive_count_max=2)
    yield opened
    opened.close()


def eventually(link: SSHLink, command: str) -> RunResult:
    """``command``'s result once the link is (back) up and the command succeeds."""
    def attempt() -> RunResult | None:
        try:
            done = link.run(command, timeout=20)
        except Disconnected:
            return None
        return done if done.exit_status == 0 else None

    result: RunResult = wait_for(attempt, 60, f"{command!r} over a reconnected link", 0.2)
    return result


def test_run_a_command_with_its_status_output_and_input(link: SSHLink, sshd: SSHD) -> None:
    assert link.connected
    assert link.run("whoami").stdout.strip() == sshd.user
    assert link.run("echo out; echo err >&2; exit 3") == RunResult(3, "out\n", "err\n")
    assert link.run("cat", input="to stdin\n").stdout == "to stdin\n"
    # the remote SDK can be imported as that user with the interpreter the fixture offers
    done = link.run(f"{sshd.python} -c 'import traindeck; print(traindeck.__name__)'")
    assert (done.exit_status, done.stdout.strip()) == (0, "traindeck"), done.stderr


def test_put_and_get_are_byte_identical_with_progress(link: SSHLink, sshd: SSHD,
                                                      tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    local = tmp_path / "weights.bin"
    local.write_bytes(data)
    remote = f"{sshd.workdir}/weights.bin"
    up: list[tuple[int, int]] = []
    link.put(local, remote, progress=lambda done, total: up.append((done, total)))
    assert up and up[-1] == (len(data), len(data))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(up))
    remote_sum = link.run(f"sha256sum {remote}").stdout.split()[0]
    assert remote_sum == hashlib.sha256(data).hexdigest()
    assert link.run(f"ls {sshd.workdir}").stdout.split().count("weights.bin.part") == 0

    back = tmp_path / "back" / "weights.bin"
    back.parent.mkdir()
    down: list[tuple[int, int]] = []
    link.get(remote, back, progress=lambda done, total: down.append((done, total)))
    assert back.read_bytes() == data
    assert down and down[-1] == (len(data), len(data))
    assert sorted(p.name for p in back.parent.iterdir()) == ["weights.bin"]
    with pytest.raises(FileNotFoundError):
        link.get(f"{sshd.workdir}/no-such-file", tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_read_from_follows_a_growing_file_by_offset(link: SSHLink, sshd: SSHD) -> None:
    path = f"{sshd.workdir}/train.log"
    with pytest.raises(FileNotFoundError):
        link.read_from(path, 0, 100)
    link.run(f"printf 'step 1\\nstep 2\\n' > {path}")
    assert link.read_from(path, 0, 4) == b"step"
    first = link.read_from(path, 0, 1000)
    assert first == b"step 1\nstep 2\n"
    assert link.read_from(path, len(first), 1000) == b""
    link.run(f"printf 'step 3\\n' >> {path}")
    assert link.read_from(path, len(first), 1000) == b"step 3\n"
    assert link.read_from(path, 5, 3) == b"1\ns"


def test_an_unknown_host_key_is_refused_with_its_fingerprint_until_trusted(
        sshd: SSHD, tmp_path: Path) -> None:
    target = make_target(sshd, tmp_path / "td", trusted=False)
    with pytest.raises(HostKeyUnknown) as refused:
        SSHLink.open(target)
    message = str(refused.value)
    assert sshd.host_fingerprint in message and "ssh-ed25519" in message
    assert "traindeck hosts trust gpubox" in message
    assert isinstance(refused.value, ExecutorError)

    scanned = scan_host_key(sshd.host, sshd.port)
    assert scanned.fingerprint == sshd.host_fingerprint
    trust_host_key(target.known_hosts, sshd.host, sshd.port, scanned)
    assert stat.S_IMODE(target.known_hosts.stat().st_mode) == 0o600
    assert target.known_hosts.read_text().strip() == sshd.known_hosts_line
    with SSHLinkClosing(SSHLink.open(target)) as link:
        assert link.run("echo trusted").stdout == "trusted\n"


def test_a_changed_host_key_is_refused_loudly(sshd: SSHD, tmp_path: Path) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    kind, blob = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {kind} {blob}\n")
    target = make_target(sshd, tmp_path, trusted=False)
    old = trusted_keys(known, sshd.host, sshd.port)
    assert len(old) == 1

    with pytest.raises(HostKeyChanged) as refused:
        SSHLink.open(target)
    message = str(refused.value)
    assert "CHANGED" in message and sshd.host_fingerprint in message
    assert old[0].fingerprint in message and "traindeck hosts trust gpubox" in message
    assert not isinstance(refused.value, HostKeyUnknown)

    # accepting the new key on purpose replaces the old one
    trust_host_key(known, sshd.host, sshd.port, scan_host_key(sshd.host, sshd.port),
                   replace=True)
    assert [k.fingerprint for k in trusted_keys(known, sshd.host, sshd.port)] == [
        sshd.host_fingerprint]
    with SSHLinkClosing(SSHLink.open(target)) as link:
        assert link.run("true").exit_status == 0


def test_a_wrong_client_key_fails_at_once_with_a_clear_error(sshd: SSHD,
                                                              tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True)
    with pytest.raises(AuthenticationFailed) as refused:
        SSHLink.open(make_target(sshd, tmp_path, key=wrong), retry_for=600)
    assert f"authentication failed for {sshd.user}@{sshd.host}:{sshd.port}" in str(
        refused.value)
    assert f"(key {wrong})" in str(refused.value)

    with pytest.raises(KeyUnusable, match="cannot use the SSH key"):
        SSHLink.open(make_target(sshd, tmp_path, key=tmp_path / "missing_key"))

    locked = tmp_path / "locked_key"
    passphrase = "correct horse " + uuid.uuid4().hex
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f",
                    str(locked)], check=True)
    with pytest.raises(KeyUnusable) as unusable:
        SSHLink.open(make_target(sshd, tmp_path, key=locked), passphrase="not it")
    assert passphrase not in str(unusable.value) and "not it" not in str(unusable.value)


def test_waiting_for_an_sshd_that_starts_late(tmp_path: Path) -> None:
    with running_sshd(start=False) as late:
        waits: list[float] = []
        outcome: list[float | BaseException] = []

        def wait() -> None:
            try:
                outcome.append(wait_for_port(late.host, late.port, interval=0.2,
                                             timeout=120, on_wait=waits.append))
            except BaseException as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_for(lambda: len(waits) >= 3, 60, "the probe to wait a few rounds")
        assert not outcome  # still waiting: nothing listens yet
        late.start()
        waiter.join(60)
        assert outcome and isinstance(outcome[0], float), outcome
        assert waits == sorted(waits)
        with SSHLinkClosing(SSHLink.open(make_target(late, tmp_path))) as link:
            assert link.run("echo up").stdout == "up\n"


def test_the_port_probe_gives_up_with_a_clear_error() -> None:
    now = [0.0]
    waits: list[float] = []
    port = free_port()

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(PortTimeout) as gave_up:
        wait_for_port("127.0.0.1", port, interval=5, timeout=30, on_wait=waits.append,
                      clock=lambda: now[0], sleep=sleep)
    assert f"SSH on 127.0.0.1:{port} did not answer within 30 s" in str(gave_up.value)
    assert waits == [0, 5, 10, 15, 20, 25]


class EchoServer:
    """A TCP echo server on 127.0.0.1 here (the "traindeck server" a reverse forward
    reaches from the host)."""

    def __init__(self) -> None:
        class Echo(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.sendall(self.request.recv(1024))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def echo_through(remote_port: int) -> str:
    code = (f"import socket; s = socket.create_connection(('127.0.0.1', {remote_port}), "
            "timeout=5); s.sendall(b'ping'); print(s.recv(16).decode())")
    return f"python3 -c {shlex.quote(code)}"


def test_the_link_reconnects_after_its_connection_is_killed(link: SSHLink, sshd: SSHD) -> None:
    echo = EchoServer()
    try:
        remote_port = link.reverse_forward(0, "127.0.0.1", echo.port)
        assert link.run(echo_through(remote_port)).stdout == "ping\n"
        before = link.run("echo $SSH_CLIENT").stdout.split()[1]

        # a command cut short by the drop says so; it does not make up an exit status
        marker = f"{sshd.workdir}/sleeping"
        cut: list[BaseException | RunResult] = []

        def sleeper() -> None:
            try:
                cut.append(link.run(f"echo $$ > {marker}; exec sleep 30", timeout=60))
            except ExecutorError as exc:
                cut.append(exc)

        waiter = threading.Thread(target=sleeper)
        waiter.start()
        wait_for(lambda: link.run(f"test -s {marker}").exit_status == 0, 30, "the sleeper")
        assert sshd.drop_connections() > 0
        waiter.join(60)
        assert len(cut) == 1 and isinstance(cut[0], Disconnected), cut
        eventually(link, f"kill $(cat {marker})")  # it ran on after the drop
        after = eventually(link, "echo $SSH_CLIENT").stdout.split()[1]
        assert after != before  # a new connection (its own client port)
        assert link.connected and link.state.startswith("connected")
        # the reverse forward is back, on the same remote port
        assert eventually(link, echo_through(remote_port)).stdout == "ping\n"
        assert [f.remote_port for f in link.forwards] == [remote_port]
    finally:
        echo.close()


def test_calls_while_sshd_is_down_fail_fast_then_work_again(link: SSHLink,
                                                            sshd: SSHD) -> None:
    sshd.stop()
    try:
        wait_for(lambda: not link.connected, 60, "the link to notice")
        with pytest.raises(Disconnected, match="not connected"):
            link.run("true")
        assert link.state.startswith("reconnecting to")
    finally:
        sshd.start()
    assert eventually(link, "echo back").stdout == "back\n"


def test_a_tmux_session_survives_a_killed_connection(link: SSHLink, sshd: SSHD) -> None:
    socket_name = f"td-{uuid.uuid4().hex[:8]}"
    tmux = f"tmux -L {socket_name}"
    assert link.run(f"{tmux} new-session -d -s train 'sleep 600'").exit_status == 0
    try:
        sshd.drop_connections()
        assert eventually(link, f"{tmux} has-session -t train").exit_status == 0
    finally:
        link.run(f"{tmux} kill-server")


def test_without_tmux_a_nohup_process_survives_a_killed_connection(tmp_path: Path) -> None:
    with running_sshd(tmux=False) as bare, \
            SSHLinkClosing(SSHLink.open(make_target(bare, tmp_path), backoff_cap=1.0)) as link:
        assert link.run("command -v tmux").exit_status != 0
        marker = f"{bare.workdir}/done"
        # written whole, then renamed: a ``cat`` between the redirect's open and the echo
        # would read an empty file (it did once, in CI)
        started = link.run(f"setsid nohup sh -c 'sleep 2; echo done > {marker}.tmp; "
                           f"mv {marker}.tmp {marker}' > /dev/null 2>&1 < /dev/null &")
        assert started.exit_status == 0
        bare.drop_connections()
        assert eventually(link, f"cat {marker}").stdout == "done\n"


def test_key_none_authenticates_through_the_ssh_agent(sshd: SSHD, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_socket)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(agent_socket.exists, 30, "ssh-agent's socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(agent_socket)}
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent_socket))
        monkeypatch.setenv("HOME", str(tmp_path))  # no default keys of this machine's user
        target = SSHTarget(name="gpubox", host=sshd.host, port=sshd.port, user=sshd.user,
                           key=None, known_hosts=make_target(sshd, tmp_path).known_hosts)
        with SSHLinkClosing(SSHLink.open(target)) as link:
            assert link.run("whoami").stdout.strip() == sshd.user
    finally:
        agent.terminate()
        agent.wait(10)


class SSHLinkClosing:
    """``with SSHLinkClosing(link) as link:`` closes the link at the end."""

    def __init__(self, link: SSHLink) -> None:
        self.link = link

    def __enter__(self) -> SSHLink:
        return self.link

    def __exit__(self, *exc: object) -> None:
        self.link.close()


def test_host_key_value_renders_type_and_fingerprint() -> None:
    key = HostKey("ssh-ed25519", "SHA256:abc", "ssh-ed25519 AAAA")
    assert str(key) == "ssh-ed25519 SHA256:abc"

