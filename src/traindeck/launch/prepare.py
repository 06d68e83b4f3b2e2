"""What a launched process is given: its command line, environment and config file.

The script finds its prepared run through ``TRAINDECK_RUN_ID`` and the server through
``TRAINDECK_URL`` (with ``TRAINDECK_TOKEN``, a write token made for this launch, when the
server requires one); its config is the JSON file ``TRAINDECK_CONFIG`` names (``td.init()``
takes it as the run's config), or, for a Hydra template, the overrides on its command line.
``TRAINDECK_CONSOLE_CAPTURED`` tells the SDK that its output is already captured here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from traindeck.runfiles import LAUNCH, RunFiles

from .executor import ProcessSpec

#: Variables of the server's own environment a launched process does not inherit (they
#: would point it at another store, run or credential).
NOT_INHERITED: Final = ("TRAINDECK_RUN_ID", "TRAINDECK_TOKEN", "TRAINDECK_MODE",
                        "TRAINDECK_CONFIG", "TRAINDECK_PROJECT", "TRAINDECK_RESUME_CHECKPOINT",
                        # the server's store URL may carry a password; runs log to the server
                        "TRAINDECK_STORE")
#: The launch's files inside the run folder.
LAUNCH_DIR: Final = LAUNCH


#: A template command starting with one of these runs with the server's interpreter.
PLAIN_PYTHON: Final = frozenset({"python", "python3"})

def process_spec(files: RunFiles, run_id: str, spec: Mapping[str, Any], config: Mapping[str, Any],
                 *, url: str, token: str | None, base_env: Mapping[str, str] | None = None,
                 resume_checkpoint: str | None = None) -> ProcessSpec:
    """The process of one start of a launch (``spec``: the launch row's spec)."""
    run_dir = files.run_dir(run_id)
    launch_dir = run_dir / LAUNCH_DIR
    launch_dir.mkdir(parents=True, exist_ok=True)
    config_path = launch_dir / "config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    argv = [str(a) for a in spec["command"]]
    if argv and argv[0] in PLAIN_PYTHON:
        # The server's own interpreter: the one traindeck is installed in (a bare `python`
        # on PATH may be another one, without traindeck).
        argv[0] = sys.executable
    if spec.get("hydra"):
        argv += [str(o) for o in spec.get("effective_overrides", [])]
    env = {k: v for k, v in (os.environ if base_env is None else base_env).items()
           if k not in NOT_INHERITED}
    env.update({
        "TRAINDECK_RUN_ID": run_id,
        "TRAINDECK_URL": url,
        "TRAINDECK_DIR": str(files.root),
        "TRAINDECK_CONFIG": str(config_path),
        "TRAINDECK_CONSOLE_CAPTURED": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if token:
        env["TRAINDECK_TOKEN"] = token
    if resume_checkpoint:
        env["TRAINDECK_RESUME_CHECKPOINT"] = resume_checkpoint
    console = files.console(run_id)
    return ProcessSpec(argv=argv, cwd=Path(spec["cwd"]), env=env,
                       stdout=console / "stdout.log", stderr=console / "stderr.log",
                       exit_file=launch_dir / "exit_code",
                       resources=dict(spec.get("resources") or {}), host=spec.get("host"),
                       remote=dict(spec.get("remote") or {}))
