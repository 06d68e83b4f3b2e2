"""MLflow's search syntax as the MLflow API reads it: filters and order_by over plain
values (the routes apply them to runs and experiments)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from traindeck.server.mlflow.errors import MlflowError
from traindeck.server.mlflow.search import Clause, order, parse_filter, parse_order, select

ROWS: list[dict[str, Any]] = [
    {"metric": {"loss": 0.5, "acc": 0.9}, "param": {"lr": "0.1", "opt": "adam"},
     "tag": {"team": "vision"}, "attribute": {"run_name": "baseline", "status": "FINISHED"}},
    {"metric": {"loss": math.nan}, "param": {"lr": "1.0", "opt": "sgd"},
     "tag": {"my tag": "x y"}, "attribute": {"run_name": "Crashed", "status": "FAILED"}},
    {"metric": {"loss": 2.0}, "param": {"lr": "0.1"}, "tag": {},
     "attribute": {"run_name": "worse", "status": "FINISHED"}},
]


def get(row: dict[str, Any], entity: str, key: str) -> Any:
    return row[entity].get(key)


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["attribute"]["run_name"] for r in rows]


@pytest.mark.parametrize(("text", "expected"), [
    ("", ["baseline", "Crashed", "worse"]),
    ("metrics.loss < 1", ["baseline"]),
    ("metrics.loss >= 0.5 AND params.lr = '0.1'", ["baseline", "worse"]),
    ("metric.acc > 0.5 and tags.team = \"vision\"", ["baseline"]),
    ("params.opt != 'adam'", ["Crashed"]),  # a run without the key never matches
    ("tags.`my tag` LIKE 'x%'", ["Crashed"]),
    ('tags."my tag" = \'x y\'', ["Crashed"]),
    ("attributes.run_name ILIKE 'c%'", ["Crashed"]),
    ("attributes.run_name LIKE 'c%'", []),
    ("attributes.status IN ('FAILED', 'KILLED')", ["Crashed"]),
    ("attribute.status NOT IN ('FAILED')", ["baseline", "worse"]),
    ("tags.team IS NULL", ["Crashed", "worse"]),
    ("tags.team IS NOT NULL", ["baseline"]),
    ("run_name = 'worse'", ["worse"]),
    ("params.lr = 'it''s'", []),
])
def test_filters_select_rows(text: str, expected: list[str]) -> None:
    assert names(select(ROWS, parse_filter(text), get)) == expected


@pytest.mark.parametrize("text", [
    "metrics.loss <", "metrics.loss < 'a'", "bogus.x = 1", "metrics.loss = 1 OR x = 2",
    "params.lr IN 'a'", "params.lr LIKE 3", "tags.x IS 3", "metrics.loss ~ 2", "'a' = 'b'",
    "params.lr = 'unterminated", "metrics. = 1", "x" * 10_001,
])
def test_bad_filters_are_invalid_parameter_values(text: str) -> None:
    with pytest.raises(MlflowError) as info:
        parse_filter(text)
    assert info.value.code == "INVALID_PARAMETER_VALUE" and info.value.status == 400


def test_order_by_puts_missing_keys_last_either_way() -> None:
    assert names(order(list(ROWS), parse_order(["metrics.loss DESC"]), get)) == \
        ["Crashed", "worse", "baseline"]  # NaN sorts above every number
    assert names(order(list(ROWS), parse_order(["metrics.acc"]), get)) == \
        ["baseline", "Crashed", "worse"]
    by_two = parse_order(["params.lr ASC", "attributes.run_name DESC"])
    assert names(order(list(ROWS), by_two, get)) == ["worse", "baseline", "Crashed"]
    with pytest.raises(MlflowError):
        parse_order(["metrics.loss SIDEWAYS"])


def test_clauses_are_parsed_with_their_values() -> None:
    assert parse_filter("metrics.`val loss` <= -1.5e2") == [
        Clause("metric", "val loss", "<=", -150.0)]
    assert parse_filter("tags.x IN ('a', \"b\")") == [Clause("tag", "x", "IN", ("a", "b"))]
