"""The metrics grid's first paint, load after load, for one or more dashboard builds.

``web_grid.py`` measures everything once; its first paint is a median of 3 loads, and on a
small machine two runs minutes apart differ by a third. This one fills the same store (5
runs x 200 keys x 100k points) once, starts one server and one Chromium, and loads the
grid ``--rounds`` times per build, the builds taking turns within each round (a first
round is a warm-up, not counted): what differs between builds is the build, not the
machine's minute. A build is a folder as ``npm run build`` writes it
(``src/traindeck/web``); each is copied into the package before its load, the server
reading the files at each request. Prints one JSON object: per build, the first grid
paint's median and quartiles (navigation start → the charts on screen drawn, as
``web_grid.py`` says), and the CPU the server, the page's renderer and the rest of
Chromium used per load (``psutil``).

    .venv/bin/python bench/web_grid_loads.py --rounds 10 [BUILD_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from _browser import ROOT, browser, machine, require_browser, server
from web_grid import SHOWN, fill, key_names, layout

WEB = ROOT / "src" / "traindeck" / "web"


def use(build: Path) -> None:
    """Put ``build`` where the server serves the dashboard from."""
    for f in WEB.iterdir():
        if f.is_dir():
            shutil.rmtree(f)
        else:
            f.unlink()
    for f in build.iterdir():
        if f.is_dir():
            shutil.copytree(f, WEB / f.name)
        else:
            shutil.copy(f, WEB / f.name)


def cpu_seconds() -> Counter[str]:
    """CPU seconds so far of the server, Chromium's renderers and the rest of Chromium
    (this benchmark's own: the processes it started, and theirs)."""
    out: Counter[str] = Counter()
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            t = p.cpu_times()
        except (psutil.Error, OSError):
            continue
        kind = ("server" if "traindeck.cli" in cmd else "renderer" if "--type=renderer" in cmd
                else "chromium" if "chromium" in cmd else None)
        if kind:
            out[kind] += t.user + t.system
    return out


def quartiles(xs: list[float]) -> dict[str, float]:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"p25": round(q[0], 1), "median": round(q[1], 1), "p75": round(q[2], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="*", type=Path,
                    help="dashboard builds (default: the package's)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--points", type=int, default=100_000)
    args = ap.parse_args()
    if any(b.resolve() == WEB.resolve() for b in args.builds):
        ap.error(f"{WEB} is where each build is copied to; name a copy of it instead")
    require_browser()
    keep = Path(tempfile.mkdtemp()) / "web"
    shutil.copytree(WEB, keep)  # the package's build, put back at the end
    builds = [b.resolve() for b in args.builds] or [keep]
    paints: dict[Path, list[float]] = {b: [] for b in builds}
    cpu: dict[Path, list[Counter[str]]] = {b: [] for b in builds}
    try:
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d) / "td"
            ids = fill(folder, 5, key_names(200), args.points)
            with server(folder) as url, browser() as b:
                page_url = f"{url}/?run={ids[0]}&compare={','.join(ids)}"
                init = f"localStorage.setItem('traindeck.layout.v1', {json.dumps(layout())});"
                for r in range(args.rounds + 1):
                    for build in builds:
                        use(build)
                        ctx = b.new_context(viewport={"width": 1920, "height": 1080})
                        ctx.add_init_script(init)
                        page = ctx.new_page()
                        before = cpu_seconds()
                        page.goto(page_url)
                        shown = page.wait_for_function(SHOWN, timeout=120_000).json_value()
                        used = cpu_seconds()
                        used.subtract(before)
                        ctx.close()
                        if r:  # round 0 warms the server and the browser up
                            paints[build].append(shown["t"])
                            cpu[build].append(used)
    finally:
        use(keep)
        shutil.rmtree(keep.parent, ignore_errors=True)
    out: dict[str, Any] = {"benchmark": "web_grid_loads", "runs": 5, "keys": 200,
                           "points_per_series": args.points, "rounds": args.rounds,
                           "builds": {}}
    for build in builds:
        out["builds"][str(build)] = {
            "first_grid_paint_ms": quartiles(paints[build]),
            "cpu_ms_per_load_median": {
                k: round(statistics.median(c[k] for c in cpu[build]) * 1000)
                for k in ("server", "renderer", "chromium")},
        }
    out["bars"] = {"first_grid_paint_ms": 1000}
    out["machine"] = machine()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
