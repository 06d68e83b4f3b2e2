"""Runs examples/numpy_mlp.py with the launch's config as its flags.

traindeck writes the effective config (defaults, preset, overrides) to a JSON file and
names it in ``TRAINDECK_CONFIG``; each key becomes a flag (``checkpoint_every`` →
``--checkpoint-every``). Run by hand it uses ``config.yaml`` beside it.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parents[1] / "numpy_mlp.py"  # examples/numpy_mlp.py


def load_config() -> dict[str, Any]:
    path = os.environ.get("TRAINDECK_CONFIG")
    if path:
        config: dict[str, Any] = json.loads(Path(path).read_text())
        return config
    import yaml  # a traindeck dependency

    loaded: dict[str, Any] = yaml.safe_load((HERE / "config.yaml").read_text())
    return loaded


def main() -> int:
    if not SCRIPT.exists():
        sys.exit(f"{SCRIPT} is missing: this template runs the repository's example")
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in load_config().items()]
    script_main = runpy.run_path(str(SCRIPT))["main"]
    code: int = script_main(argv)
    return code


if __name__ == "__main__":
    sys.exit(main())
