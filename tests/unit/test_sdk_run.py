"""The SDK against a real SQLite store in a temp folder (no server)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import wait_for

import traindeck as td
from traindeck.store import Store


@pytest.fixture
def tdir(store_dir: Path) -> Path:
    """Where ``td.init(dir=tdir)`` writes: the folder of the suite's ``store`` (conftest)."""
    return store_dir




def start(tdir: Path, **kw: Any) -> td.Run:
    kw.setdefault("system_interval", None)
    kw.setdefault("strict", True)
    return td.init(project="p", dir=tdir, **kw)


def points(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    p = store.read_points(run_id, key)
    return list(zip(p.steps.tolist(), p.values.tolist(), strict=True))


def test_log_auto_steps_explicit_steps_and_flush(tdir: Path, store: Store) -> None:
    with start(tdir, name="a", config={"lr": 0.1}, tags=["x"]) as run:
        run.log({"loss": 1.0})
        run.log({"loss": 0.5})
        run.log({"loss": 0.25}, step=10)
        run.log({"loss": 0.125})
        assert run.flush()
        assert points(store, run.id, "loss") == [(0, 1.0), (1, 0.5), (10, 0.25), (11, 0.125)]
    rec = store.get_run(run.id)
    assert rec.status == "completed"
    assert rec.config == {"lr": 0.1} and rec.tags == ["x"] and rec.name == "a"
    assert rec.ended_at is not None


def test_nan_and_inf_are_kept_exactly(tdir: Path, store: Store) -> None:
    with start(tdir) as run:
        run.log({"v": math.nan}, step=0)
        run.log({"v": math.inf}, step=1)
        run.log({"v": -math.inf}, step=2)
        run.log({"v": np.float32(1.5)}, step=3)
        run.log({"v": True}, step=4)
    got = points(store, run.id, "v")
    assert [s for s, _ in got] == [0, 1, 2, 3, 4]
    assert math.isnan(got[0][1])
    assert got[1][1] == math.inf and got[2][1] == -math.inf
    assert got[3][1] == 1.5 and got[4][1] == 1.0


def test_bad_values_are_reported_once_and_skipped(
    tdir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(tdir, strict=False) as run:
        for i in range(3):
            run.log({"ok": float(i), "bad": "text", "none": None}, step=i)
        run.log("not a dict", step=5)  # type: ignore[arg-type]
        run.log({"ok": 9.0}, step="seven")  # type: ignore[arg-type]
    assert points(store, run.id, "ok") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    err = capsys.readouterr().err
    assert err.count("'bad' must be a number") == 1
    assert "takes a dict" in err and "step must be an integer" in err
    assert [k.key for k in store.metric_keys(run.id)] == ["ok"]


def test_log_keeps_a_given_wall_time_and_reports_a_bad_one(
    tdir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(tdir, strict=False) as run:
        run.log({"x": 1.0}, step=0, time=1_600_000_000.25)
        run.log({"x": 2.0}, step=1, time=np.float64(1_600_000_001.5))
        for bad in (math.nan, math.inf, -1.0, "noon", True):
            run.log({"x": 9.0}, step=2, time=bad)  # type: ignore[arg-type]
        run.log({"x": 3.0}, step=3)
    p = store.read_points(run.id, "x")
    assert p.steps.tolist() == [0, 1, 3]
    assert p.times.tolist()[:2] == [1_600_000_000.25, 1_600_000_001.5]
    assert p.times[2] > 1_700_000_000  # now
    assert capsys.readouterr().err.count("time must be a finite number") == 1
    assert run.step == 4  # a refused call takes no step


def test_strict_mode_raises_on_a_bad_time(tdir: Path) -> None:
    with start(tdir) as run, pytest.raises(ValueError, match="time must be"):
        run.log({"x": 1.0}, time=math.nan)


def test_strict_mode_raises_on_bad_values(tdir: Path) -> None:
    with start(tdir) as run, pytest.raises(TypeError, match="must be a number"):
        run.log({"bad": "text"})


def test_resume_continues_steps_and_merges_config(tdir: Path, store: Store) -> None:
    with start(tdir, id="resumable", config={"a": 1}) as run:
        for i in range(5):
            run.log({"loss": float(i)})
    with pytest.raises(ValueError, match="already exists"):
        start(tdir, id="resumable")
    with pytest.raises(ValueError, match="no run"):
        start(tdir, id="missing", resume="must")
    with start(tdir, id="resumable", resume="allow", config={"b": 2}) as run2:
        assert run2.is_resumed and run2.step == 5
        run2.log({"loss": 5.0})
    assert [s for s, _ in points(store, "resumable", "loss")] == [0, 1, 2, 3, 4, 5]
    assert store.get_run("resumable").config == {"a": 1, "b": 2}
    assert store.get_run("resumable").status == "completed"


def test_summary_config_and_metadata(tdir: Path, store: Store) -> None:
    with start(tdir) as run:
        run.summary["best_acc"] = 0.9
        run.summary.update({"nan_loss": math.nan})
        run.config["batch"] = 32
        run.log({"x": 1.0})
    rec = store.get_run(run.id)
    assert rec.summary == {"best_acc": 0.9, "nan_loss": "NaN"}
    assert rec.config == {"batch": 32}
    assert rec.pid is not None and rec.host and rec.command
    assert rec.env["python"].count(".") == 2
    assert "numpy" in rec.env["frameworks"]


def test_events_and_edits_reach_the_run(tdir: Path, store: Store) -> None:
    with start(tdir) as run:
        run.event("alert", {"title": "loss spiked", "value": math.inf})
        run.update(name="renamed", tags=["a", "b"], notes="tried lr 3e-4")
        run.update()  # nothing asked: nothing written
    rec = store.get_run(run.id)
    assert (rec.name, rec.tags, rec.notes) == ("renamed", ["a", "b"], "tried lr 3e-4")
    alerts = [e.payload for e in store.list_events(run.id) if e.kind == "alert"]
    assert alerts == [{"title": "loss spiked", "value": "Infinity"}]


def test_module_level_functions_follow_the_current_run(tdir: Path, store: Store) -> None:
    run = start(tdir)
    assert td.current_run() is run
    td.log({"m": 3.0}, step=7)
    td.config["k"] = "v"
    td.summary["s"] = 1
    td.finish()
    assert td.current_run() is None
    assert points(store, run.id, "m") == [(7, 3.0)]
    rec = store.get_run(run.id)
    assert rec.status == "completed" and rec.config == {"k": "v"} and rec.summary == {"s": 1}
    with pytest.raises(RuntimeError, match="init"):
        td.log({"m": 1.0})


def test_exception_marks_failed_with_an_error_event(tdir: Path, store: Store) -> None:
    with pytest.raises(ZeroDivisionError), start(tdir) as run:
        run.log({"x": 1.0})
        _ = 1 / 0
    rec = store.get_run(run.id)
    assert rec.status == "failed"
    errors = store.list_events(run.id, kind="error")
    assert errors and "ZeroDivisionError" in errors[0].payload["error"]


def test_keyboard_interrupt_marks_interrupted(tdir: Path, store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), start(tdir) as run:
        raise KeyboardInterrupt
    assert store.get_run(run.id).status == "interrupted"


def test_sqlite_disabled_mode_and_unusable_dir(
    tdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRAINDECK_MODE", "disabled")
    run = td.init(project="p", dir=tdir)
    run.log({"x": 1.0})
    run.finish()
    assert not (tdir / "traindeck.db").exists()
    monkeypatch.delenv("TRAINDECK_MODE")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = td.init(project="p", dir=blocker, strict=False)
    run.log({"x": 1.0})
    run.finish()
    assert "opening the store failed" in capsys.readouterr().err
    with pytest.raises(Exception):  # noqa: B017 - strict surfaces whatever the OS said
        td.init(project="p", dir=blocker, strict=True)


def run_training_thread(run: td.Run, stop: threading.Event, counter: list[int]) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set() and not run.should_stop:
            run.log({"loss": 1.0 / (counter[0] + 1)})
            counter[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_commands_run_in_the_training_thread_with_results(
    tdir: Path, store: Store
) -> None:
    run = start(tdir)
    seen_threads: list[int] = []

    @run.command("validate")
    def validate(split: str = "val") -> dict[str, Any]:
        seen_threads.append(threading.get_ident())
        return {"split": split, "acc": 0.75}

    @run.command("explode")
    def explode() -> None:
        raise RuntimeError("boom")

    # Each registration is offered as it comes: wait for the last one.
    wait_for(lambda: "explode" in store.get_run(run.id).commands_offered, what="offer")
    assert store.get_run(run.id).commands_offered == ["stop", "pause", "resume", "validate",
                                                     "explode"]
    ok = store.create_command(run.id, "validate", {"split": "test"})
    bad = store.create_command(run.id, "explode")
    unknown = store.create_command(run.id, "nope")
    wrong_args = store.create_command(run.id, "validate", {"nope": 1})
    wait_for(lambda: run._gate, what="delivery")
    # Nothing runs until the training thread calls log() or poll().
    time.sleep(0.3)
    assert store.get_command(ok.id).status == "delivered"
    run.poll()
    wait_for(lambda: store.get_command(wrong_args.id).status == "failed", what="results")
    assert seen_threads == [threading.get_ident()]
    assert store.get_command(ok.id).result == {"split": "test", "acc": 0.75}
    assert store.get_command(ok.id).status == "done"
    assert "RuntimeError: boom" in (store.get_command(bad.id).error or "")
    assert "no command 'nope'" in (store.get_command(unknown.id).error or "")
    assert "bad arguments" in (store.get_command(wrong_args.id).error or "")
    run.finish()


def test_checkpoint_builtin_needs_a_handler(tdir: Path, store: Store) -> None:
    run = start(tdir)
    cmd = store.create_command(run.id, "checkpoint")
    wait_for(lambda: store.get_command(cmd.id).status == "delivered", what="delivery")
    run.poll()
    wait_for(lambda: store.get_command(cmd.id).status == "failed", what="failure")
    assert "registered no 'checkpoint' handler" in (store.get_command(cmd.id).error or "")
    saved: list[int] = []
    run.command("checkpoint")(lambda: saved.append(run.step) or {"path": "ck.npz"})
    cmd = store.create_command(run.id, "checkpoint")
    wait_for(lambda: store.get_command(cmd.id).status == "delivered", what="delivery")
    run.poll()
    wait_for(lambda: store.get_command(cmd.id).status == "done", what="done")
    assert store.get_command(cmd.id).result == {"path": "ck.npz"} and saved == [0]
    run.finish()


def test_pause_blocks_log_until_resume_and_heartbeat_goes_on(
    tdir: Path, store: Store
) -> None:
    run = start(tdir, heartbeat_interval=0.1, heartbeat_timeout=5.0)

    @run.command("probe")
    def probe() -> int:
        return counter[0]

    stop = threading.Event()
    counter = [0]
    thread = run_training_thread(run, stop, counter)
    wait_for(lambda: counter[0] > 10, what="training")
    pause = store.create_command(run.id, "pause")
    wait_for(lambda: store.get_command(pause.id).status == "done", what="pause ack")
    wait_for(lambda: store.get_run(run.id).status == "paused", what="paused status")
    frozen = counter[0]
    beat = store.get_run(run.id).heartbeat_at
    # A command served while paused proves the loop was blocked the whole time.
    p1 = store.create_command(run.id, "probe")
    wait_for(lambda: store.get_command(p1.id).status == "done", what="probe while paused")
    assert store.get_command(p1.id).result == frozen
    wait_for(lambda: (store.get_run(run.id).heartbeat_at or 0) > (beat or 0), what="heartbeat")
    assert counter[0] == frozen
    resume = store.create_command(run.id, "resume")
    wait_for(lambda: store.get_command(resume.id).status == "done", what="resume ack")
    wait_for(lambda: counter[0] > frozen + 10, what="training again")
    assert store.get_run(run.id).status == "running"
    stop_cmd = store.create_command(run.id, "stop")
    wait_for(lambda: run.should_stop, what="should_stop")
    thread.join(10)
    assert not thread.is_alive()
    run.finish()
    assert store.get_command(stop_cmd.id).status == "done"
    events = [e.payload.get("new_status") for e in store.list_events(run.id, kind="status_change")]
    # Stopped by a person: cancelled, not completed (defect 7).
    assert events == ["running", "paused", "running", "cancelled"]


def test_stop_while_paused_releases_the_loop(tdir: Path, store: Store) -> None:
    run = start(tdir)
    stop = threading.Event()
    counter = [0]
    thread = run_training_thread(run, stop, counter)
    wait_for(lambda: counter[0] > 5, what="training")
    pause = store.create_command(run.id, "pause")
    wait_for(lambda: store.get_command(pause.id).status == "done", what="pause")
    store.create_command(run.id, "stop")
    thread.join(10)
    assert not thread.is_alive() and run.should_stop
    run.finish()
    assert store.get_run(run.id).status == "cancelled"


def test_pending_commands_expire_when_the_run_ends(tdir: Path, store: Store) -> None:
    run = start(tdir, command_interval=60.0)
    wait_for(lambda: store.get_run(run.id).commands_offered, what="offer")
    cmd = store.create_command(run.id, "validate")
    run.finish()
    got = store.get_command(cmd.id)
    assert got.status == "expired" and "completed" in (got.error or "")


def test_system_sampling_without_a_gpu_driver(tdir: Path, store: Store) -> None:
    with start(tdir, system_interval=0.05) as run:
        wait_for(lambda: {k.key for k in store.metric_keys(run.id)} >= {
            "sys/cpu_percent", "sys/mem_percent", "sys/disk_percent", "sys/net_sent_mbps"},
            what="system series")
        sampler = run._pipe.sampler if run._pipe is not None else None
        assert sampler is not None
        keys = {k.key for k in store.metric_keys(run.id)}
        if sampler.gpu_count == 0:
            assert sampler.gpu_error and not any(k.startswith("sys/gpu") for k in keys)
        else:
            wait_for(lambda: any(k.key.startswith("sys/gpu0/") for k in
                                 store.metric_keys(run.id)), what="gpu series")


def test_public_surface_is_pinned() -> None:
    assert sorted(td.__all__) == sorted([
        "CommandError", "Run", "__version__", "config", "current_run", "finish", "init", "log",
        "log_image", "resume_or_create", "summary",
    ])


# -- regressions from review: values that can never be written, finishing, threads --------


def test_unstorable_values_never_block_later_writes(tdir: Path, store: Store) -> None:
    run = start(tdir, strict=False)

    @run.command("huge")
    def huge() -> dict[str, int]:
        return {"n": 2**70}

    run.summary["n_params"] = 10**20
    run.config["seed"] = 2**64
    run.summary["nan32"] = np.float32("nan")
    run.log({"big": 10**400, "loss": 0.5}, step=0)
    cmd = store.create_command(run.id, "huge")
    wait_for(lambda: store.get_command(cmd.id).status == "delivered", what="delivery")
    run.poll()
    run.log({"loss": 0.25}, step=1)
    assert run.flush()
    run.finish()
    rec = store.get_run(run.id)
    assert rec.status == "completed"
    assert rec.summary == {"n_params": 1e20, "nan32": "NaN"}
    assert rec.config == {"seed": float(2**64)}
    assert points(store, run.id, "loss") == [(0, 0.5), (1, 0.25)]
    assert store.get_command(cmd.id).result == {"n": float(2**70)}


def test_every_summary_and_config_change_is_saved(tdir: Path, store: Store) -> None:
    with start(tdir) as run:
        run.summary.update(a=1, b=2, c=3)
        del run.summary["a"]
        run.summary.pop("b")
        run.summary.setdefault("d", 4)
        run.summary |= {"e": 5}
        run.config.update(x=1, y=2)
        run.config.clear()
        run.config["z"] = 3
    rec = store.get_run(run.id)
    assert rec.summary == {"c": 3, "d": 4, "e": 5}
    assert rec.config == {"z": 3}


def test_flush_returns_only_when_everything_is_stored(tdir: Path, store: Store) -> None:
    run = start(tdir)
    for i in range(20):
        run.log({"x": float(i)}, step=i)
        run.summary["last"] = i
        assert run.flush()
        assert store.read_points(run.id, "x").steps.tolist() == list(range(i + 1))
        assert store.get_run(run.id).summary == {"last": i}
    assert run.flush(timeout=5)  # nothing left: at once, not at the next heartbeat
    run.finish()


def test_finish_from_two_threads_waits_for_the_drain(tdir: Path, store: Store) -> None:
    run = start(tdir)
    for i in range(5000):
        run.log({"x": float(i)}, step=i)
    other = threading.Thread(target=run.finish)
    other.start()
    run.finish()
    assert len(store.read_points(run.id, "x")) == 5000
    assert store.get_run(run.id).status == "completed"
    other.join(10)


def test_log_after_finish_is_reported(
    tdir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start(tdir, strict=False)
    run.log({"x": 1.0})
    run.finish()
    run.log({"x": 2.0})
    assert "log() after finish() failed" in capsys.readouterr().err
    assert points(store, run.id, "x") == [(0, 1.0)]


def test_bad_metric_names_in_strict_mode_lose_nothing_else(
    tdir: Path, store: Store
) -> None:
    with start(tdir) as run:
        run.log({"": 1.0, "acc": 0.5}, step=0)
    assert points(store, run.id, "acc") == [(0, 0.5)]


def test_module_functions_reach_the_run_from_other_threads_and_when_disabled(
    tdir: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start(tdir)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            td.log({"from_thread": 1.0}, step=0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    td.finish()
    assert not errors and points(store, run.id, "from_thread") == [(0, 1.0)]
    monkeypatch.setenv("TRAINDECK_MODE", "disabled")
    td.init(project="p", dir=tdir)
    td.log({"x": 1.0})  # a no-op, not "call init() first"
    td.finish()


def test_an_ignored_sigterm_stays_ignored(tdir: Path) -> None:
    import signal

    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        run = start(tdir)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        run.finish()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_stop_from_the_dashboard_ends_the_run_cancelled_saying_who(
        tdir: Path, store: Store) -> None:
    """Defect 7: a run a person stopped ends ``cancelled`` (not ``completed``), with an
    event saying who and at which step."""
    run = start(tdir)
    for step in range(5):
        run.log({"x": 1.0}, step=step)
    store.create_command(run.id, "stop", requested_by="alice")
    wait_for(lambda: run.poll(), what="should_stop")
    with run:
        pass
    assert store.get_run(run.id).status == "cancelled"
    (stopped,) = store.list_events(run.id, kind="stopped")
    assert stopped.payload["requested_by"] == "alice" and stopped.payload["step"] == 4


def test_the_senders_backoff_stays_well_below_the_heartbeat_timeout() -> None:
    """Defect 19 (SDK side): a server away for 20 s of a 30 s heartbeat timeout hears from
    the run again before it would judge the run lost."""
    from traindeck.sdk.transport import backoff

    waits = [backoff(n, heartbeat_timeout=30.0) for n in range(1, 40) for _ in range(20)]
    assert max(waits) <= 30.0 / 4
