"""What the SSH executor puts on a host for one launch, as plain text: where things go, the
environment it passes, the sh wrapper the command runs under, and the shell commands that
start, signal and check it. No I/O here (``ssh_executor``/``deploy`` send these over the
link), so it is all checked by unit tests.

Layout under the host's workdir ``W`` (``traindeck hosts add --workdir``, relative to the
user's home unless absolute)::

    W/archives/<fingerprint>/          one upload, extracted: code/ and data/<name>/, shared
    W/archives/<fingerprint>.setup-<h> the template's setup command ran here (once)
    W/launches/<key>/code/             a plain copy of the archive's code: the command's cwd
    W/launches/<key>/data              a link to the archive's data/ (not copied: it can be big)
    W/launches/<key>/.td/              the wrapper, its pid and exit files, the logs, the
                                       launch's config and resume checkpoint, the env file

The code is copied rather than hard-linked: a script that rewrites one of its files in
place would otherwise change the shared copy under every other launch. The data is shared
through a link; a script must not write into it.

**The wrapper** (``run.sh``, POSIX sh) writes ``pid`` (its pid and process group: it leads
the group, in a session of its own under tmux or setsid), sends its output to
``stdout.log``/``stderr.log`` (its stdin stays what it was: tmux's pane, whose terminal
must stay open in it or tmux takes the pane for dead and ends it; nohup's /dev/null),
sources and deletes the 0600 ``env`` file (the token is
never on a command line), runs the command in ``code/`` and writes its exit status to
``exit`` (sh's convention: killed by signal N reads 128+N). It traps SIGTERM/SIGINT/SIGHUP
(sh waits for the command, then records its status), so a cancel sent to the whole group
still leaves an exit file; :func:`kill_command` spares it for the same reason.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

#: Environment variables passed to the host besides ``TRAINDECK_*``.
PASSED: Final = frozenset({"PYTHONUNBUFFERED"})
#: ``TRAINDECK_*`` variables that only make sense on the server's machine (the host gets
#: its own ``TRAINDECK_DIR``: :func:`sdk_dir`).
DROPPED: Final = frozenset({"TRAINDECK_DIR"})
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class Archive:
    """Where one upload (named after its content fingerprint) lives on a host."""

    workdir: str
    fingerprint: str

    @property
    def root(self) -> str:
        return f"{self.workdir}/archives"

    @property
    def folder(self) -> str:
        return f"{self.root}/{self.fingerprint}"

    @property
    def file(self) -> str:
        return f"{self.root}/{self.fingerprint}.tar.gz"

    def setup_marker(self, digest: str) -> str:
        return f"{self.root}/{self.fingerprint}.setup-{digest}"


@dataclass(frozen=True)
class LaunchDir:
    """One launch's folder on a host (``key``: lower-case letters, digits and ``-``)."""

    workdir: str
    key: str

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"not a launch key: {self.key!r}")

    @property
    def folder(self) -> str:
        return f"{self.workdir}/launches/{self.key}"

    @property
    def code(self) -> str:
        return f"{self.folder}/code"

    @property
    def td(self) -> str:
        return f"{self.folder}/.td"

    @property
    def session(self) -> str:
        return f"td-{self.key}"

    def file(self, name: str) -> str:
        """``stdout.log``, ``stderr.log``, ``pid``, ``exit``, ``env``, ``run.sh``, or an
        uploaded input (``config.json``, ``resume/<name>``) in ``.td``."""
        return f"{self.td}/{name}"


def launch_key(run_id: str, nonce: str) -> str:
    """A launch folder's name: the run id (made safe) and a nonce that tells starts of the
    same run apart."""
    safe = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:40] or "run"
    return f"{safe}-{nonce}"


def sdk_dir(workdir: str) -> str:
    """The SDK's traindeck folder on a host (``TRAINDECK_DIR``): one per workdir, shared by
    every launch there, so a run's files (its checkpoints, its spool) outlive the launch
    that made them: a resume on the same host finds them at ``runs/<run id>/…``."""
    return f"{workdir}/td"


def remote_env(env: Mapping[str, str], *, url: str, config: str | None,
               checkpoint: str | None, extra: Mapping[str, str] = {},
               td_dir: str | None = None) -> dict[str, str]:
    """The launch's environment on the host: only ``TRAINDECK_*`` and ``PYTHONUNBUFFERED``
    of ``env`` (the server's own PATH, HOME… must not leak to the host: it has its own),
    without ``TRAINDECK_DIR``, with ``TRAINDECK_URL`` = ``url`` (the reverse forward),
    ``TRAINDECK_CONFIG``/``TRAINDECK_RESUME_CHECKPOINT`` = the uploaded copies, and
    ``extra`` (the template's ``remote.env``) last."""
    out = {k: v for k, v in env.items()
           if (k.startswith("TRAINDECK_") or k in PASSED) and k not in DROPPED}
    out["TRAINDECK_URL"] = url
    if td_dir is not None:
        out["TRAINDECK_DIR"] = td_dir
    for name, value in (("TRAINDECK_CONFIG", config),
                        ("TRAINDECK_RESUME_CHECKPOINT", checkpoint)):
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    out.update(extra)
    return out


def env_file(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines for sh's ``.``; ``ValueError`` for a bad name or a NUL."""
    lines = []
    for name, value in sorted(env.items()):
        if not _ENV_NAME.fullmatch(name) or "\0" in value:
            raise ValueError(f"environment variable {name!r} cannot be passed to a host")
        lines.append(f"export {name}={shlex.quote(value)}\n")
    return "".join(lines)


def wrapper(d: LaunchDir, argv: Iterable[str]) -> str:
    """The sh wrapper of one launch (see the module docstring)."""
    q = shlex.quote
    return f"""#!/bin/sh
# traindeck: the wrapper of one launch (see traindeck/remote/job.py). It records its pid,
# runs the command with the launch's environment, and records the command's exit status.
caught=
trap 'caught=1' HUP INT TERM
d={q(d.td)}
pgid=$$
if [ -r /proc/$$/stat ]; then s=$(cat /proc/$$/stat); s=${{s##*) }}; set -- $s; pgid=$3; fi
echo "$$ $pgid" > "$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid"
exec >>"$d/stdout.log" 2>>"$d/stderr.log"
if [ -f "$d/env" ]; then . "$d/env"; rm -f "$d/env"; fi
if [ -n "$caught" ]; then
  code=143
elif cd {q(d.code)}; then
  {shlex.join(argv)}
  code=$?
else
  code=127
fi
echo "$code" > "$d/exit.tmp" && mv -f "$d/exit.tmp" "$d/exit"
"""


def write_private(path: str) -> str:
    """A command that writes its stdin to ``path``, mode 0600 (folder made 0700), atomically."""
    q = shlex.quote
    folder = path.rsplit("/", 1)[0]
    tmp = f"{path}.tmp"
    return (f"umask 077 && mkdir -p {q(folder)} && cat > {q(tmp)} && chmod 600 {q(tmp)} && "
            f"mv -f {q(tmp)} {q(path)}")


def prepare_folder(d: LaunchDir, archive: Archive) -> str:
    """Make the launch folder: ``.td`` (0700), a copy of the archive's code, a link to its
    data; a no-op when the folder is there already (a retried step)."""
    q = shlex.quote
    return (f"set -e; f={q(d.folder)}; a={q(archive.folder)}; "
            'if [ -d "$f/code" ]; then exit 0; fi; '
            'mkdir -p "$f/.td"; chmod 700 "$f/.td"; '
            'rm -rf "$f/code.partial"; cp -RP "$a/code" "$f/code.partial"; '
            'mv "$f/code.partial" "$f/code"; '
            'if [ -d "$a/data" ]; then ln -sfn "$a/data" "$f/data"; fi')


def start_command(d: LaunchDir, python: str) -> str:
    """Start the wrapper once (a marker, written first, makes a retried start a no-op): in
    a detached tmux session when the host has tmux, else with ``setsid nohup``
    (``python``'s ``os.setsid`` when ``setsid`` is missing). Prints ``tmux`` or ``nohup``:
    how it runs."""
    q = shlex.quote
    run = f"exec /bin/sh {q(d.file('run.sh'))}"
    detach = ("import os, sys; os.setsid(); "
              "os.execv('/bin/sh', ['/bin/sh', sys.argv[1]])")
    return (f"d={q(d.td)}; "
            'if [ -s "$d/launched" ]; then cat "$d/launched"; exit 0; fi; '
            f"cd {q(d.code)} || exit 3; "
            "if command -v tmux >/dev/null 2>&1; then "
            'echo tmux > "$d/launched"; '
            f"tmux new-session -d -s {q(d.session)} -c {q(d.code)} {q(run)} "
            '|| { rm -f "$d/launched"; exit 4; }; '
            "elif command -v setsid >/dev/null 2>&1; then "
            f"setsid nohup /bin/sh {q(d.file('run.sh'))} >/dev/null 2>&1 </dev/null & "
            'echo nohup > "$d/launched"; '
            "else "
            f"nohup {q(python)} -c {q(detach)} {q(d.file('run.sh'))} >/dev/null 2>&1 "
            "</dev/null & "
            'echo nohup > "$d/launched"; '
            "fi; "
            'cat "$d/launched"')


def status_command(d: LaunchDir, pid: int) -> str:
    """Prints ``exit`` (the exit file is there), ``alive`` (the wrapper runs) or ``gone``
    (neither: the host rebooted, or the wrapper was killed before it could record)."""
    q = shlex.quote
    return (f"d={q(d.td)}; p={int(pid)}; "
            'if [ -e "$d/exit" ]; then echo exit; '
            'elif [ -d /proc/self ]; then '
            '  if grep -qF "$d/run.sh" "/proc/$p/cmdline" 2>/dev/null; then echo alive; '
            "  else echo gone; fi; "
            'elif kill -0 "$p" 2>/dev/null; then echo alive; '
            "else echo gone; fi")


def signal_command(pgid: int, signal_name: str) -> str:
    """``kill -NAME`` to the whole process group; quiet and successful when it is gone."""
    if not re.fullmatch(r"[A-Z0-9]+", signal_name):
        raise ValueError(f"not a signal name: {signal_name!r}")
    return f"kill -{signal_name} -- -{int(pgid)} 2>/dev/null; true"


def kill_command(pgid: int, wrapper_pid: int) -> str:
    """SIGKILL to every process of the group but the wrapper (which then records the exit
    and ends); the whole group when nothing else is left in it."""
    return (f"g={int(pgid)}; w={int(wrapper_pid)}; n=0; "
            "for p in $(ps -e -o pid= -o pgid= 2>/dev/null | "
            "awk -v g=\"$g\" -v w=\"$w\" '$2 == g && $1 != w {print $1}'); do "
            'kill -KILL "$p" 2>/dev/null && n=$((n + 1)); done; '
            'if [ "$n" -eq 0 ]; then kill -KILL -- "-$g" 2>/dev/null; fi; true')


def group_alive_command(pgid: int) -> str:
    """Prints ``yes`` while any process of the group still runs, else ``no``. A zombie does
    not count (it has ended; reaping it is its parent's or init's business, and no signal
    reaches it), so ``ps`` is asked first; ``kill -0`` (which counts zombies) only where
    ``ps`` gives nothing."""
    g = int(pgid)
    return (f"g={g}; out=$(ps -e -o pgid= -o stat= 2>/dev/null); "
            'if [ -n "$out" ]; then '
            "  if printf '%s\\n' \"$out\" | "
            "awk -v g=\"$g\" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'; "
            "  then echo yes; else echo no; fi; "
            'elif kill -0 -- "-$g" 2>/dev/null; then echo yes; else echo no; fi')


def remote_argv(argv: Iterable[str], python: str, local_pythons: Iterable[str]) -> list[str]:
    """The command for the host: a first word that names a Python interpreter of this
    machine (``python``/``python3``, or the server's own, which the launcher puts there)
    becomes the host's ``python``."""
    out = list(argv)
    if out and (out[0] in ("python", "python3") or out[0] in set(local_pythons)):
        out[0] = python
    return out
