"""The run table's query language, sort and column ids (``traindeck.store.run_query``):
every operator and field, quoting, errors naming their position, and a fuzz: any text
parses or fails with ``InvalidInput``, never anything else."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traindeck.store import InvalidInput
from traindeck.store.run_query import (
    Column,
    Compare,
    FieldTerm,
    QueryError,
    SortKey,
    Text,
    config_key_id,
    parse_columns,
    parse_group_by,
    parse_query,
    parse_sort,
)


def one(q: str) -> object:
    terms = parse_query(q).terms
    assert len(terms) == 1, terms
    return terms[0]


def error_at(fn: object, text: str) -> tuple[int, str]:
    with pytest.raises(QueryError) as info:
        fn(text)  # type: ignore[operator]
    return info.value.position, str(info.value)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "=", "!="])
def test_every_comparison_operator(op: str) -> None:
    term = one(f"config:optim.lr{op}0.01")
    assert term == Compare(Column("config", "optim.lr", "config:optim.lr",
                                  path=("optim", "lr")), op, 0.01, "0.01")


def test_longest_operator_wins_and_values_keep_their_type() -> None:
    assert one("x>=-3") == Compare(Column("bare", "x", "x", path=("x",)), ">=", -3, "-3")
    term = one("metric:val/acc:max>1e-3")
    assert isinstance(term, Compare)
    assert term.column == Column("metric", "val/acc", "metric:val/acc:max", agg="max")
    assert term.value == 0.001
    flag = one("config:use_amp=true")
    assert isinstance(flag, Compare) and flag.value is True
    text = one("optimizer=adam")
    assert isinstance(text, Compare) and text.value == "adam"
    quoted = one('batch="32"')
    assert isinstance(quoted, Compare) and quoted.value == "32"
    nan = one("loss=nan")
    assert isinstance(nan, Compare) and math.isnan(float(nan.value))
    inf = one("loss<-inf")
    assert isinstance(inf, Compare) and inf.value == -math.inf


def test_metric_columns_take_an_aggregate_and_default_to_last() -> None:
    assert parse_columns("metric:loss") == [Column("metric", "loss", "metric:loss")]
    assert parse_columns("metric:a:b:min,metric:x:last") == [
        Column("metric", "a:b", "metric:a:b:min", agg="min"),
        Column("metric", "x", "metric:x:last")]
    # a key that ends like an aggregate, quoted, stays whole
    assert parse_columns('metric:"loss:min"') == [
        Column("metric", "loss:min", 'metric:"loss:min"')]


def test_fields_words_and_quotes() -> None:
    q = parse_query('status:running,paused tag:"big model" project:p name:bert '
                    'name:~^b.*t$ "two words" plain')
    assert q.terms == (
        FieldTerm("status", ("running", "paused")),
        FieldTerm("tag", ("big model",)),
        FieldTerm("project", ("p",)),
        FieldTerm("name", ("bert",)),
        FieldTerm("name", ("^b.*t$",), regex=True),
        Text("two words"),
        Text("plain"),
    )
    assert q.projects == ("p",)
    # escapes inside quotes; an operator inside quotes is text
    assert one(r'"a \"b\" \\ c<3"') == Text('a "b" \\ c<3')
    assert one('"val acc">0.5') == Compare(
        Column("bare", "val acc", '"val acc"', path=("val acc",)), ">", 0.5, "0.5")
    assert one('x="a b=c"') == Compare(Column("bare", "x", "x", path=("x",)), "=",
                                       "a b=c", "a b=c")


def test_config_paths_split_on_unquoted_dots() -> None:
    assert parse_columns('config:a."b.c".d')[0].path == ("a", "b.c", "d")
    assert parse_columns("config:optim.lr")[0].path == ("optim", "lr")
    for path in [("a",), ("a", "b.c"), ("x y", "z"), ("-lead",), ("k,v",), ("a=b",)]:
        cid = "config:" + config_key_id(path)
        assert parse_columns(cid)[0].path == path, cid


def test_sort_directions_and_the_older_order_parameter() -> None:
    created = Column("builtin", "created_at", "created_at")
    assert parse_sort(None) == [SortKey(created, True)]
    assert parse_sort(None, "asc") == [SortKey(created, False)]
    assert parse_sort("-metric:val/acc:last, config:lr,name") == [
        SortKey(Column("metric", "val/acc", "metric:val/acc:last"), True),
        SortKey(Column("config", "lr", "config:lr", path=("lr",)), False),
        SortKey(Column("builtin", "name", "name"), False)]
    assert parse_sort("name", "desc") == [SortKey(Column("builtin", "name", "name"), True)]
    assert parse_sort("-name", "asc") == [SortKey(Column("builtin", "name", "name"), True)]
    assert parse_sort("name,step", "desc")[0].descending is False


def test_group_by() -> None:
    assert parse_group_by("status") == Column("builtin", "status", "status")
    assert parse_group_by("tag") == Column("builtin", "tag", "tag")
    assert parse_group_by("config:optim.name").path == ("optim", "name")
    for bad in ("name", "metric:loss", "", "config:"):
        with pytest.raises(InvalidInput):
            parse_group_by(bad)


@pytest.mark.parametrize(("q", "position", "words"), [
    ('name:"open', 5, "unclosed quote"),
    ("lr<0.1 status:walking", 7, "unknown status 'walking'"),
    ("a b >3", 4, "column is missing"),
    ("lr<", 3, "value is missing"),
    ("metric:loss>abc", 0, "is a number"),
    ("step=true", 0, "is a number"),
    ("flag<true", 0, "= or != only"),
    ("loss>nan", 0, "nan compares"),
    ("metric:loss:min=nan", 0, "never nan"),
    ("x name:~(unclosed", 2, "bad regular expression"),
    ("name:~^(a+)+$", 0, "is refused"),
    ("  stauts:running", 2, "unknown field 'stauts'"),
    ("metric:loss", 0, "needs a comparison"),
    ("config:a..b=1", 9, "empty part"),
    ("status=bogus", 0, "unknown status"),
    ("tags=x", 0, "tag:NAME"),
    ("config:=3", 0, "needs a key"),
])
def test_query_errors_name_their_position(q: str, position: int, words: str) -> None:
    at, message = error_at(parse_query, q)
    assert (at, words in message) == (position, True), message
    assert message.startswith(f"bad query at position {position}: ")


@pytest.mark.parametrize(("text", "position", "words"), [
    ("name,,step", 5, "column is missing"),
    ("name,pid", 5, "unknown column 'pid'"),
    ("name, -tags", 6, "cannot sort by tags"),
    ("metric:", 0, "needs a key"),
    ('config:"a', 7, "unclosed quote"),
])
def test_sort_errors_name_their_position(text: str, position: int, words: str) -> None:
    at, message = error_at(parse_sort, text)
    assert (at, words in message) == (position, True), message


def test_columns_errors() -> None:
    assert "'-' belongs in sort" in error_at(parse_columns, "name,-step")[1]
    assert "double quote" in error_at(parse_columns, r'config:"a\"b"')[1]
    assert parse_columns("tags, step")[1] == Column("builtin", "step", "step")
    with pytest.raises(InvalidInput, match="at most 200 columns"):
        parse_columns(",".join(["step"] * 201))
    with pytest.raises(InvalidInput, match="at most 64 terms"):
        parse_query(" ".join(["w"] * 65))


ALPHABET = st.sampled_from([*'abz09 .,:"\\<>=!~-_/()[]*+?^$', "nan", "inf", "status:",
                            "metric:", "config:", "name:~", "tag:", "é"])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_any_text_parses_or_is_invalid_input(text: str) -> None:
    for fn in (parse_query, parse_sort, parse_columns, parse_group_by):
        try:
            fn(text)
        except InvalidInput as exc:
            assert "position" in str(exc) or "at most" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_unicode_parses_or_is_invalid_input(text: str) -> None:
    for fn in (parse_query, parse_sort, parse_columns):
        try:
            fn(text)
        except InvalidInput:
            pass
