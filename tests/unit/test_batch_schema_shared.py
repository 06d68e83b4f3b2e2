"""One batch schema for the SDK and the server (issue 9, defect 17): shared run fields.

The editable run fields (name, tags, notes) take their types and limits from one table, so
the batch route and ``PATCH /api/runs/{id}`` (``RunPatch``) accept and refuse the same
values; and every body the SDK's remote backend spools is one the server's parser takes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from traindeck.runfiles import RunFiles
from traindeck.sdk.backend import CheckpointEntry, MediaFile
from traindeck.sdk.policy import FailurePolicy
from traindeck.sdk.remote import RemoteBackend
from traindeck.server.schemas import RunPatch
from traindeck.store.batch_schema import EDITABLE, MAX_NAME, MAX_NOTES, MAX_TAG, MAX_TAGS
from traindeck.store.batch_wire import check_run_fields, parse_batch
from traindeck.store.errors import InvalidInput

SAMPLES: dict[str, list[Any]] = {
    "name": ["run-1", "", "x" * MAX_NAME, "x" * (MAX_NAME + 1), 5, None, ["a"]],
    "tags": [[], ["a", "b"], [""], ["t" * MAX_TAG], ["t" * (MAX_TAG + 1)],
             ["a"] * MAX_TAGS, ["a"] * (MAX_TAGS + 1), "x", [1], None],
    "notes": ["", "hello", "n" * MAX_NOTES, "n" * (MAX_NOTES + 1), {"a": 1}, 3, None],
}


def batch_accepts(field: str, value: Any) -> bool:
    try:
        check_run_fields({field: value}, "update")
    except InvalidInput:
        return False
    return True


def patch_accepts(field: str, value: Any) -> bool:
    if value is None:
        return False  # PATCH: null means "leave it alone", not a value
    try:
        RunPatch.model_validate({field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_batch_and_patch_agree_on_the_editable_run_fields(field: str) -> None:
    assert set(RunPatch.model_fields) == set(EDITABLE)
    for value in SAMPLES[field]:
        shown = repr(value)[:60]
        assert batch_accepts(field, value) == patch_accepts(field, value), (field, shown)


def test_a_run_upsert_may_leave_the_name_null() -> None:
    assert check_run_fields({"project": "p", "name": None}, "run")["name"] is None
    with pytest.raises(InvalidInput, match="'name' must be"):
        check_run_fields({"name": None}, "update")


def test_every_body_the_sdk_spools_is_one_the_server_parses(tmp_path: Path) -> None:
    backend = RemoteBackend("r1", RunFiles(tmp_path), url=None, token=None,
                            policy=FailurePolicy(strict=True, stream=io.StringIO()))
    try:
        backend.create_run({"project": "p", "name": None, "config": {"lr": 0.1},
                            "tags": ["a"], "notes": "", "pid": 1, "host": "h",
                            "command": "python train.py", "git_commit": None,
                            "git_dirty": None, "env": {"python": "3.11"},
                            "heartbeat_timeout": 30.0})
        backend.update_run({"config": {"lr": 0.2}, "commands_offered": ["stop"]})
        backend.set_status("paused")
        backend.add_event("signal", {"signal": "SIGTERM"})
        steps = np.arange(3, dtype=np.int64)
        backend.write_points({"loss": (steps, steps * 1.0, np.array([0.5, np.nan, np.inf])),
                              "acc": (steps, steps * 1.0, np.array([0.1, 0.2, 0.3]))},
                             summary={"loss": 0.5}, heartbeat=123.0)
        backend.write_logs([(1.0, "stdout", "hello"), (2.0, "stderr", "oops")])
        backend.write_media(MediaFile("samples", 3, "3_0.png", b"\x89PNG\r\n\x1a\n", None,
                                      None, None))
        backend.add_checkpoint(CheckpointEntry(id="c1", step=3, path="checkpoints/a.bin",
                                               kind="regular", metrics={"loss": np.float32(1)},
                                               size=3, sha256="0" * 64, host="h"))
        backend.mark_best("c1")
        backend.delete_checkpoint("c1", "retention: keep_last=1")
        backend.finish_command("cmd1", ok=True, result={"x": np.float64(1.5)}, error=None)
        payloads = [p for _, p in backend.spool.peek(100)]
    finally:
        backend.close()
    batches = [parse_batch(p) for p in payloads]
    assert len(batches) == 11
    assert batches[0].run is not None and batches[0].run["name"] == "r1"
    loss = batches[4].metrics["loss"]
    assert np.isnan(loss[2][1]) and loss[2][2] == np.inf
    assert batches[7].checkpoints[0]["metrics"] == {"loss": 1.0}
    assert batches[10].command_results[0]["result"] == {"x": 1.5}


def test_init_refuses_what_a_server_would(tmp_path: Path) -> None:
    import traindeck as td

    for kwargs in ({"name": "x" * (MAX_NAME + 1)}, {"tags": [""]},
                   {"notes": "n" * (MAX_NOTES + 1)}):
        with pytest.raises(ValueError, match="must be"):
            td.init(project="p", dir=tmp_path, system_interval=None, strict=True, **kwargs)
