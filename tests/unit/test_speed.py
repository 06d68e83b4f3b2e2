"""Speed, progress and ETA math (``traindeck.speed``): pure functions of (step, time)
observations, driven with made-up times (no clock, no sleeping)."""

from __future__ import annotations

import math

import pytest

from traindeck.speed import TAU_S, Speed, estimate, eta, observe, progress, resumed


def feed(points: list[tuple[int, float]], speed: Speed | None = None) -> Speed:
    for step, t in points:
        speed = observe(speed, step, t)
    assert speed is not None
    return speed


def test_a_steady_run_reads_its_exact_speed() -> None:
    speed = feed([(s, 100.0 + s / 8) for s in range(0, 400, 3)])  # 8 steps/s, uneven reads
    assert speed.rate == pytest.approx(8.0)
    assert speed.step == 399


def test_one_observation_gives_no_speed_yet() -> None:
    assert observe(None, 5, 10.0).rate is None
    assert estimate("running", 5, 100, None) == (0.05, None, None)


def test_a_change_of_pace_is_followed_with_the_time_constant() -> None:
    speed = feed([(s, s / 10) for s in range(0, 101)])  # 10 steps/s for 10 s
    assert speed.rate == pytest.approx(10.0)
    # Then 2 steps/s for one time constant: 1 - 1/e of the way from 10 to 2.
    start = speed.time
    speed = feed([(100 + s, start + s / 2) for s in range(1, int(TAU_S * 2) + 1)], speed)
    expected = 2 + 8 * math.exp(-1)
    assert speed.rate == pytest.approx(expected, rel=1e-6)


def test_how_often_the_run_is_read_does_not_change_the_speed() -> None:
    # 10 steps/s for 100 s, then 2 steps/s for 10 s: read at every step, or every 5 s.
    times = {s: s / 10 for s in range(0, 1001)}
    times.update({1000 + s: 100 + s / 2 for s in range(1, 21)})
    fine = feed(sorted(times.items()))
    coarse = feed([(s, times[s]) for s in (0, *range(50, 1001, 50), 1010, 1020)])
    assert fine.rate == pytest.approx(coarse.rate)
    assert fine.rate == pytest.approx(2 + 8 * math.exp(-10 / TAU_S))


def test_steps_at_the_same_instant_wait_for_time_to_pass() -> None:
    speed = feed([(0, 10.0), (1, 11.0)])
    same = observe(speed, 5, 11.0)
    assert same == speed  # the anchor stays: the 4 steps are counted with the next time
    later = observe(same, 6, 12.0)
    assert later.rate == pytest.approx(1 + (5 - 1) * (1 - math.exp(-1 / TAU_S)))


def test_a_lower_or_repeated_step_is_not_progress() -> None:
    speed = feed([(0, 0.0), (10, 1.0)])
    assert observe(speed, 10, 5.0) == speed
    assert observe(speed, 3, 6.0) == speed  # a rewind or a backfill


def test_a_pause_moves_the_anchor_and_keeps_the_speed() -> None:
    speed = feed([(s, s / 10) for s in range(0, 50)])
    after = observe(speed, 50, speed.time + 3600)  # an hour away (paused, restarted)
    assert after.rate == pytest.approx(10.0) and after.step == 50
    assert observe(after, 60, after.time + 1).rate == pytest.approx(10.0)


def test_a_slow_run_is_slow_not_paused() -> None:
    speed = feed([(0, 0.0), (1, 300.0), (2, 600.0)])  # one step per five minutes
    assert speed.rate == pytest.approx(1 / 300)
    assert eta(2, 12, speed.rate) == pytest.approx(3000.0)


def test_a_clock_that_goes_back_re_anchors() -> None:
    speed = feed([(0, 100.0), (10, 101.0)])
    back = observe(speed, 20, 50.0)
    assert (back.step, back.time, back.rate) == (20, 50.0, speed.rate)


def test_resumed_only_re_anchors_on_the_next_step() -> None:
    speed = feed([(s, float(s)) for s in range(0, 30)])
    back = resumed(speed)
    assert back is not None and back.gap
    moved = observe(back, 31, 500.0)
    assert (moved.step, moved.time, moved.rate, moved.gap) == (31, 500.0, speed.rate, False)
    assert resumed(None) is None


def test_progress_is_the_last_step_over_the_total() -> None:
    assert progress(None, 100) is None
    assert progress(50, None) is None
    assert progress(25, 100) == 0.25
    assert progress(150, 100) == 1.0
    assert progress(99, 100) == 0.99  # still running: steps 0..99 are not done yet
    assert progress(99, 100, completed=True) == 1.0  # counted from 0: it reached its total
    assert progress(80, 100, completed=True) == 0.8  # ended early


def test_eta_needs_a_total_and_a_speed() -> None:
    assert eta(10, 110, 4.0) == 25.0
    assert eta(10, None, 4.0) is None
    assert eta(10, 110, None) is None
    assert eta(10, 110, 0.0) is None
    assert eta(120, 110, 4.0) == 0.0


def test_estimate_gives_an_eta_only_while_running_and_rounds() -> None:
    assert estimate("running", 10, 110, 3.0) == (pytest.approx(0.090909), 3.0, 33.3)
    assert estimate("paused", 10, 110, 3.0)[2] is None
    done = estimate("completed", 109, 110, 3.123456)
    assert done == (1.0, 3.123, None)  # the speed stays: how fast it ran
    assert estimate("running", 10, None, 7.77777) == (None, 7.778, None)
