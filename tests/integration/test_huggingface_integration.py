"""The Hugging Face Transformers integration (``traindeck.integrations.huggingface``): a real
``Trainer`` training a tiny BERT (built from a config, random tokens, no download) in a real
child process, recording into a real store that a real server follows; commands posted
through the server's API steer the Trainer."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, free_port, open_dir_store, require_module, start_server, wait_for

from traindeck.store import NotFound, Store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hf_tiny_bert.py"
CHILD = Path(__file__).parent / "scripts" / "hf_train_child.py"


@pytest.fixture
def libraries() -> None:
    require_module("transformers")
    require_module("torch")
    require_module("accelerate")  # the Trainer needs it (transformers[torch])


def child_env(tdir: Path) -> dict[str, str]:
    env = clean_env()
    env.update(TRAINDECK_DIR=str(tdir), TRAINDECK_STRICT="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def points(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    """The series' points; none when the run has no such series (yet)."""
    try:
        p = store.read_points(run_id, key)
    except NotFound:
        return []
    return list(zip(p.steps.tolist(), p.values.tolist(), strict=True))


def test_without_transformers_the_import_says_which_extra_to_install() -> None:
    code = ("import sys; sys.modules['transformers'] = None\n"
            "import traindeck\n"
            "import traindeck.integrations.huggingface")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "pip install 'traindeck[huggingface]'" in done.stderr


@pytest.mark.usefixtures("libraries")
def test_the_example_records_metrics_config_and_checkpoints(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    done = subprocess.run([sys.executable, str(EXAMPLE)], env=child_env(tdir), cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    store = open_dir_store(tdir)
    try:
        [summary], _ = store.list_runs()
        run = store.get_run(summary.id)
        assert (run.project, run.name, run.status) == ("hf-tiny-bert", "tiny-bert", "completed")
        # The Trainer's logs, named as Hugging Face's trackers name them, at global steps.
        loss = points(store, run.id, "train/loss")
        assert [s for s, _ in loss] == [10, 20, 30, 40, 50, 60]
        assert loss[-1][1] < loss[0][1]
        assert [s for s, _ in points(store, run.id, "train/learning_rate")] == [
            10, 20, 30, 40, 50, 60]
        eval_loss = points(store, run.id, "eval/loss")
        assert [s for s, _ in eval_loss] == [20, 40, 60]
        assert [s for s, _ in points(store, run.id, "eval/accuracy")] == [20, 40, 60]
        assert [s for s, _ in points(store, run.id, "train/train_loss")] == [60]
        # The training arguments (and the model's config) are the run's config.
        cfg = run.config
        assert (cfg["learning_rate"], cfg["max_steps"], cfg["per_device_train_batch_size"],
                cfg["eval_strategy"], cfg["metric_for_best_model"]) == (
            0.001, 60, 16, "steps", "eval_loss")
        assert (cfg["model.hidden_size"], cfg["model.num_hidden_layers"]) == (32, 2)
        assert run.total_steps == 60  # state.max_steps: progress and ETA
        assert run.commands_offered == ["stop", "pause", "resume", "checkpoint", "validate"]
        # The Trainer's checkpoint folders, with their step, eval metrics and the best.
        out = tmp_path / "hf_tiny_bert_out"
        cks = sorted(store.list_checkpoints(run.id), key=lambda c: c.step)
        assert [(c.step, c.path) for c in cks] == [
            (s, str(out / f"checkpoint-{s}")) for s in (20, 40, 60)]
        assert all(Path(c.path, "model.safetensors").is_file() for c in cks)
        evals = dict(eval_loss)
        assert [c.metrics["eval/loss"] for c in cks] == [evals[20], evals[40], evals[60]]
        best_line = done.stdout.strip().splitlines()[-1]
        best_step = min(evals, key=evals.__getitem__)
        assert best_line.endswith(f"best checkpoint hf_tiny_bert_out/checkpoint-{best_step}")
        assert [c.step for c in cks if c.is_best] == [best_step]
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    tdir, port = tmp_path / "td", free_port()
    proc = start_server(tdir, port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", tdir
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post(url: str, run_id: str, name: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/runs/{run_id}/commands", json={"name": name}, timeout=10)
    assert r.status_code == 201, r.text
    cmd_id = r.json()["id"]

    def finished() -> dict[str, Any] | None:
        c: dict[str, Any] = httpx.get(f"{url}/api/commands/{cmd_id}", timeout=10).json()
        return c if c["status"] in ("done", "failed", "expired") else None

    cmd: dict[str, Any] = wait_for(finished, 120, f"command {name}")
    assert cmd["status"] == "done", cmd
    return cmd


@pytest.mark.usefixtures("libraries")
def test_dashboard_commands_steer_the_trainer(server: tuple[str, Path], tmp_path: Path) -> None:
    url, tdir = server
    out = tmp_path / "out"
    err = (tmp_path / "child.err").open("w")
    proc = subprocess.Popen([sys.executable, str(CHILD), "--output-dir", str(out)],
                            env=child_env(tdir), stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    store = open_dir_store(tdir)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), (line, (tmp_path / "child.err").read_text())
        run_id = line.split()[1]
        wait_for(lambda: {"checkpoint", "validate"} <= set(httpx.get(
            f"{url}/api/runs/{run_id}", timeout=10).json()["commands_offered"]),
            what="the commands offered")

        # validate → should_evaluate: eval metrics appear at the step the result names.
        validate = post(url, run_id, "validate")["result"]
        assert validate["will"] == "evaluate"
        at = validate["step"]
        wait_for(lambda: [s for s, _ in points(store, run_id, "eval/loss")] == [at],
                 120, "eval/loss at the promised step")
        wait_for(lambda: any(e.payload.get("command") == "validate" and e.payload["done"]
                             and e.payload["step"] == at for e in
                             store.list_events(run_id, kind="trainer")), 120, "validated")

        # checkpoint → should_save: the folder appears and is recorded at its step.
        saved = post(url, run_id, "checkpoint")["result"]
        assert saved["will"] == "save a checkpoint"
        assert saved["path"] == str(out / f"checkpoint-{saved['step']}")
        cks = wait_for(lambda: store.list_checkpoints(run_id), 120, "checkpoint recorded")
        assert [(c.step, c.path) for c in cks] == [(saved["step"], saved["path"])]
        assert cks[0].metadata["reason"] == "command"
        assert Path(saved["path"], "model.safetensors").is_file()
        assert sorted(p.name for p in out.iterdir()) == [f"checkpoint-{saved['step']}"]

        # stop → should_training_stop: the Trainer ends early and the run is cancelled.
        stop = post(url, run_id, "stop")["result"]
        assert stop["should_stop"] is True
        assert proc.wait(120) == 0
        run = wait_for(lambda: (r := store.get_run(run_id)).status == "cancelled" and r,
                       60, "cancelled")
        # The Trainer's final summary is logged at the step it stopped at.
        [(end, _)] = points(store, run_id, "train/train_loss")
        assert saved["step"] <= end < run.config["max_steps"] == 1_000_000
        [stopped] = [e.payload for e in store.list_events(run_id, kind="trainer")
                     if e.payload["command"] == "stop"]
        assert stopped["done"] and stopped["step"] == end >= stop["step"]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        store.close()


GIVEN_RUN = """
import sys
sys.path.insert(0, sys.argv[1])
from hf_tiny_bert import RandomTokens, tiny_model
from transformers import Trainer, TrainingArguments
import traindeck as td
from traindeck.integrations.huggingface import TraindeckCallback

args = TrainingArguments(output_dir="out", max_steps=8, logging_steps=4, save_strategy="no",
                         use_cpu=True, disable_tqdm=True, report_to="none")
data = dict(train_dataset=RandomTokens(64, seed=1), eval_dataset=RandomTokens(32, seed=2))
# Given a run: recorded into it, left for the script to finish.
run = td.init(project="hf-given", name="mine", config={"learning_rate": "mine"})
trainer = Trainer(model=tiny_model(), args=args, callbacks=[TraindeckCallback(run=run)], **data)
trainer.train()
assert not run.finished
trainer.evaluate()                        # logged into the given run, at the last step
run.log({"after": 1.0}, step=100)
run.finish()
# Made by the callback: an evaluate() after training starts no second run.
callback = TraindeckCallback(project="hf-made", name="made")
trainer = Trainer(model=tiny_model(), args=args, callbacks=[callback], **data)
trainer.train()
assert callback.run is not None and callback.run.finished
trainer.evaluate()
"""


@pytest.mark.usefixtures("libraries")
def test_a_given_run_is_left_to_the_script(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    done = subprocess.run([sys.executable, "-c", GIVEN_RUN, str(EXAMPLE.parent)],
                          env=child_env(tdir), cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    store = open_dir_store(tdir)
    try:
        found, _ = store.list_runs()
        runs = {r.project: store.get_run(r.id) for r in found}
        assert sorted(runs) == ["hf-given", "hf-made"]
        given, made = runs["hf-given"], runs["hf-made"]
        assert given.status == made.status == "completed"
        # the script's own config key wins over the Trainer's argument of the same name
        assert given.config["learning_rate"] == "mine" and given.config["max_steps"] == 8
        assert [s for s, _ in points(store, given.id, "train/loss")] == [4, 8]
        assert [s for s, _ in points(store, given.id, "eval/loss")] == [8]
        assert points(store, given.id, "after") == [(100, 1.0)]
        assert made.config["learning_rate"] == 5e-05
        assert [s for s, _ in points(store, made.id, "train/loss")] == [4, 8]
        assert points(store, made.id, "eval/loss") == []
    finally:
        store.close()
