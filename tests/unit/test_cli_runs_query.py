"""``traindeck runs ls --q/--sort``: the run table's query and sort from the command line,
over a real store."""

from __future__ import annotations

import json
import math
from pathlib import Path

from typer.testing import CliRunner, Result

from traindeck.cli import app
from traindeck.store import Store

#: The CLI reads no store location nor colour settings from the test's environment.
ENV: dict[str, str | None] = {"TRAINDECK_DIR": None, "TRAINDECK_FILES_ROOT": None,
                              "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None,
                              "TERM": "dumb", "COLUMNS": "1000"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def ls_ids(store_dir: Path, *args: str) -> list[str]:
    result = invoke("runs", "ls", "--dir", str(store_dir), "--json", *args)
    assert result.exit_code == 0, result.output
    return [r["id"] for r in json.loads(result.output)["runs"]]


def test_runs_ls_filters_and_sorts_with_the_query_language(store_dir: Path,
                                                         store: Store) -> None:
    for name, lr, acc in (("a", 0.1, 0.5), ("b", 0.01, math.nan), ("c", 0.001, 0.9)):
        store.create_run(project="p", id=name, name=f"run {name}", config={"optim": {"lr": lr}})
        store.write_metrics(name, {"val/acc": ([0, 1], [1.0, 2.0], [0.1, acc])})
    store.set_status("a", "completed")
    assert ls_ids(store_dir) == ["c", "b", "a"]
    assert ls_ids(store_dir, "--sort", "-metric:val/acc") == ["c", "a", "b"]  # NaN after
    assert ls_ids(store_dir, "--sort", "config:optim.lr") == ["c", "b", "a"]
    assert ls_ids(store_dir, "--q", "optim.lr<0.05", "--sort", "name") == ["b", "c"]
    assert ls_ids(store_dir, "--query", "val/acc>0.4 status:running") == ["c"]
    assert ls_ids(store_dir, "--q", "val/acc=nan", "--status", "running") == ["b"]
    table = invoke("runs", "ls", "--dir", str(store_dir), "--q", "optim.lr>1")
    assert table.exit_code == 0 and "no runs match" in table.output


def test_runs_ls_says_what_is_wrong_with_a_query(store_dir: Path, store: Store) -> None:
    store.create_run(project="p", id="a")
    bad = invoke("runs", "ls", "--dir", str(store_dir), "--q", "lr<")
    assert bad.exit_code != 0
    assert "bad query at position 3" in bad.output
    bad = invoke("runs", "ls", "--dir", str(store_dir), "--sort", "pid")
    assert bad.exit_code != 0 and "unknown column 'pid'" in bad.output
