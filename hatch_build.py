"""Hatchling build hook: build the dashboard (web/) into src/traindeck/web/ when it is missing.

The built files are not committed (git ignores src/traindeck/web/); every wheel, sdist-built
wheel and editable install runs this hook first. When ``src/traindeck/web/index.html`` is
there already nothing is rebuilt (run ``npm run build`` in web/ after changing the web
sources, or delete the folder). Without npm the build fails with a message that says what
to install, unless ``TRAINDECK_SKIP_WEB_BUILD=1`` is set: then the package goes without the
dashboard and the server answers pages with a note on how to build it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NPM_MISSING = (
    "traindeck: the dashboard (web/) must be built, and npm was not found on PATH.\n"
    "  Install Node.js 20+ with npm (Debian: apt-get install nodejs npm; or https://nodejs.org),\n"
    "  or build it elsewhere with `cd web && npm ci && npm run build`,\n"
    "  or set TRAINDECK_SKIP_WEB_BUILD=1 to install without the dashboard."
)


class WebBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "traindeck-web"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":  # an sdist ships web/'s sources, not the build
            return
        root = Path(self.root)
        out = root / "src" / "traindeck" / "web"
        web = root / "web"
        if (out / "index.html").is_file():
            return
        if os.environ.get("TRAINDECK_SKIP_WEB_BUILD") == "1":
            self.app.display_warning("TRAINDECK_SKIP_WEB_BUILD=1: building without the dashboard")
            return
        if not (web / "package.json").is_file():
            raise RuntimeError(
                f"traindeck: {out / 'index.html'} is missing and there are no web sources "
                f"({web / 'package.json'}) to build it from"
            )
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(NPM_MISSING)
        steps = [[npm, "run", "build"]]
        if not (web / "node_modules").is_dir():
            steps.insert(0, [npm, "ci", "--no-audit", "--no-fund"])
        for cmd in steps:
            self.app.display_info(f"traindeck: {' '.join(cmd[1:])} (in web/)")
            done = subprocess.run(cmd, cwd=web, check=False)
            if done.returncode != 0:
                raise RuntimeError(
                    f"traindeck: `{' '.join(cmd[1:])}` in {web} failed "
                    f"(exit {done.returncode}); see its output above"
                )
        if not (out / "index.html").is_file():
            raise RuntimeError(f"traindeck: the web build did not write {out / 'index.html'}")
