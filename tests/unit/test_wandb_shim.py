"""``traindeck.wandb``: wandb's step rules, define_metric, the data types and warn-once,
against a real store in a temp folder (the run is a real traindeck run)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import KEPT_ENV

import traindeck.wandb as wandb
from traindeck.sdk.media import encode_png
from traindeck.store import Store
from traindeck.wandb.history import History, StepBehind
from traindeck.wandb.metrics import Aggregates, MetricRule, Metrics, parse_summary
from traindeck.wandb.warn import LOGGER, OnceWarner


@pytest.fixture(autouse=True)
def env(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs land in the suite's store; no console tee, strict internal failures."""
    import os

    for k in list(os.environ):
        if k.startswith(("TRAINDECK_", "WANDB_")) and k not in KEPT_ENV:
            monkeypatch.delenv(k)
    monkeypatch.setenv("TRAINDECK_DIR", str(store_dir))
    monkeypatch.setenv("TRAINDECK_STRICT", "1")
    monkeypatch.setenv("TRAINDECK_CONSOLE_CAPTURED", "1")
    yield
    wandb.finish()


def points(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    p = store.read_points(run_id, key)
    return list(zip(p.steps.tolist(), p.values.tolist(), strict=True))


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


# -- the step rules, alone ------------------------------------------------------------


def test_implicit_steps_and_commit_false_build_one_row() -> None:
    h = History()
    assert h.log({"a": 1}) == [(0, {"a": 1})]
    assert h.log({"b": 2}, commit=False) == []
    assert h.log({"c": 3}, commit=False) == []
    assert h.log({"a": 4}) == [(1, {"b": 2, "c": 3, "a": 4})]
    assert h.step == 2


def test_an_explicit_step_waits_for_a_later_step_or_the_end() -> None:
    h = History()
    assert h.log({"a": 1}, step=5) == []          # step given: commit defaults to False
    assert h.log({"b": 2}, step=5) == []          # the same step: same row
    assert h.log({"a": 3}, step=7) == [(5, {"a": 1, "b": 2})]
    assert h.log({"c": 1}, step=7, commit=True) == [(7, {"a": 3, "c": 1})]
    assert h.step == 8
    assert h.log({"d": 1}) == [(8, {"d": 1})]     # the implicit counter goes on from there
    with pytest.raises(StepBehind):
        h.log({"x": 0}, step=3)
    assert h.log({"e": 1}, step=20) == []
    assert h.flush() == [(20, {"e": 1})] and h.flush() == []


def test_commit_true_without_data_moves_on() -> None:
    h = History(start=10)
    assert h.log({}, commit=True) == []
    assert h.step == 11


# -- define_metric summaries, alone ---------------------------------------------------


def test_summary_aggregates_follow_the_rule() -> None:
    rules = Metrics()
    rules.define(MetricRule("val/*", summary=("max",)))
    rules.define(MetricRule("val/loss", summary=("min", "mean", "last")))
    rules.define(MetricRule("score", summary=("best",), goal="max"))
    agg = Aggregates()
    changes = [agg.add("val/loss", v, rules.rule("val/loss")) for v in (3.0, 1.0, 5.0)]
    assert changes[-1] == {"val/loss.mean": 3.0}  # the min did not change
    assert agg.add("val/acc", 0.5, rules.rule("val/acc")) == {"val/acc.max": 0.5}
    assert agg.add("score", 1.0, rules.rule("score")) == {"score.best": 1.0}
    assert agg.add("score", math.nan, rules.rule("score")) == {}
    assert agg.add("other", 7.0, rules.rule("other")) == {}
    final = agg.final(rules, explicit={"other"})
    assert final == {"val/loss": 5.0}  # val/acc keeps only its max; 'other' was set
    assert parse_summary("min, MAX,bogus") == (("min", "max"), ["bogus"])


# -- warn once --------------------------------------------------------------------------


def test_a_warner_says_each_thing_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    w = OnceWarner()
    assert w.warn("k", "first") and not w.warn("k", "again") and w.warn("j", "other")
    assert warnings_of(caplog) == ["traindeck.wandb: first", "traindeck.wandb: other"]


def test_unsupported_calls_warn_once_and_carry_on(caplog: pytest.LogCaptureFixture,
                                                    store: Store) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    run = wandb.init(project="w")
    for _ in range(3):
        run.watch(object())
        run.log({"phase": "train", "loss": 1.0})  # a string: skipped, the loss is kept
        run.log_code(".")                          # wandb has it, traindeck does not
        run.log({"late": 1.0}, step=0)             # behind the current step: dropped
    run.finish()
    said = warnings_of(caplog)
    assert len(said) == 4, said
    assert any("watch() is a no-op" in m for m in said)
    assert any("'phase' not stored" in m for m in said)
    assert any("run.log_code is not supported" in m for m in said)
    assert any("step 0 is below the current step" in m for m in said)
    assert [s for s, _ in points(store, run.id, "loss")] == [0, 1, 2]
    assert store.get_run(run.id).status == "completed"


def test_calls_without_a_run_do_nothing() -> None:
    assert wandb.run is None
    wandb.log({"loss": 1.0})
    wandb.define_metric("loss", summary="min")
    wandb.alert("t", "x")
    assert wandb.save("nothing") == []
    wandb.config.update({"a": 1})  # a detached config
    wandb.Video("clip.mp4")  # unsupported: a no-op
    wandb.plot.line(None, "x", "y")
    with pytest.raises(AttributeError):
        wandb.no_such_name  # noqa: B018  (names wandb does not have stay errors)


# -- through the store ------------------------------------------------------------------


def test_steps_rows_and_summary_land_in_the_store(store: Store) -> None:
    run = wandb.init(project="w", name="steps", config={"lr": 0.1}, tags=["t"],
                     group="g", job_type="train")
    assert wandb.run is run and run.step == 0
    wandb.config.batch = 32
    wandb.config["seed"] = 1
    wandb.config.update({"lr": 0.2})
    assert wandb.config.lr == 0.2 and run.config.as_dict() == {"lr": 0.2, "batch": 32,
                                                               "seed": 1}
    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch", summary="max")
    wandb.log({"lr": 0.1}, commit=False)
    wandb.log({"loss": 2.0})
    wandb.log({"loss": 1.0, "nested": {"a": 1, "b": np.float32(2.5)}})
    wandb.log({"val/acc": 0.5, "epoch": 7})
    wandb.log({"loss": 0.5}, step=10)
    wandb.log({"grads": np.arange(100.0)}, step=10)   # an array: a histogram
    wandb.log({"loss": 0.25}, step=12)
    wandb.summary["note"] = "done"
    assert wandb.summary["loss"] == 0.5  # the last value committed so far
    wandb.finish()
    assert wandb.run is None
    rec = store.get_run(run.id)
    assert rec.status == "completed" and rec.name == "steps"
    assert rec.config == {"lr": 0.2, "batch": 32, "seed": 1}
    assert rec.tags == ["t", "group:g", "job_type:train"]
    assert points(store, run.id, "lr") == [(0, 0.1)]
    assert points(store, run.id, "loss") == [(0, 2.0), (1, 1.0), (10, 0.5), (12, 0.25)]
    assert points(store, run.id, "nested/b") == [(1, 2.5)]
    assert points(store, run.id, "val/acc") == [(7, 0.5)]  # at its step metric's value
    assert points(store, run.id, "epoch") == [(2, 7.0)]
    assert points(store, run.id, "grads/p50") == [(10, 49.5)]
    assert rec.summary["val/acc.max"] == 0.5 and "val/acc" not in rec.summary
    assert rec.summary["loss"] == 0.25 and rec.summary["note"] == "done"


def test_images_histograms_and_tables(store: Store, store_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "pic.png"
    png.write_bytes(encode_png(np.zeros((2, 3), dtype=np.uint8)))
    with wandb.init(project="w") as run:
        assert wandb.init(project="other") is run  # a second init returns the open run
        run.name = "renamed"
        run.tags = ["a", "a", "", "b" * 300]
        run.log({"file": wandb.Image(str(png)), "bad": wandb.Image(tmp_path / "none.png")},
                commit=False)
        run.log({"img/a": wandb.Image(np.linspace(-1, 1, 48).reshape(4, 4, 3),
                                      caption="c"),
                 "chw": wandb.Image(np.zeros((3, 5, 6), dtype=np.uint8)),
                 "h": wandb.Histogram(np_histogram=([0, 10, 0], [0.0, 1.0, 2.0, 3.0])),
                 "t": wandb.Table(columns=["a", "b"], data=[[1, "x"], [2, None]])})
    rec = store.get_run(run.id)
    assert (rec.name, rec.tags, rec.project) == ("renamed", ["a", "b" * 100], "w")
    media = store.list_media(run.id)
    assert sorted((m.key, m.step, m.caption, m.width, m.height) for m in media) == [
        ("chw", 0, None, 6, 5), ("file", 0, None, 3, 2), ("img.a", 0, "c", 4, 4)]
    assert points(store, run.id, "h/min") == [(0, 1.0)]
    assert points(store, run.id, "h/max") == [(0, 2.0)]
    assert points(store, run.id, "h/p50") == [(0, 1.5)]
    csv = store_dir / "runs" / run.id / "artifacts" / "tables" / "t_0.csv"
    assert csv.read_text().splitlines() == ["a,b", "1,x", "2,"]


def test_disabled_and_offline_modes(store: Store, store_dir: Path) -> None:
    run = wandb.init(project="w", mode="disabled")
    run.log({"loss": 1.0})
    run.finish()
    assert run.disabled and store.list_runs()[0] == []
    run = wandb.init(project="w", mode="offline")
    run.log({"loss": 1.0})
    run.finish()
    assert run.offline and store.list_runs()[0] == []
    assert any((store_dir / "runs" / run.id / "spool").iterdir())
