"""A template's estimate hook, run in a child process with a time limit.

``estimate: module:function`` in ``traindeck.yaml`` names a function of the template's
folder (``estimate.py``'s ``params`` for ``estimate:params``) that takes the effective config
(a dict) and returns a dict of figures (parameter count, memory in bytes, tokens per
step…). It runs in a fresh interpreter (``sys.executable``) in the template's folder, with
the folder first on ``sys.path``: the config goes in as JSON on stdin, the result comes back
as JSON on stdout (what the hook itself prints goes to stderr). After ``timeout_s`` (10 s by
default) the child and anything it started are killed.

Whatever goes wrong (an import error, an exception, a timeout, a result that is not a
mapping or not JSON) comes back as an :class:`EstimateResult` with ``ok=False`` and the
error: the last lines of the traceback, redacted. It never raises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from traindeck.redact import redact

#: Seconds a hook may run before it is killed.
DEFAULT_TIMEOUT_S: Final = 10.0
#: Lines of the child's stderr (its traceback's end) kept in the error.
ERROR_LINES: Final = 12
#: Bytes of stderr read back (its end), and most bytes of a result.
MAX_STDERR: Final = 64 * 1024
MAX_RESULT: Final = 1024 * 1024
#: Not passed to the hook: it has no business with the user's credentials for traindeck.
DROPPED_ENV: Final = ("TRAINDECK_TOKEN",)

_CHILD: Final = r"""
import importlib, json, os, sys
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
folder, hook = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)
module, _, name = hook.partition(":")
config = json.load(sys.stdin)
result = getattr(importlib.import_module(module), name)(config)
if not isinstance(result, dict):
    sys.stderr.write(f"{hook} returned {type(result).__name__}, not a dict\n")
    sys.exit(3)
def plain(o):
    item = getattr(o, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"{hook} returned a value of type {type(o).__name__}, which is not JSON")
try:
    text = json.dumps(result, default=plain)
except (TypeError, ValueError) as exc:
    sys.stderr.write(f"{exc}\n")
    sys.exit(3)
out.write(text)
out.flush()
"""


@dataclass(frozen=True)
class EstimateResult:
    """What a hook gave: ``value`` when ``ok``, else ``error``."""

    ok: bool
    value: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "value": self.value, "error": self.error}


def _failed(message: str) -> EstimateResult:
    return EstimateResult(ok=False, error=redact(message.strip()) or "failed")


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_LINES:])


def run_estimate(folder: Path, hook: str, config: Mapping[str, Any], *,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> EstimateResult:
    """Run ``hook`` (``module:function``) of the template in ``folder`` on ``config``."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in the templates folder
    try:
        payload = json.dumps(dict(config)).encode()
    except (TypeError, ValueError) as exc:
        return _failed(f"the config is not JSON: {exc}")
    with tempfile.TemporaryFile() as err:
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(folder), hook], cwd=folder, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True)
        except OSError as exc:
            return _failed(f"could not start the estimate hook: {exc}")
        with child:  # closes its pipes, also on a timeout
            try:
                out, _ = child.communicate(payload, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return _failed(f"the estimate hook {hook} ran longer than {timeout_s:g} s "
                               "and was stopped")
            finally:
                _kill_group(child)  # on a timeout, and anything it left running
        err.seek(max(0, err.seek(0, os.SEEK_END) - MAX_STDERR))
        stderr = err.read().decode("utf-8", "replace")
    if child.returncode != 0:
        return _failed(_tail(stderr) or f"the estimate hook {hook} exited with code "
                                         f"{child.returncode}")
    if len(out) > MAX_RESULT:
        return _failed(f"the estimate hook {hook} returned more than {MAX_RESULT} bytes")
    try:
        value = json.loads(out)
    except ValueError:
        return _failed(f"the estimate hook {hook} returned no JSON")
    if not isinstance(value, dict):
        return _failed(f"the estimate hook {hook} returned {type(value).__name__}, not a dict")
    return EstimateResult(ok=True, value=value)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()
