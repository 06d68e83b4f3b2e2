"""A launch spec for a run traindeck did not launch, from what its SDK recorded.

Every run records its command line (``run.command``: the interpreter and ``sys.argv``,
shell-quoted and redacted) and its folder (``run.env["cwd"]``). Resuming such a run from a
checkpoint starts that command again in that folder, with the local executor, as the same
run. What cannot be replayed is refused with the reason: no command recorded, a secret
blanked out of it (the redaction marker; launch it from a template instead), a command
whose code was not a file (``python -c``, a notebook or an interactive session), a folder
that is gone, or a run that is still going.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Final

from traindeck.redact import MARK
from traindeck.store import Conflict, Run
from traindeck.store.models import TERMINAL_STATUSES

from .spec import Retry

#: ``sys.argv[0]`` of a program whose code is not in a file that can be run again.
NOT_A_SCRIPT: Final = frozenset({"", "-", "-c"})
DEFAULT_GRACE_S: Final = 10.0


def _refuse(run: Run, why: str) -> Conflict:
    return Conflict(f"run {run.id!r} was not launched by traindeck and cannot be resumed "
                    f"from here: {why}")


def recorded_spec(run: Run) -> dict[str, Any]:
    """The launch spec replaying ``run``'s recorded command in its recorded folder.
    ``Conflict`` (409) says why it cannot."""
    if run.status not in TERMINAL_STATUSES:
        raise _refuse(run, f"it is still {run.status}; stop its process first")
    command = (run.command or "").strip()
    if not command:
        raise _refuse(run, "its command line was not recorded")
    cwd = run.env.get("cwd") if isinstance(run.env, dict) else None
    if MARK in command or (isinstance(cwd, str) and MARK in cwd):
        raise _refuse(run, "a secret was blanked out of its recorded command line; "
                           "launch it from a template instead")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise _refuse(run, f"its recorded command line cannot be read ({exc})") from exc
    if len(argv) < 2 or argv[1] in NOT_A_SCRIPT:
        raise _refuse(run, "its code was not a file (python -c, a notebook or an "
                           "interactive session); launch it from a template instead")
    if not isinstance(cwd, str) or not cwd:
        raise _refuse(run, "the folder it ran in was not recorded")
    folder = Path(cwd)
    if not folder.is_absolute() or not folder.is_dir():
        raise _refuse(run, f"the folder it ran in, {cwd}, no longer exists")
    return {
        "template": None, "overrides": [], "preset": None, "effective_overrides": [],
        "executor": "local", "resources": {}, "retry": Retry().to_dict(),
        "grace_s": DEFAULT_GRACE_S, "command": argv, "cwd": str(folder), "hydra": False,
        "recorded": True,
    }
