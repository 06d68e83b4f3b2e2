"""The layout of a run's folder has one home (``traindeck.runfiles``): the SDK's images, the
server's uploads and the spool's finder all take their paths from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import traindeck as td
from traindeck.runfiles import RunFiles, media_rel, safe_name
from traindeck.sdk.spool import find_spools
from traindeck.store import Store
from traindeck.store.images import write_atomic
from traindeck.store.uploads import save_media

KEY = "val samples:1"


def test_a_media_key_has_one_folder_name(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    assert safe_name(KEY) == "val_samples_1"
    assert media_rel(KEY, "3_0.png") == "media/val_samples_1/3_0.png"
    assert files.media("r1", KEY) == tmp_path / "runs" / "r1" / "media" / "val_samples_1"
    assert files.media_file("r1", KEY, "3_0.png") == files.run_dir("r1") / media_rel(
        KEY, "3_0.png")
    assert files.resolve("r1", media_rel(KEY, "3_0.png")) == files.media_file(
        "r1", KEY, "3_0.png")


def test_sdk_images_and_uploads_land_where_runfiles_says(store_dir: Path,
                                                         store: Store) -> None:
    files = RunFiles(store.files_root)
    with td.init(dir=store_dir, project="p", system_interval=None, strict=True) as run:
        run.log({"loss": 1.0}, step=3)
        run.log_image(KEY, np.zeros((4, 4, 3), np.uint8))
        run.flush()
    (row,) = store.list_media(run.id)
    assert row.path == media_rel(KEY, "3_0.png")
    assert files.media_file(run.id, KEY, "3_0.png").is_file()
    png = files.media_file(run.id, KEY, "3_0.png").read_bytes()
    uploaded, created = save_media(store, files, run.id, key=KEY, step=4,
                                   filename="4_0.png", data=png, caption=None)
    assert created and uploaded.path == media_rel(KEY, "4_0.png")
    assert files.media_file(run.id, KEY, "4_0.png").read_bytes() == png
    assert sorted(p.name for p in files.media(run.id, KEY).iterdir()) == ["3_0.png", "4_0.png"]


def test_find_spools_names_the_spool_folder_from_runfiles(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    spool = files.spool("r1")
    write_atomic(spool / "000000.seg", b"")
    assert find_spools([tmp_path]) == [spool]
    assert find_spools([files.run_dir("r1")]) == [spool]
