"""The SSH executor: a launch runs on another machine (a ``traindeck hosts`` record), reached
over one shared SSH link per host (:mod:`traindeck.remote.links`).

- **start** returns at once (the launcher's thread calls it): it checks what it can here
  (the host exists, the folders), writes the launch's state file (``ssh.json`` beside the
  exit file, :mod:`~traindeck.remote.ssh_state`) and hands the rest to a thread of its own:
  wait for SSH and connect, upload code and data as one archive unless the host has that
  content already, prepare the interpreter (venv, traindeck, the setup command), start the
  process (:mod:`~traindeck.remote.staging`, :mod:`~traindeck.remote.deploy`,
  :mod:`~traindeck.remote.job`). Each stage is
  :meth:`detail`'s line ("waiting for SSH on host:22 (12 s)", "uploading 45% (12/26 MB)",
  "running (tmux td-…)"). The handle's ``pid`` is 0 until the remote pid is known (the state
  file has it then); a start that fails later ends the launch (``poll``: ended, no code),
  with the reason in :meth:`error`, :meth:`detail` and a ``traindeck: …`` line in the
  console's stderr.
- **While it runs** the same thread mirrors the remote logs into the local console files
  (:mod:`~traindeck.remote.mirror`), delivers signals, and watches for the exit file. The
  SDK reaches the server through a reverse port forward on the link (``TRAINDECK_URL`` is
  ``http://127.0.0.1:<port>`` on the host). A dropped connection ends nothing: the link
  reconnects with backoff and the mirror goes on from the local sizes.
- **The end**: once the remote exit file exists, the logs are copied to their end, the
  results are downloaded into the run's artifacts (:mod:`~traindeck.remote.results`), the
  exit code is written to the local exit file too, and only then does :meth:`poll` report it.
- **adopt** (a new server) reads the state file: a running launch is followed again (same
  remote port for its forward when free); one whose server stopped during its upload or
  preparation is failed with a message saying so (nothing had started on the host: launching
  again is all it takes, and an upload already there is reused).

What it shares with the Slurm executor's part for login nodes (the launches' threads, links,
start, adopt, release) is :class:`~traindeck.remote.launches.HostLaunches`; what is its own
is here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from traindeck.launch.executor import ExecutorError, Handle
from traindeck.remote import deploy, job
from traindeck.remote.deploy import retried
from traindeck.remote.errors import SSHError
from traindeck.remote.follow import bring_results, follow
from traindeck.remote.launches import ENDED, HostLaunches
from traindeck.remote.results import ResultFile
from traindeck.remote.ssh import SSHTarget
from traindeck.remote.ssh_state import FILE_NAME, STARTING_STAGES, SSHState, read_state
from traindeck.remote.staging import prepare
from traindeck.remote.tracked import RemoteLaunch, Reporter, deliver

log = logging.getLogger(__name__)


class SSHExecutor(HostLaunches[RemoteLaunch]):
    """Launches on SSH hosts (see the module docstring; the constructor's arguments are
    :class:`~traindeck.remote.launches.HostLaunches`')."""

    name = "ssh"
    #: A launch on it names its host (``/api/executors``).
    needs_host = True
    #: It takes no resources (the host is what it is): a launch asking for some is refused.
    resource_keys: tuple[str, ...] = ()
    STATE_FILE = FILE_NAME
    UNSTARTED = STARTING_STAGES
    NO_HOST = ("the ssh executor runs a launch on a host: name one "
               "(--host NAME, \"host\": NAME; see traindeck hosts ls)")
    THREAD = "ssh-launch"
    CANCELLED_BEFORE = "started"

    # -- starting ------------------------------------------------------------------------

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None:
        """Before anything is made: a host is named, and no resources are asked for (an
        SSH host runs what it is given; Slurm is the executor that allocates)."""
        if not host:
            raise ExecutorError(self.NO_HOST)
        if resources:
            raise ExecutorError(f"the ssh executor takes no resources (got "
                                f"{', '.join(sorted(resources))}); use executor slurm to ask "
                                "a cluster for them")

    def _launch(self, st: SSHState, state_file: Path, stdout: Path, stderr: Path,
                exit_file: Path, target: SSHTarget) -> RemoteLaunch:
        return RemoteLaunch(st.key, st, state_file, stdout, stderr, exit_file, target)

    def _work(self, la: RemoteLaunch) -> None:
        """To the host (:func:`~traindeck.remote.staging.prepare`), the process started
        under its wrapper, then followed."""
        ready = prepare(la, self._ctx, where="the host")
        link, d, st, report = ready.link, la.dir, la.st, Reporter(la)
        report.stage("starting", "starting the process")
        runner, pid, pgid = retried(link, self._ctx.wait_s, "starting the process",
                                    lambda: deploy.start_process(link, d, ready.python,
                                                                 ready.env, ready.argv, report))
        with la.lock:
            st.runner, st.pid, st.pgid = runner, pid, pgid
            st.session = d.session if runner == "tmux" else None
            st.stage = "running"
            la.queue_kept()  # asked for while it was being started
            la.save()
            la.line = la.running_line()  # said once the state file says so too
        self._follow(la)

    def _follow(self, la: RemoteLaunch) -> None:
        follow(la, self._ctx)

    def _stopped_while(self, st: SSHState) -> str:
        return (f"the server stopped while this launch was {st.stage} "
                f"(before anything ran on {st.host}); launch it again")

    # -- the Executor protocol -------------------------------------------------------------

    def detail(self, handle: Handle) -> str | None:
        la = self._get(handle)
        return la.line if la is not None else None

    def started(self, handle: Handle) -> bool:
        """Whether the process runs (or ran) on the host: past waiting, uploading and
        preparing."""
        la = self._get(handle)
        return la is None or la.st.stage in ("running", *ENDED) or la.ended

    def group_alive(self, handle: Handle) -> bool:
        la = self._get(handle)
        if la is None or la.st.pgid is None or la.link is None:
            return la is not None and not la.ended
        try:
            done = la.link.run(job.group_alive_command(la.st.pgid), timeout=30)
        except SSHError:
            return True
        return done.stdout.strip() != "no"

    def _act(self, handle: Handle, kind: str, sig: int) -> None:
        """Queue a signal for the launch's thread (never blocks on the host); before the
        process exists, a cancelling signal stops the start and SIGSTOP/SIGCONT are kept
        for it; after the launch's thread is done, send it now (what is left of a group)."""
        la = self._get(handle)
        if la is None:
            return
        with la.lock:
            if la.st.pgid is None:
                la.keep(sig)
                la.wake.set()
                return
            live = la.thread is not None and la.thread.is_alive()
            if live:
                la.actions.append((kind, sig))
        if live:
            la.wake.set()
        elif la.link is not None:
            try:
                deliver(la, la.link, [(kind, sig)])
            except SSHError as exc:
                log.warning("could not signal launch %s on %s: %s", la.key, la.st.host, exc)

    def adopt(self, state: Mapping[str, Any]) -> Handle | None:
        extra = state.get("extra") if isinstance(state.get("extra"), dict) else None
        exit_file = state.get("exit_file")
        if not isinstance(exit_file, str):
            return None
        path = Path(extra["state_file"]) if extra and "state_file" in extra else \
            self._state_path(exit_file)
        st = read_state(path)
        if st is None:
            return None
        if (known := self._known(st.key)) is not None:
            return known
        if extra is None and st.stage in ENDED:
            return None  # an earlier start's record: this start never got that far
        stdout, stderr = state.get("stdout"), state.get("stderr")
        if not isinstance(stdout, str) or not isinstance(stderr, str):
            return None
        return self._take_up(st, path, stdout, stderr, exit_file)

    # -- results -----------------------------------------------------------------------------

    def fetch_results(self, handle: Handle) -> list[ResultFile]:
        """List the launch's result files on the host and download those not in the run's
        artifacts yet (same sha256: skipped). ``ExecutorError`` when the host cannot be
        reached now."""
        la = self._get(handle)
        if la is None or la.link is None or la.st.folder is None or la.st.python is None:
            raise ExecutorError("this launch is not followed here, or has not started yet")
        return bring_results(la, la.link, self._ctx.files)
