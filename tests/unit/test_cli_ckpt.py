"""``traindeck ckpt`` through typer's CliRunner, over a real store and real checkpoint files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from traindeck.cli import app
from traindeck.cli.ckpt import human_size
from traindeck.store import Store

CLEAN_ENV: dict[str, str | None] = {
    "TRAINDECK_DIR": None, "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None,
    "TERM": "dumb",
}


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["ckpt", *args], input=input, env=CLEAN_ENV)


def save(store: Store, run_id: str, step: int, **kw: object) -> Path:
    """A real checkpoint file in the run's folder, recorded with its size and sha256."""
    folder = store.files_root / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint_step_{step:07d}.dat"
    data = f"weights at step {step}".encode() * (step + 1)
    path.write_bytes(data)
    store.add_checkpoint(run_id, step=step, path=str(path), size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(), **kw)  # type: ignore[arg-type]
    return path


@pytest.fixture
def run(store: Store) -> str:
    """A finished run with checkpoints at steps 9, 100, 1000, 20 and 3 (saved in that order)."""
    store.create_run(project="old", id="r0")  # older run: not the default
    run_id = store.create_run(project="mnist", name="baseline", id="r1").id
    for step, acc in ((9, 0.5), (100, 0.9), (1000, 0.8), (20, 0.6), (3, 0.4)):
        save(store, run_id, step, metrics={"val_acc": acc, "loss": 1 - acc},
             is_best=step == 100)
    store.set_status(run_id, "completed")
    return run_id


def rows(output: str) -> list[list[str]]:
    """The table's data rows (lines starting with a row number), split on whitespace."""
    return [line.split() for line in output.splitlines()
            if line.strip() and line.split()[0].isdigit()]


def test_human_size() -> None:
    assert [human_size(n) for n in (None, 0, 512, 1536, 5 * 2**20, 3 * 2**30)] == [
        "-", "0 B", "512 B", "1.5 KiB", "5.0 MiB", "3.0 GiB"]


def test_ls_orders_by_step_and_marks_best(store: Store, store_dir: Path,
                                          run: str) -> None:
    result = invoke("ls", "--dir", str(store_dir))  # RUN defaults to the newest run
    assert result.exit_code == 0, result.output
    assert "r1" in result.output and "mnist/baseline" in result.output
    table = rows(result.stdout)
    assert [r[1] for r in table] == ["3", "9", "20", "100", "1,000"]
    assert [r[0] for r in table] == ["1", "2", "3", "4", "5"]
    header = next(line for line in result.stdout.splitlines() if "step" in line)
    assert "val_acc" in header and "loss" in header and "size" in header
    by_step = {r[1]: r for r in table}
    assert by_step["100"][-1] == "★" and by_step["100"][3] == "0.9"
    assert by_step["1,000"][2:7] == ["regular", "0.8", "0.2", "19.6", "KiB"]
    assert all(r[-1] != "★" for step, r in by_step.items() if step != "100")

    last2 = invoke("ls", "r1", "--last", "2", "--dir", str(store_dir))
    assert [r[1] for r in rows(last2.stdout)] == ["100", "1,000"]


def test_sqlite_ls_of_a_folder_without_a_store_says_so(tmp_path: Path) -> None:
    nothing = invoke("ls", "--dir", str(tmp_path / "nowhere"))
    assert nothing.exit_code == 1 and "no traindeck store" in nothing.stderr
    assert "Traceback" not in nothing.output and nothing.stdout == ""


def test_ls_errors_are_one_line(tmp_path: Path, store: Store, store_dir: Path) -> None:
    no_runs = invoke("ls", "--dir", str(store_dir))
    assert no_runs.exit_code == 1 and "no runs yet" in no_runs.stderr
    store.create_run(project="p", id="empty")
    empty = invoke("ls", "--dir", str(store_dir))
    assert empty.exit_code == 1 and "has no checkpoints" in empty.stderr
    unknown = invoke("ls", "zzz", "--dir", str(store_dir))
    assert unknown.exit_code == 1 and "no run 'zzz'" in unknown.stderr
    for r in (no_runs, empty, unknown):
        assert "Traceback" not in r.output and r.stdout == ""


def test_pick_asks_again_then_prints_the_path(store: Store, store_dir: Path,
                                              run: str) -> None:
    paths = {c.step: c.path for c in store.list_checkpoints(run)}
    result = invoke("pick", "--dir", str(store_dir), input="abc\n0\n6\n2\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == paths[9] + "\n"  # #2 of 3, 9, 20, 100, 1000: only the path
    assert result.stderr.count("Which checkpoint?") == 4
    assert "'abc' is not a number from 1 to 5" in result.stderr
    assert "'6' is not a number" in result.stderr and "1,000" in result.stderr

    enter = invoke("pick", "r1", "--dir", str(store_dir), input="\n")
    assert enter.exit_code == 0 and enter.stdout == paths[1000] + "\n"  # Enter: the newest

    eof = invoke("pick", "--dir", str(store_dir), input="x\n")
    assert eof.exit_code == 1 and eof.stdout == ""
    assert "no checkpoint picked" in eof.stderr and "Traceback" not in eof.output


def test_verify_records_and_reports_a_corrupted_file(store: Store, store_dir: Path,
                                                     run: str) -> None:
    newest = invoke("verify", "--dir", str(store_dir))
    assert newest.exit_code == 0, newest.output
    assert "1 checkpoint ok" in newest.stdout and "1,000" in newest.stdout
    assert [c.valid for c in store.list_checkpoints(run)] == [True, None, None, None, None]

    corrupt = Path(next(c.path for c in store.list_checkpoints(run) if c.step == 20))
    corrupt.write_bytes(corrupt.read_bytes()[::-1])
    every = invoke("verify", "r1", "--all", "--dir", str(store_dir))
    assert every.exit_code == 1
    assert "sha256 mismatch" in every.stdout and "1 of 5 checkpoints invalid" in every.stderr
    valid = {c.step: c.valid for c in store.list_checkpoints(run)}
    assert valid == {1000: True, 100: True, 20: False, 9: True, 3: True}

    listing = invoke("ls", "--dir", str(store_dir))
    assert {r[1]: r[-1] for r in rows(listing.stdout)}["20"] == "✗"
    picked = invoke("pick", "--dir", str(store_dir), input="3\n")  # step 20, still given
    assert picked.exit_code == 0 and picked.stdout == f"{corrupt}\n"
    assert "warning: step 20 failed verification" in picked.stderr


def test_prune_asks_unless_yes(store: Store, store_dir: Path, run: str) -> None:
    before = {c.step: Path(c.path) for c in store.list_checkpoints(run)}
    no = invoke("prune", "--keep-last", "1", "--keep-best", "0", "--dir", str(store_dir),
                input="n\n")
    assert no.exit_code == 1 and "nothing deleted" in no.stderr
    assert "Delete these 3 of the 5 checkpoints" in no.stdout
    assert len(store.list_checkpoints(run)) == 5 and all(p.exists() for p in before.values())

    yes = invoke("prune", "--keep-last", "2", "--keep-best", "1", "--best", "max:val_acc",
                 "--yes", "--dir", str(store_dir))
    assert yes.exit_code == 0, yes.output
    assert "deleted 3 of 5 checkpoints; 2 kept" in yes.stdout
    assert sorted(c.step for c in store.list_checkpoints(run)) == [100, 1000]
    assert sorted(s for s, p in before.items() if p.exists()) == [100, 1000]

    nothing = invoke("prune", "--keep-last", "5", "--keep-best", "0", "--dir", str(store_dir))
    assert nothing.exit_code == 0 and "nothing to prune" in nothing.stdout

    bad = invoke("prune", "--keep-last", "1", "--keep-best", "1", "--best", "best",
                 "--dir", str(store_dir))
    assert bad.exit_code == 1 and "min:<metric>" in bad.stderr and "Traceback" not in bad.output
    missing = invoke("prune", "--keep-best", "1", "--dir", str(store_dir))
    assert missing.exit_code == 2 and "--keep-last" in missing.output


def test_prune_reads_relative_paths_in_the_run_folder(store: Store, store_dir: Path,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store.create_run(project="p", id="rel")
    folder = store_dir / "runs" / "rel"
    folder.mkdir(parents=True)
    for step in (1, 2, 3):
        (folder / f"ck{step}.dat").write_bytes(b"x")
        store.add_checkpoint("rel", step=step, path=f"ck{step}.dat")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    decoy = elsewhere / "ck1.dat"  # same relative name in the shell's folder: not touched
    decoy.write_bytes(b"decoy")
    monkeypatch.chdir(elsewhere)
    result = invoke("prune", "rel", "--keep-last", "1", "--keep-best", "0", "--yes",
                    "--dir", str(store_dir))
    assert result.exit_code == 0, result.output
    assert decoy.read_bytes() == b"decoy"
    assert sorted(p.name for p in folder.iterdir()) == ["ck3.dat"]
    picked = invoke("pick", "rel", "--dir", str(store_dir), input="\n")
    assert picked.stdout == f"{folder / 'ck3.dat'}\n"


def test_verify_with_a_relative_dir_reads_paths_in_the_run_folder(
        store: Store, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 15: with a relative --dir, a path recorded relative to the run's folder is
    found, and so is one an older SDK recorded relative to the script's directory
    (``td/runs/<id>/…`` for TRAINDECK_DIR=td), not at a doubled path."""
    store.create_run(project="p", id="rel")
    folder = store_dir / "runs" / "rel" / "checkpoints"
    folder.mkdir(parents=True)
    for step, name, recorded in ((1, "a.bin", "checkpoints/a.bin"),
                                 (2, "b.bin", f"{store_dir.name}/runs/rel/checkpoints/b.bin")):
        data = name.encode() * 10
        (folder / name).write_bytes(data)
        store.add_checkpoint("rel", step=step, path=recorded, size=len(data),
                             sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.chdir(store_dir.parent)
    result = invoke("verify", "rel", "--all", "--dir", store_dir.name)
    assert result.exit_code == 0, result.output
    assert "2 checkpoints ok" in result.stdout
    picked = invoke("pick", "rel", "--dir", store_dir.name, input="\n")
    assert Path(picked.stdout.strip()).resolve() == (folder / "b.bin").resolve()


def test_verify_and_prune_read_run_folders_under_files_root(store: Store, store_dir: Path,
                                                           tmp_path: Path) -> None:
    """Run folders kept apart from the store (``--files-root``): paths recorded relative to
    the run's folder are found there, not beside the database."""
    run_id = store.create_run(project="p", name="apart", id="ra").id
    root = tmp_path / "shared-files"
    folder = root / "runs" / run_id / "checkpoints"
    folder.mkdir(parents=True)
    for step in (1, 2, 3):
        data = f"step {step}".encode()
        (folder / f"s{step}.bin").write_bytes(data)
        store.add_checkpoint(run_id, step=step, path=f"checkpoints/s{step}.bin", size=len(data),
                             sha256=hashlib.sha256(data).hexdigest())
    store.set_status(run_id, "completed")
    missing = invoke("verify", run_id, "--all", "-d", str(store_dir))
    assert missing.exit_code != 0 and "missing" in missing.output, missing.output
    ok = invoke("verify", run_id, "--all", "-d", str(store_dir), "--files-root", str(root))
    assert ok.exit_code == 0 and "3 checkpoints ok" in ok.output, ok.output
    pruned = invoke("prune", run_id, "--keep-last", "1", "--keep-best", "0", "--yes", "-d",
                    str(store_dir),
                    "--files-root", str(root))
    assert pruned.exit_code == 0, pruned.output
    assert sorted(p.name for p in folder.iterdir()) == ["s3.bin"]
