"""Following a launch that runs on a host, on the launch's own thread: mirror its logs,
send the signals the launcher asked for, notice its end, bring its results home.

A round every ``mirror_s`` seconds (sooner when a signal is queued): copy what is new in the
remote logs, then look for the exit file. When the connection is down nothing ends: the
line says so and the round waits for the link (which reconnects by itself); a link that gave
up (its host key changed, say) is opened again from scratch every few seconds, and a
reverse forward is set up again on a fresh link (same port when free). Every
``status_s`` seconds the wrapper is checked to still exist: a wrapper gone without an exit
file (the host rebooted, or someone killed it) ends the launch with no exit code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from traindeck.launch.executor import ExecutorError
from traindeck.remote import job
from traindeck.remote.deploy import PID_WAIT_S, retried
from traindeck.remote.errors import Disconnected, SSHError
from traindeck.remote.mirror import LogMirror
from traindeck.remote.results import ResultFile
from traindeck.remote.ssh import SSHLink
from traindeck.remote.tracked import RemoteLaunch, append, deliver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowEnv:
    """What the loop needs of its executor."""

    acquire: Callable[[RemoteLaunch], SSHLink]
    release: Callable[[str], None]
    results: Callable[[RemoteLaunch, SSHLink, Callable[[int, int], None]], list[ResultFile]]
    server: tuple[str, int]
    mirror_s: float
    status_s: float
    wait_s: float
    retry_s: float
    clock: Callable[[], float] = time.monotonic


def follow(la: RemoteLaunch, env: FollowEnv) -> None:
    mirrors: list[LogMirror] | None = None
    last_status = env.clock()
    adopted_at = env.clock()
    while not la.stop.is_set():
        link = la.link
        if link is None or link.state.startswith(("failed", "closed")):
            link = _relink(la, env)
            if link is None:
                la.stop.wait(env.retry_s)
                continue
        if not link.connected:
            la.line = f"{la.running_line()}; {link.state}"
            link.wait_connected(env.mirror_s * 4)
            continue
        try:
            if not la.forwarded:
                _forward(la, link, env.server)
            if la.st.pid is None and not _found_pid(la, link, env.clock() - adopted_at):
                if la.ended:
                    return
                la.wake.wait(env.mirror_s)
                continue
            _send_queued(la, link)
            if mirrors is None:
                mirrors = [LogMirror(la.dir.file("stdout.log"), la.stdout, la.st.stdout_base),
                           LogMirror(la.dir.file("stderr.log"), la.stderr, la.st.stderr_base)]
            code = _exit_code(link, la.dir)
            for m in mirrors:
                m.pump(link)
            if code is None and env.clock() - last_status >= env.status_s:
                last_status = env.clock()
                status = link.run(job.status_command(la.dir, la.st.pid or 0), timeout=30)
                if status.stdout.strip() == "gone":
                    code = _exit_code(link, la.dir)
                    if code is None:
                        while any(m.pump(link) for m in mirrors):
                            pass
                        la.fail(f"the process on {la.st.host} is gone and left no exit status "
                               "(the host restarted, or its wrapper was killed)")
                        return
            if code is not None:
                while any(m.pump(link) for m in mirrors):
                    pass
                _finish(la, link, code, env)
                return
            la.line = la.running_line()
        except Disconnected:
            la.line = f"{la.running_line()}; {link.state}"
        except SSHError as exc:
            log.warning("following launch %s on %s: %s", la.key, la.st.host, exc)
            la.line = f"{la.running_line()}; {exc}"
        la.wake.wait(env.mirror_s)
        la.wake.clear()


def _relink(la: RemoteLaunch, env: FollowEnv) -> SSHLink | None:
    """A fresh link for a launch whose link gave up (or that has none yet: adopted)."""
    if la.link is not None:
        la.link, la.forwarded = None, False
        env.release(la.st.host)
    try:
        link = env.acquire(la)
    except SSHError as exc:
        la.line = f"{la.running_line()}; cannot reach {la.st.host}: {exc}"
        return None
    if la.stop.is_set():
        env.release(la.st.host)
        return None
    la.link = link
    return link


def _forward(la: RemoteLaunch, link: SSHLink, server: tuple[str, int]) -> None:
    """The launch's reverse forward on ``link``: on its old port when free (the script
    still sends there), else on a new one (its batches wait in its spool: logged)."""
    old = la.st.remote_port or 0
    try:
        port = link.reverse_forward(old, *server)
    except Disconnected:
        raise
    except SSHError:
        port = link.reverse_forward(0, *server)
        log.warning("launch %s on %s: port %s is taken; its metrics tunnel is on %s now, "
                    "but its script still sends to %s", la.key, la.st.host, old, port, old)
    with la.lock:
        la.st.remote_port, la.forwarded = port, True
        la.save()


def _found_pid(la: RemoteLaunch, link: SSHLink, waited: float) -> bool:
    """For a launch adopted while it was being started: its pid, once its wrapper wrote
    it; fails the launch when it was never started."""
    d = la.dir
    try:
        parts = link.read_from(d.file("pid"), 0, 100).decode().split()
    except FileNotFoundError:
        parts = []
    if len(parts) == 2:
        try:
            runner = link.read_from(d.file("launched"), 0, 100).decode().strip()
        except FileNotFoundError:
            runner = "nohup"
        with la.lock:
            la.st.pid, la.st.pgid, la.st.runner = int(parts[0]), int(parts[1]), runner
            la.st.session = d.session if runner == "tmux" else None
            la.st.stage, la.line = "running", la.running_line()
            la.save()
        return True
    try:
        link.read_from(d.file("launched"), 0, 10)
    except FileNotFoundError:
        la.fail(f"the server stopped while starting this launch (before it ran on "
               f"{la.st.host}); launch it again")
        return False
    if waited > PID_WAIT_S:
        la.fail(f"the process on {la.st.host} did not start (its wrapper wrote no pid)")
    return False


def _send_queued(la: RemoteLaunch, link: SSHLink) -> None:
    with la.lock:
        actions, la.actions = la.actions, []
    try:
        deliver(la, link, actions)
    except Disconnected:
        with la.lock:
            la.actions[:0] = actions  # sent again after reconnect (signals are idempotent)
        raise


def _exit_code(link: SSHLink, d: job.LaunchDir) -> int | None:
    try:
        text = link.read_from(d.file("exit"), 0, 64).decode().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _finish(la: RemoteLaunch, link: SSHLink, code: int, env: FollowEnv) -> None:
    """The process ended with ``code``: results home, then the end is known."""
    def progress(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        la.line = f"downloading results {pct}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)"

    la.line = "looking for results"
    try:
        retried(link, env.wait_s, "downloading the results",
                lambda: env.results(la, link, progress))
    except ExecutorError as exc:
        append(la.stderr, f"traindeck: the results could not be downloaded: {exc}\n")
    la.exit_file.write_text(str(code))
    with la.lock:
        la.st.stage, la.st.exit_code = "ended", code
        la.save()
        la.ended, la.code, la.line = True, code, f"ended (exit {code})"
