"""A batch's metric columns are checked and converted for all its keys at once
(``batch_wire._metrics_at_once``); anything off falls back to the key-by-key checks, so
the arrays and the errors are what they were: each key its own points, each bad column
named."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from traindeck.store import InvalidInput
from traindeck.store.batch_wire import check_batch


def batch(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"batch_id": "b1", "metrics": metrics}


def test_each_key_gets_its_own_points() -> None:
    got = check_batch(batch({
        "loss": {"steps": [0, 1, 2], "times": [10.0, 11, 12.5], "values": [0.5, 0.25, 1]},
        "lr": {"steps": [2], "times": [12.5], "values": [0.001]},
        "empty": {"steps": [], "times": [], "values": []},
        "acc": {"steps": [0, 2], "times": [10.0, 12.5], "values": [0.1, 0.9]},
    })).metrics
    assert list(got) == ["loss", "lr", "empty", "acc"]
    steps, times, values = got["loss"]
    assert steps.dtype == np.int64 and times.dtype == values.dtype == np.float64
    assert steps.tolist() == [0, 1, 2] and times.tolist() == [10.0, 11.0, 12.5]
    assert values.tolist() == [0.5, 0.25, 1.0]
    assert [a.tolist() for a in got["lr"]] == [[2], [12.5], [0.001]]
    assert [len(a) for a in got["empty"]] == [0, 0, 0]
    assert [a.tolist() for a in got["acc"]] == [[0, 2], [10.0, 12.5], [0.1, 0.9]]


def test_spelled_non_finite_values_still_read() -> None:
    got = check_batch(batch({
        "a": {"steps": [0], "times": [1.0], "values": [1.0]},
        "b": {"steps": [0, 1, 2], "times": [1.0, 2.0, 3.0],
              "values": ["NaN", "Infinity", "-Infinity"]},
    })).metrics
    b = got["b"][2].tolist()
    assert math.isnan(b[0]) and b[1] == math.inf and b[2] == -math.inf
    assert got["a"][2].tolist() == [1.0]


@pytest.mark.parametrize(("bad", "says"), [
    ({"steps": [0.5], "times": [1.0], "values": [1.0]}, "'b': steps must be integers"),
    ({"steps": [True], "times": [1.0], "values": [1.0]}, "'b': steps must be integers"),
    ({"steps": [2**63], "times": [1.0], "values": [1.0]}, "'b': a step does not fit"),
    ({"steps": [0], "times": ["1"], "values": [1.0]}, "'b': times must be numbers"),
    ({"steps": [0], "times": [1.0], "values": [False]}, "'b': values are numbers"),
    ({"steps": [0], "times": [1.0], "values": ["nan"]}, "value 'nan' is not a number"),
    ({"steps": [0, 1], "times": [1.0], "values": [1.0, 2.0]}, "'b': steps, times and values"),
    ({"steps": [0], "times": [1.0]}, "'b': 'values' must be an array"),
    ({"steps": [0], "times": [1.0], "values": 1.0}, "'b': 'values' must be an array"),
    ([0, 1], "'b': give {steps, times, values}"),
])
def test_a_bad_column_is_named(bad: Any, says: str) -> None:
    good = {"steps": [0, 1], "times": [1.0, 2.0], "values": [1.0, 2.0]}
    with pytest.raises(InvalidInput, match=None) as err:
        check_batch(batch({"a": good, "b": bad, "c": good}))
    assert says in str(err.value)


def test_a_bad_key_name_is_refused() -> None:
    good = {"steps": [0], "times": [1.0], "values": [1.0]}
    for key in ("", "k" * 257):
        with pytest.raises(InvalidInput, match="metric names are 1 to 256"):
            check_batch(batch({"a": good, key: good}))
