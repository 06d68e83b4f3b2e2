"""The retry policy of a launch: which exits restart it, and how long each restart waits."""

from __future__ import annotations

import pytest

from traindeck.launch.spec import MAX_BACKOFF_S, MAX_RESTARTS, Retry
from traindeck.store import InvalidInput


def test_a_failure_restarts_up_to_max_restarts_and_a_success_never() -> None:
    retry = Retry(max_restarts=2)
    assert [retry.should_retry(1, n) for n in range(4)] == [True, True, False, False]
    assert not retry.should_retry(0, 0)
    assert retry.should_retry(None, 0)  # ended, status unknown: a failure


def test_a_listed_exit_code_always_restarts_but_not_forever() -> None:
    retry = Retry(max_restarts=0, exit_codes=(75,))
    assert retry.should_retry(75, 50) and not retry.should_retry(3, 0)
    assert not retry.should_retry(75, MAX_RESTARTS)


def test_each_restart_waits_twice_as_long_up_to_the_cap() -> None:
    retry = Retry(max_restarts=100, backoff_s=1.5)
    assert [retry.delay(n) for n in range(4)] == [1.5, 3.0, 6.0, 12.0]
    assert retry.delay(99) == MAX_BACKOFF_S
    assert Retry(backoff_s=0).delay(10) == 0.0


def test_parse_reads_the_wire_form_and_refuses_bad_fields() -> None:
    parsed = Retry.parse({"max_restarts": 3, "exit_codes": [75], "backoff_s": 0.5})
    assert parsed == Retry(3, (75,), 0.5)
    assert Retry.parse(parsed.to_dict()) == parsed
    assert Retry.parse(None) == Retry()
    for bad in ({"max_restarts": -1}, {"max_restarts": True}, {"exit_codes": ["1"]},
                {"backoff_s": -1}, {"backoff_s": 1e9}, {"backoff_s": "1"}, {"wait": 1}):
        with pytest.raises(InvalidInput):
            Retry.parse(bad)
