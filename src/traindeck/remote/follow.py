"""Following a launch that runs on a host, on the launch's own thread: mirror its logs,
send the signals the launcher asked for, notice its end, bring its results home.

The pieces both executors on hosts use: :func:`connected_link` (a link that gave up, its
host key changed say, is opened again from scratch every ``retry_s`` seconds; while the
connection is down the round waits for the link, which reconnects by itself), :func:`forward`
(a reverse forward set up again on a fresh link, on the same port when free), and
:func:`finish` (results home, the exit code in the local exit file, then the end is known).
The Slurm executor's part for login nodes follows its job with them
(:mod:`~traindeck.remote.slurm_login_work`); :func:`follow` is the SSH executor's loop.

:func:`follow`: a round every ``mirror_s`` seconds (sooner when a signal is queued): copy
what is new in the remote logs, then look for the exit file. When the connection is down
nothing ends: the line says so. Every ``status_s`` seconds the wrapper is checked to still
exist: a wrapper gone without an exit file (the host rebooted, or someone killed it) ends
the launch with no exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from traindeck.launch.executor import ExecutorError
from traindeck.remote import job
from traindeck.remote.context import L, LaunchContext
from traindeck.remote.deploy import PID_WAIT_S, retried
from traindeck.remote.errors import Disconnected, SSHError
from traindeck.remote.mirror import LogMirror, drain
from traindeck.remote.results import Progress, ResultFile, download_results, list_results
from traindeck.remote.ssh import SSHLink
from traindeck.remote.tracked import RemoteLaunch, append, deliver
from traindeck.runfiles import RunFiles

log = logging.getLogger(__name__)


def follow(la: RemoteLaunch, ctx: LaunchContext[RemoteLaunch]) -> None:
    """The SSH executor's launch, from its start (or adopt) to its end."""
    mirrors: list[LogMirror] | None = None
    last_status = ctx.clock()
    adopted_at = ctx.clock()
    while not la.stop.is_set():
        link = connected_link(la, ctx, la.running_line)
        if link is None:
            continue
        try:
            if not la.forwarded:
                forward(la, link, ctx.server)
            if la.st.pid is None and not _found_pid(la, link, ctx.clock() - adopted_at):
                if la.ended:
                    return
                la.wake.wait(ctx.mirror_s)
                continue
            _send_queued(la, link)
            if mirrors is None:
                mirrors = [LogMirror(la.dir.file("stdout.log"), la.stdout, la.st.stdout_base),
                           LogMirror(la.dir.file("stderr.log"), la.stderr, la.st.stderr_base)]
            code = _exit_code(link, la.dir)
            for m in mirrors:
                m.pump(link)
            if code is None and ctx.clock() - last_status >= ctx.status_s:
                last_status = ctx.clock()
                status = link.run(job.status_command(la.dir, la.st.pid or 0), timeout=30)
                if status.stdout.strip() == "gone":
                    code = _exit_code(link, la.dir)
                    if code is None:
                        drain(mirrors, link)
                        la.fail(f"the process on {la.st.host} is gone and left no exit status "
                               "(the host restarted, or its wrapper was killed)")
                        return
            if code is not None:
                drain(mirrors, link)
                finish(la, link, code, ctx, progress=True)
                return
            la.line = la.running_line()
        except Disconnected:
            la.line = f"{la.running_line()}; {link.state}"
        except SSHError as exc:
            log.warning("following launch %s on %s: %s", la.key, la.st.host, exc)
            la.line = f"{la.running_line()}; {exc}"
        la.wake.wait(ctx.mirror_s)
        la.wake.clear()


def connected_link(la: L, ctx: LaunchContext[L],
                   prefix: Callable[[], str] | None) -> SSHLink | None:
    """The launch's link when it is connected; ``None`` (after a wait: the caller's round
    starts again) when it is not. A link that gave up, or none (adopted), is opened again.
    ``prefix``: the launch's line says the trouble after it (``None``: only a host that
    cannot be reached is said)."""
    link = la.link
    if link is None or link.state.startswith(("failed", "closed")):
        link = _relink(la, ctx, prefix)
        if link is None:
            la.stop.wait(ctx.retry_s)
            return None
    if not link.connected:
        if prefix is not None:
            la.line = f"{prefix()}; {link.state}"
        link.wait_connected(ctx.mirror_s * 4)
        return None
    return link


def _relink(la: L, ctx: LaunchContext[L], prefix: Callable[[], str] | None) -> SSHLink | None:
    """A fresh link for a launch whose link gave up (or that has none yet: adopted)."""
    if la.link is not None:
        la.link, la.forwarded = None, False
        ctx.release(la.st.host)
    try:
        link = ctx.acquire(la, None)
    except SSHError as exc:
        said = f"cannot reach {la.st.host}: {exc}"
        la.line = said if prefix is None else f"{prefix()}; {said}"
        return None
    if la.stop.is_set():
        ctx.release(la.st.host)
        return None
    return link


def forward(la: RemoteLaunch, link: SSHLink, server: tuple[str, int]) -> None:
    """The launch's reverse forward on ``link``: on its old port when free (its script or
    job still sends there), else on a new one (its batches wait in its spool: logged)."""
    old = la.st.remote_port or 0
    try:
        port = link.reverse_forward(old, *server)
    except Disconnected:
        raise
    except SSHError:
        port = link.reverse_forward(0, *server)
        log.warning("launch %s on %s: port %s is taken; its metrics tunnel is on %s now, "
                    "but its %s still sends to %s", la.key, la.st.host, old, port, la.RUNS,
                    old)
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
            la.st.stage = "running"
            la.save()
            la.line = la.running_line()  # said once the state file says so too
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


def finish(la: L, link: SSHLink, code: int | None, ctx: LaunchContext[L], *,
           progress: bool) -> None:
    """The process (or job) ended with ``code`` (``None``: it left no exit status): results
    home (``progress``: the line shows the download's), the code in the local exit file,
    then the end is known. A download that fails is said in the console; the end stands."""
    st = la.st
    if st.python is not None and st.fingerprint is not None and st.folder is not None:
        def downloading(done: int, total: int) -> None:
            pct = 100 * done // total if total else 100
            la.line = f"downloading results {pct}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)"

        la.line = "looking for results"
        try:
            retried(link, ctx.wait_s, "downloading the results", lambda: bring_results(
                la, link, ctx.files, downloading if progress else None))
        except ExecutorError as exc:
            append(la.stderr, f"traindeck: the results could not be downloaded: {exc}\n")
    if code is not None:
        la.exit_file.write_text(str(code))
    with la.lock:
        st.stage, st.exit_code = "ended", code
        la.save()
        la.ended, la.code = True, code
        la.line = f"ended (exit {code})" if code is not None else "ended (no exit status)"


def bring_results(la: RemoteLaunch, link: SSHLink, files: RunFiles,
                  progress: Progress | None = None) -> list[ResultFile]:
    """List the launch's result files on the host and download those not in the run's
    artifacts yet (see :mod:`~traindeck.remote.results`); recorded in its state."""
    st = la.st
    assert st.folder is not None and st.python is not None and st.fingerprint is not None
    original = f"{job.Archive(la.dir.workdir, st.fingerprint).folder}/code"
    dest = files.artifacts(st.run_id) if st.run_id else la.exit_file.parent / "results"
    found = list_results(link, st.python, st.folder, original, st.result_patterns)
    got = download_results(link, st.folder, found, dest, progress=progress)
    with la.lock:
        st.results = [r.to_dict() for r in got]
        la.save()
    return got
