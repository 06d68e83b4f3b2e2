"""The SSH executor's record of one launch: ``ssh.json`` beside the launch's exit file.

Written at every change of stage (atomically, mode 0600; it holds no secret), so that a
server started later finds the launch again (:meth:`SSHExecutor.adopt`): which host, which
folder there, how it runs (tmux session or nohup), its pid and process group, the remote
port of its reverse forward, and how much of the local console files was there before it
started (the remote logs are mirrored after that: ``local size - base`` is how much of the
remote log has been copied).

``stage``: ``connecting`` → ``uploading`` → ``preparing`` → ``starting`` → ``running`` →
``ended`` (``exit_code`` set, results downloaded), or ``failed`` (``error`` says why;
nothing runs on the host).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

FILE_NAME: Final = "ssh.json"
VERSION: Final = 1
#: Stages before the process exists on the host.
STARTING_STAGES: Final = frozenset({"connecting", "uploading", "preparing"})


@dataclass
class SSHState:
    host: str
    key: str
    started_at: float
    #: The run the launch belongs to (its results go to that run's artifacts).
    run_id: str = ""
    #: The template's own result patterns (``remote.results``).
    result_patterns: list[str] = field(default_factory=list)
    stage: str = "connecting"
    #: The host's workdir, absolute; the launch's folder there (``launches/<key>``).
    workdir: str | None = None
    folder: str | None = None
    fingerprint: str | None = None
    #: The archive was on the host already: nothing was packed or uploaded.
    reused_archive: bool | None = None
    python: str | None = None
    runner: str | None = None  # "tmux" or "nohup"
    session: str | None = None
    pid: int | None = None
    pgid: int | None = None
    remote_port: int | None = None
    stdout_base: int = 0
    stderr_base: int = 0
    exit_code: int | None = None
    error: str | None = None
    #: Result files downloaded (``path``, ``size``, ``sha256``, ``downloaded``).
    results: list[dict[str, Any]] = field(default_factory=list)
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SSHState | None:
        """The state in ``text``; ``None`` when it is not one (or of another version)."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None


def state_path(exit_file: str | os.PathLike[str]) -> Path:
    return Path(exit_file).with_name(FILE_NAME)


def write_state(path: Path, state: SSHState) -> None:
    """Replace ``path`` with ``state`` (written beside it, then renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(state.to_json())
    os.replace(tmp, path)


def read_state(path: Path) -> SSHState | None:
    try:
        return SSHState.from_json(path.read_text(encoding="utf-8"))
    except OSError:
        return None
