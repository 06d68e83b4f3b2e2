"""The SSH executor: a launch runs on another machine (a ``traindeck hosts`` record), reached
over one shared SSH link per host (:mod:`traindeck.remote.links`).

- **start** returns at once (the launcher's thread calls it): it checks what it can here
  (the host exists, the folders), writes the launch's state file (``ssh.json`` beside the
  exit file, :mod:`~traindeck.remote.ssh_state`) and hands the rest to a thread of its own:
  wait for SSH and connect, upload code and data as one archive unless the host has that
  content already, prepare the interpreter (venv, traindeck, the setup command), start the
  process (:mod:`~traindeck.remote.deploy`, :mod:`~traindeck.remote.job`). Each stage is
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
"""

from __future__ import annotations

import logging
import secrets
import shlex
import signal as signals
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec
from traindeck.remote import deploy, job
from traindeck.remote.deploy import Cancelled, RemoteSettings, retried
from traindeck.remote.errors import SSHError
from traindeck.remote.follow import FollowEnv, follow
from traindeck.remote.links import LinkPool, target_of
from traindeck.remote.results import ResultFile, download_results, list_results
from traindeck.remote.ssh import SSHLink, SSHTarget
from traindeck.remote.ssh_state import (
    STARTING_STAGES,
    SSHState,
    read_state,
    state_path,
)
from traindeck.remote.tracked import RemoteLaunch, Reporter, deliver, size
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

log = logging.getLogger(__name__)
_CANCELLING = frozenset({signals.SIGTERM, signals.SIGINT, signals.SIGHUP, signals.SIGKILL})
_INPUTS = ("TRAINDECK_CONFIG", "TRAINDECK_RESUME_CHECKPOINT")


class SSHExecutor:
    """Launches on SSH hosts (see the module docstring). ``hosts``: the store's
    ``get_host``; ``known_hosts``: traindeck's known_hosts file; ``server``: the address the
    reverse forwards lead to (the server's own); ``files``: where runs' artifacts go;
    ``wheel``: a traindeck wheel to install on a host that lacks it."""

    name = "ssh"
    #: A launch on it names its host (``/api/executors``).
    needs_host = True
    #: It takes no resources (the host is what it is): a launch asking for some is refused.
    resource_keys: tuple[str, ...] = ()

    def __init__(self, *, hosts: Callable[[str], Host], known_hosts: Path,
                 server: tuple[str, int], files: RunFiles,
                 wheel: Callable[[], Path] | None = None, probe_interval: float = 3.0,
                 ssh_wait_s: float = 300.0, mirror_interval: float = 0.5,
                 status_interval: float = 5.0, scratch: Path | None = None,
                 link_options: Mapping[str, Any] | None = None,
                 local_pythons: Iterable[str] = (sys.executable,),
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._hosts, self._known_hosts, self._server = hosts, known_hosts, server
        self._files, self._wheel = files, wheel
        self._wait_s, self._probe = ssh_wait_s, probe_interval
        self._mirror_s, self._status_s = mirror_interval, status_interval
        self._scratch = scratch or Path(tempfile.gettempdir())
        self._pythons = tuple(local_pythons)
        self._clock, self._wall = clock, wall
        self._pool = LinkPool(probe_interval=probe_interval, wait_s=ssh_wait_s,
                              options=link_options, on_moved=self._moved)
        self._launches: dict[str, RemoteLaunch] = {}
        self._upload_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- starting ------------------------------------------------------------------------

    def check_request(self, resources: Mapping[str, Any], host: str | None) -> None:
        """Before anything is made: a host is named, and no resources are asked for (an
        SSH host runs what it is given; Slurm is the executor that allocates)."""
        if not host:
            raise ExecutorError("the ssh executor runs a launch on a host: name one "
                                "(--host NAME, \"host\": NAME; see traindeck hosts ls)")
        if resources:
            raise ExecutorError(f"the ssh executor takes no resources (got "
                                f"{', '.join(sorted(resources))}); use executor slurm to ask "
                                "a cluster for them")

    def start(self, spec: ProcessSpec) -> Handle:
        if not spec.argv:
            raise ExecutorError("the command is empty")
        if not spec.host:
            raise ExecutorError("the ssh executor runs a launch on a host: name one "
                                "(--host NAME, \"host\": NAME; see traindeck hosts ls)")
        host = self._host(spec.host)
        if not spec.cwd.is_dir():
            raise ExecutorError(f"the working folder {spec.cwd} does not exist")
        settings = RemoteSettings.parse(spec.remote, spec.cwd)
        for path in (spec.stdout, spec.stderr, spec.exit_file):
            path.parent.mkdir(parents=True, exist_ok=True)
        spec.exit_file.unlink(missing_ok=True)
        run_id = spec.env.get("TRAINDECK_RUN_ID", "")
        key = job.launch_key(run_id or "run", secrets.token_hex(3))
        st = SSHState(host=host.name, key=key, started_at=self._wall(), run_id=run_id,
                      result_patterns=list(settings.results))
        launch = RemoteLaunch(key, st, state_path(spec.exit_file), spec.stdout, spec.stderr,
                         spec.exit_file, target_of(host, self._known_hosts), spec=spec,
                         settings=settings, line=f"connecting to {host.name}")
        launch.save()
        self._spawn(launch, self._work)
        return self._handle(launch)

    def _host(self, name: str) -> Host:
        try:
            return self._hosts(name)
        except ExecutorError:
            raise
        except Exception as exc:  # the store's NotFound: its message says what to do
            raise ExecutorError(str(exc)) from None

    def _handle(self, la: RemoteLaunch) -> Handle:
        return Handle(pid=la.st.pid or 0, start_time=la.st.started_at, stdout=str(la.stdout),
                      stderr=str(la.stderr), exit_file=str(la.exit_file),
                      extra={"state_file": str(la.state_file), "key": la.key,
                             "host": la.st.host})

    def _spawn(self, la: RemoteLaunch, work: Callable[[RemoteLaunch], None]) -> None:
        with self._lock:
            self._launches[la.key] = la
        la.thread = threading.Thread(target=self._guarded, args=(la, work),
                                    name=f"ssh-launch-{la.key}", daemon=True)
        la.thread.start()

    def _guarded(self, la: RemoteLaunch, work: Callable[[RemoteLaunch], None]) -> None:
        try:
            work(la)
        except Exception as exc:
            if la.stop.is_set() and la.cancel is None:
                # The executor is closing (the server stops), not a cancel: the state file
                # stays as it is for the next server's adopt, which says what happened.
                log.info("launch %s on %s left at its stage %s (the executor closed): %s",
                         la.key, la.st.host, la.st.stage, exc)
                return
            if isinstance(exc, Cancelled):
                sig = la.cancel or signals.SIGTERM
                self._fail(la, f"cancelled before it started on {la.st.host}", code=-sig)
            elif isinstance(exc, ExecutorError):
                self._fail(la, str(exc))
            else:
                log.exception("launch %s on %s failed", la.key, la.st.host)
                self._fail(la, f"the launch on {la.st.host} failed unexpectedly: {exc}")

    def _link(self, la: RemoteLaunch, report: Reporter | None = None) -> SSHLink:
        def waiting(seconds: float) -> None:
            if report is not None:
                report.check()
            la.line = (f"waiting for SSH on {la.target.host}:{la.target.port} "
                      f"({seconds:.0f} s)")

        link = self._pool.acquire(la.target, on_wait=waiting)
        la.link = link
        return link

    def _work(self, la: RemoteLaunch) -> None:
        assert la.spec is not None and la.settings is not None
        spec, settings, report, st = la.spec, la.settings, Reporter(la), la.st
        report.stage("connecting", f"connecting to {st.host}")
        link = self._link(la, report)
        w = self._wait_s
        home = retried(link, w, "finding the home folder", lambda: deploy.home_of(link))
        host = self._host(st.host)
        with la.lock:
            st.workdir = deploy.host_path(home, host.workdir)
            st.folder = la.dir.folder
            la.save()
        archive, reused = deploy.upload(link, settings, spec.cwd, st.workdir, self._scratch,
                                        report, self._upload_lock(st.host))
        with la.lock:
            st.fingerprint, st.reused_archive = archive.fingerprint, reused
        report.stage("preparing", "preparing (code and data " + (
            "already on the host)" if reused else "uploaded)"))
        venv = deploy.host_path(home, settings.venv) if settings.venv else None
        python = retried(link, w, "finding python", lambda: deploy.find_python(
            link, venv, settings.python, settings.env))
        deploy.ensure_traindeck(link, python, st.workdir, self._wheel, report, settings.env)
        if settings.setup:
            report.line(f"preparing: running the setup command on {st.host}")
            deploy.run_setup(link, settings.setup, python, archive, la.stdout, settings.env)
        d = la.dir
        made = retried(link, w, "making the launch folder",
                       lambda: link.run(job.prepare_folder(d, archive), timeout=600))
        if made.exit_status != 0:
            raise ExecutorError(f"could not make the launch folder {d.folder} on {st.host}: "
                                f"{made.stderr.strip()[-500:]}")
        uploads, on_host = self._inputs(spec, link, st.workdir, st.run_id)
        inputs = retried(link, w, "uploading the config",
                         lambda: deploy.upload_inputs(link, d, uploads))
        inputs.update(on_host)
        report.check()
        port = retried(link, w, "forwarding the server's port",
                       lambda: link.reverse_forward(0, *self._server))
        env = job.remote_env(spec.env, url=f"http://127.0.0.1:{port}",
                             config=inputs.get(_INPUTS[0]), checkpoint=inputs.get(_INPUTS[1]),
                             extra=settings.env, td_dir=job.sdk_dir(st.workdir))
        argv = job.remote_argv(spec.argv, python, self._pythons)
        with la.lock:
            st.python, st.remote_port, la.forwarded = python, port, True
            st.stdout_base, st.stderr_base = size(la.stdout), size(la.stderr)
        report.stage("starting", "starting the process")
        runner, pid, pgid = retried(link, w, "starting the process", lambda: deploy.start_process(
            link, d, python, env, argv, report))
        with la.lock:
            st.runner, st.pid, st.pgid = runner, pid, pgid
            st.session = d.session if runner == "tmux" else None
            st.stage, la.line = "running", la.running_line()
            if la.cancel is not None:  # asked for while it was being started
                la.actions.append(("signal", la.cancel))
            elif la.paused:
                la.actions.append(("signal", signals.SIGSTOP))
            la.save()
        self._follow(la)

    def _inputs(self, spec: ProcessSpec, link: SSHLink, workdir: str,
                run_id: str) -> tuple[list[tuple[str, Path]], dict[str, str]]:
        """The launch's input files: those here to upload, and a resume checkpoint that
        is on the host already (written there by an earlier launch of the run, under the
        host's SDK folder: its path relative to the run's folder is the same)."""
        uploads: list[tuple[str, Path]] = []
        on_host: dict[str, str] = {}
        for variable in _INPUTS:
            value = spec.env.get(variable)
            if not value:
                continue
            if Path(value).is_file():
                uploads.append((variable, Path(value)))
                continue
            remote = self._on_host(Path(value), link, workdir, run_id) \
                if variable == "TRAINDECK_RESUME_CHECKPOINT" else None
            if remote is None:
                raise ExecutorError(f"{variable} names {value}, which is neither here nor on "
                                    f"{link.target.name}")
            on_host[variable] = remote
        return uploads, on_host

    def _on_host(self, local: Path, link: SSHLink, workdir: str, run_id: str) -> str | None:
        try:
            rel = local.relative_to(self._files.run_dir(run_id))
        except ValueError:
            return None
        remote = f"{job.sdk_dir(workdir)}/runs/{run_id}/{rel.as_posix()}"
        found = link.run(f"test -f {shlex.quote(remote)}", timeout=30)
        return remote if found.exit_status == 0 else None

    def _upload_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._upload_locks.setdefault(host, threading.Lock())

    # -- following -------------------------------------------------------------------------

    def _follow(self, la: RemoteLaunch) -> None:
        follow(la, FollowEnv(acquire=self._link, release=self._pool.release,
                            results=self._results, server=self._server,
                            mirror_s=self._mirror_s, status_s=self._status_s,
                            wait_s=self._wait_s, retry_s=max(1.0, self._probe),
                            clock=self._clock))

    def _fail(self, la: RemoteLaunch, message: str, code: int | None = None) -> None:
        la.fail(message, code)

    def _moved(self, host: str, old: int, new: int) -> None:
        with self._lock:
            launches = [la for la in self._launches.values()
                        if la.st.host == host and la.st.remote_port == old]
        for la in launches:
            log.warning("the metrics tunnel of launch %s on %s moved from port %s to %s "
                        "(taken); its script still sends to %s and spools meanwhile",
                        la.key, host, old, new, old)
            with la.lock:
                la.st.remote_port = new
                la.save()

    # -- the Executor protocol -------------------------------------------------------------

    def _get(self, handle: Handle) -> RemoteLaunch | None:
        with self._lock:
            return self._launches.get(str(handle.extra.get("key", "")))

    def poll(self, handle: Handle) -> tuple[bool, int | None]:
        la = self._get(handle)
        if la is None:
            st = read_state(state_path(handle.exit_file))
            if st is not None and st.stage in ("ended", "failed"):
                return True, st.exit_code
            return False, None
        with la.lock:
            return la.ended, la.code

    def detail(self, handle: Handle) -> str | None:
        la = self._get(handle)
        return la.line if la is not None else None

    def started(self, handle: Handle) -> bool:
        """Whether the process runs (or ran) on the host: past waiting, uploading and
        preparing."""
        la = self._get(handle)
        return la is None or la.st.stage in ("running", "ended", "failed") or la.ended

    def error(self, handle: Handle) -> str | None:
        """Why the launch could not run (``None``: it ran, or runs)."""
        la = self._get(handle)
        return la.error if la is not None else None

    def state(self, handle: Handle) -> SSHState | None:
        """The launch's state file as it is now (for tests and the API)."""
        return read_state(state_path(handle.exit_file))

    def group_alive(self, handle: Handle) -> bool:
        la = self._get(handle)
        if la is None or la.st.pgid is None or la.link is None:
            return la is not None and not la.ended
        try:
            done = la.link.run(job.group_alive_command(la.st.pgid), timeout=30)
        except SSHError:
            return True
        return done.stdout.strip() != "no"

    def signal(self, handle: Handle, sig: int) -> None:
        self._act(handle, "signal", sig)

    def kill(self, handle: Handle) -> None:
        self._act(handle, "kill", signals.SIGKILL)

    def _act(self, handle: Handle, kind: str, sig: int) -> None:
        """Queue a signal for the launch's thread (never blocks on the host); before the
        process exists, a cancelling signal stops the start and SIGSTOP/SIGCONT are kept
        for it; after the launch's thread is done, send it now (what is left of a group)."""
        la = self._get(handle)
        if la is None:
            return
        with la.lock:
            if la.st.pgid is None:
                if sig in _CANCELLING:
                    la.cancel = sig
                elif sig in (signals.SIGSTOP, signals.SIGCONT):
                    la.paused = sig == signals.SIGSTOP
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
            state_path(exit_file)
        st = read_state(path)
        if st is None:
            return None
        with self._lock:
            if st.key in self._launches:
                return self._handle(self._launches[st.key])
        if extra is None and st.stage in ("ended", "failed"):
            return None  # an earlier start's record: this start never got that far
        try:
            target = target_of(self._host(st.host), self._known_hosts)
        except ExecutorError:
            target = SSHTarget(st.host, st.host, "?", self._known_hosts)
        stdout, stderr = state.get("stdout"), state.get("stderr")
        if not isinstance(stdout, str) or not isinstance(stderr, str):
            return None
        la = RemoteLaunch(st.key, st, path, Path(stdout), Path(stderr), Path(exit_file), target)
        if st.stage in STARTING_STAGES:
            with self._lock:
                self._launches[la.key] = la
            self._fail(la, f"the server stopped while this launch was {st.stage} "
                          f"(before anything ran on {st.host}); launch it again")
        elif st.stage in ("ended", "failed"):
            la.ended, la.code, la.error = True, st.exit_code, st.error
            la.line = f"failed: {st.error}" if st.stage == "failed" else "ended"
            with self._lock:
                self._launches[la.key] = la
        else:
            la.line = f"reconnecting to {st.host}"
            self._spawn(la, self._follow)
        return self._handle(la)

    def release(self, handle: Handle) -> None:
        with self._lock:
            la = self._launches.pop(str(handle.extra.get("key", "")), None)
        if la is None:
            return
        la.stop.set()
        la.wake.set()
        link, port = la.link, la.st.remote_port
        if link is not None:
            if port is not None and la.forwarded:
                try:
                    link.cancel_forward(port)
                except (SSHError, OSError, TimeoutError):
                    pass
            la.link = None
            self._pool.release(la.st.host)

    def close(self) -> None:
        """Let go of every launch (they run on; a new executor adopts them) and every link."""
        with self._lock:
            launches, self._launches = list(self._launches.values()), {}
        for la in launches:
            la.stop.set()
            la.wake.set()
        self._pool.close()

    # -- results -----------------------------------------------------------------------------

    def fetch_results(self, handle: Handle) -> list[ResultFile]:
        """List the launch's result files on the host and download those not in the run's
        artifacts yet (same sha256: skipped). ``ExecutorError`` when the host cannot be
        reached now."""
        la = self._get(handle)
        if la is None or la.link is None or la.st.folder is None or la.st.python is None:
            raise ExecutorError("this launch is not followed here, or has not started yet")
        return self._results(la, la.link)

    def _results(self, la: RemoteLaunch, link: SSHLink,
                 progress: Callable[[int, int], None] | None = None) -> list[ResultFile]:
        st = la.st
        assert st.folder is not None and st.python is not None and st.fingerprint is not None
        original = f"{job.Archive(la.dir.workdir, st.fingerprint).folder}/code"
        dest = self._files.artifacts(st.run_id) if st.run_id else la.exit_file.parent / "results"
        found = list_results(link, st.python, st.folder, original, st.result_patterns)
        got = download_results(link, st.folder, found, dest, progress=progress)
        with la.lock:
            st.results = [r.to_dict() for r in got]
            la.save()
        return got
