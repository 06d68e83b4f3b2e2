"""SQLite-only: a follower learns of another process's commit from ``wait_for_writes``
(``PRAGMA data_version``), not at its next poll; with nothing committed it waits the
timeout out; a closed store wakes no one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from traindeck.store import SQLiteStore


def test_another_process_commit_wakes_the_waiter(tmp_path: Path) -> None:
    path = tmp_path / "traindeck.db"
    with SQLiteStore(path) as store:
        store.create_run(project="p", id="r")
        store.wait_for_writes(0.01)  # the first call starts watching
        assert store.wait_for_writes(0.05) is False  # nothing since
        writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            from traindeck.store import SQLiteStore
            with SQLiteStore({str(path)!r}) as s:
                s.write_metrics("r", {{"m": ([1], [1.0], [2.0])}})
            """)])
        try:
            assert store.wait_for_writes(60) is True
            assert writer.wait(60) == 0
        finally:
            writer.kill()
        assert store.read_points("r", "m").values.tolist() == [2.0]
        store.update_run("r", notes="this process's own writer counts too")
        assert store.wait_for_writes(60) is True
        assert store.wait_for_writes(0.05) is False  # ... once
    assert store.wait_for_writes(0.01) is False
