"""Rules in the store (checks, defaults, masking, listing alerts) and each kind's check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from traindeck.server.alerts.kinds import (
    DiskCheck,
    GpuIdleCheck,
    NanCheck,
    PlateauCheck,
    SpikeCheck,
    StallCheck,
    ThresholdCheck,
)
from traindeck.store import InvalidInput, NotFound, Store
from traindeck.store.rules import mask_url


def feed(check: object, steps: list[int], values: list[float], now: float = 0.0) -> object:
    return check.feed(np.array(steps, dtype=np.int64),  # type: ignore[attr-defined]
                      np.array(values, dtype=np.float64), now)


def test_a_rule_is_stored_with_its_params_completed(store: Store) -> None:
    run = store.create_run(project="p")
    before = store.rules_version()
    rule = store.create_rule(kind="spike", run_id=run.id, key="loss", params={"k": 4})
    assert rule.params == {"k": 4.0, "window": 100, "min_points": 20}
    assert (rule.severity, rule.cooldown_s) == ("warning", 300.0)
    assert store.rules_version() != before
    assert store.list_rules(run_id=run.id) == [rule] and store.list_rules(project="p") == []
    store.delete_rule(rule.id)
    assert store.list_rules() == []
    with pytest.raises(NotFound):
        store.delete_rule(rule.id)


@pytest.mark.parametrize(("body", "says"), [
    ({"kind": "loud"}, "unknown rule kind"),
    ({"kind": "spike"}, "need a key"),
    ({"kind": "stall", "params": {}}, "params.minutes"),
    ({"kind": "stall", "key": "loss", "params": {"minutes": 1}}, "give no key"),
    ({"kind": "threshold", "key": "a", "params": {"op": "~", "value": 1}}, "params.op"),
    ({"kind": "threshold", "key": "a", "params": {"op": "<", "value": "x"}}, "a number"),
    ({"kind": "nan", "params": {"k": 3}}, "take no param k"),
    ({"kind": "plateau", "key": "a", "params": {"steps": 1.5}}, "whole number"),
    ({"kind": "spike", "key": "a", "params": {"min_points": 200}}, "min_points"),
    ({"kind": "nan", "project": "p", "run_id": "r"}, "not both"),
    ({"kind": "nan", "severity": "fatal"}, "severity"),
    ({"kind": "nan", "cooldown_s": -1}, "cooldown_s"),
    ({"kind": "nan", "run_id": "nope"}, "no run"),
])
def test_bad_rules_are_refused_saying_why(store: Store, body: dict[str, object],
                                          says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        store.create_rule(**body)  # type: ignore[arg-type]


def test_a_rule_of_a_deleted_run_goes_with_it(store: Store) -> None:
    run = store.create_run(project="p")
    store.create_rule(kind="heartbeat", run_id=run.id)
    store.delete_run(run.id)
    assert store.list_rules() == []


def test_webhook_urls_are_checked_and_shown_masked(store: Store) -> None:
    hook = store.create_webhook("https://hooks.slack.com/services/T0/B0/s3cret", "slack")
    assert hook.to_dict()["url"] == "https://hooks.slack.com/services/***"
    assert "s3cret" not in str(store.list_webhooks()[0].to_dict())
    for bad in ("ftp://x/y", "not a url", "http://", ""):
        with pytest.raises(InvalidInput):
            store.create_webhook(bad)
    with pytest.raises(InvalidInput, match="format"):
        store.create_webhook("http://127.0.0.1/x", "teams")


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
    ("https://discord.com/api/webhooks/1/tok", "https://discord.com/api/***"),
    ("https://u:pw@example.com/a?token=abc&x=1", "https://***@example.com/a?token=***&x=***"),
])
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_alerts_are_listed_newest_first_with_their_run(store: Store) -> None:
    a = store.create_run(project="p", name="first")
    b = store.create_run(project="q", name="second")
    store.add_event(a.id, "alert", {"title": "one", "severity": "error"})
    store.add_event(a.id, "note", {})
    store.add_event(b.id, "alert", {"title": "two", "level": "WARN"})  # wandb.alert's shape
    listed = [x.to_dict() for x in store.list_alerts()]
    assert [x["title"] for x in listed] == ["two", "one"]
    assert listed[0]["severity"] == "warning" and listed[0]["run_name"] == "second"
    assert [x.to_dict()["title"] for x in store.list_alerts(project="p")] == ["one"]
    assert store.list_alerts(after_seq=listed[0]["seq"]) == []
    assert [x.seq for x in store.list_alerts(before_seq=listed[0]["seq"])] == [listed[1]["seq"]]


# -- the checks ------------------------------------------------------------------------------


def test_nan_fires_once_per_episode() -> None:
    check = NanCheck("loss")
    hit = feed(check, [1, 2, 3, 4], [1.0, math.nan, math.inf, 1.0])
    assert hit is not None and (hit.step, math.isnan(hit.value)) == (2, True)  # type: ignore[attr-defined]
    assert feed(check, [5, 6], [math.nan, math.nan]) is not None  # a new episode
    assert feed(check, [7], [math.nan]) is None  # the same one


def test_threshold_only_after_its_step_and_on_crossing() -> None:
    check = ThresholdCheck("acc", "<", 0.5, after_step=10)
    assert feed(check, [1, 2], [0.1, 0.1]) is None
    hit = feed(check, [10, 11], [0.6, 0.4])
    assert hit is not None and hit.step == 11  # type: ignore[attr-defined]
    assert feed(check, [12], [0.3]) is None


def test_spike_against_the_recent_spread() -> None:
    rng = np.random.default_rng(1)
    check = SpikeCheck("loss", k=6, window=100, min_points=20)
    assert feed(check, list(range(100)), (1 + rng.normal(0, 0.01, 100)).tolist()) is None
    hit = feed(check, [100, 101], [1.0, 2.0])
    assert hit is not None and hit.step == 101  # type: ignore[attr-defined]
    flat = SpikeCheck("x", k=6, window=10, min_points=3)
    assert feed(flat, list(range(10)), [1.0] * 10) is None
    assert feed(flat, [10], [5.0]) is None  # no spread to judge by


def test_plateau_min_and_max() -> None:
    check = PlateauCheck("loss", steps=10, min_delta=0.01, direction="min")
    assert feed(check, list(range(10)), [1.0 - i * 0.1 for i in range(10)]) is None
    hit = feed(check, list(range(10, 25)), [0.1] * 15)
    assert hit is not None and hit.step == 24  # type: ignore[attr-defined]
    assert feed(check, [25, 26], [0.1, 0.1]) is None  # starts over after firing
    up = PlateauCheck("acc", steps=5, min_delta=0.0, direction="max")
    assert feed(up, list(range(10)), [i / 10 for i in range(10)]) is None
    assert feed(up, list(range(10, 16)), [0.5] * 6) is not None


def test_disk_gpu_idle_and_stall_on_the_clock() -> None:
    disk = DiskCheck("sys/disk_percent", min_free_percent=10)
    assert feed(disk, [1], [80.0]) is None and feed(disk, [2], [95.0]) is not None
    gpu = GpuIdleCheck("sys/gpu0/util", below=5, minutes=1)
    feed(gpu, [1], [0.0], now=100.0)
    assert gpu.due(130.0) is None and gpu.due(161.0) is not None and gpu.due(300.0) is None
    feed(gpu, [2], [90.0], now=310.0)
    assert gpu.due(1000.0) is None
    stall = StallCheck(minutes=1, now=0.0)
    assert stall.due(59.0) is None and stall.due(61.0) is not None and stall.due(99) is None
    stall.progressed(100.0)
    assert stall.due(170.0) is not None


def test_new_points_after_a_step_of_dense_and_sparse_series(store: Store) -> None:
    run = store.create_run(project="p")
    dense = np.arange(5000)
    store.write_metrics(run.id, {
        "dense": (dense, np.zeros(5000), dense * 1.0),
        "sparse": (dense[::7] * 3, np.zeros(len(dense[::7])), dense[::7] * 2.0)})
    got = store.new_points([(run.id, "dense", 4090), (run.id, "sparse", 100),
                            (run.id, "nope", None)])
    steps, values = got[(run.id, "dense")]
    assert steps.tolist() == list(range(4091, 5000)) and values.tolist() == list(
        map(float, range(4091, 5000)))
    steps, values = got[(run.id, "sparse")]
    assert steps[0] == 105 and steps[-1] == 3 * 4998 and (values == steps / 1.5).all()
    assert (run.id, "nope") not in got
    assert store.new_points([(run.id, "dense", None)])[(run.id, "dense")][0].tolist() == \
        dense.tolist()
