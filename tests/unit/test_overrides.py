"""Overrides in the Hydra grammar: typed values, dotted paths, add/remove/force, and an error
quoting the override for each way one can be wrong."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traindeck.launch.overrides import (
    OverrideError,
    apply_overrides,
    load_yaml,
    parse_override,
    parse_value,
)
from traindeck.store import InvalidInput

BASE: dict[str, Any] = {"lr": 0.1, "steps": 100, "name": "run",
                        "optim": {"name": "adam", "betas": [0.9, 0.99]}, "layers": [64, 64]}


@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", 0.001), ("1.5", 1.5), (".5", 0.5), ("-2", -2), ("1_000", 1000), ("007", 7),
    ("inf", math.inf), ("-inf", -math.inf), ("true", True), ("False", False), ("null", None),
    ("[64, 64]", [64, 64]), ("[a, 'b', 1e-3, null]", ["a", "b", 0.001, None]),
    ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}), ("'1'", "1"), ('"true"', "true"),
    ("my run", "my run"), ("", ""), ("yes", "yes"), ("2024-01-01", "2024-01-01"),
    ("a: b", "a: b"), ("x #y", "x #y"), ("a=b", "a=b"), ("  padded ", "padded"),
])
def test_values_are_typed_like_hydra(text: str, value: Any) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_nan_is_a_float() -> None:
    assert math.isnan(parse_value("nan"))


def test_set_add_force_and_remove() -> None:
    out = apply_overrides(BASE, ["lr=1e-3", "optim.name=sgd", "optim.betas.1=0.5",
                                 "+optim.wd=0.01", "++seed=3", "++steps=5", "~name",
                                 "layers=[128]", "+a.b.c=1"])
    assert out == {"lr": 0.001, "steps": 5, "seed": 3, "layers": [128], "a": {"b": {"c": 1}},
                   "optim": {"name": "sgd", "betas": [0.9, 0.5], "wd": 0.01}}
    assert BASE["optim"]["betas"] == [0.9, 0.99]  # the defaults are left alone


def test_remove_with_a_value_checks_it() -> None:
    assert "lr" not in apply_overrides(BASE, ["~lr=0.1"])
    with pytest.raises(OverrideError, match=r"it is 0\.1, not 0\.2"):
        apply_overrides(BASE, ["~lr=0.2"])


@pytest.mark.parametrize(("override", "message", "path"), [
    ("nope=1", "unknown key 'nope'; use +nope=VALUE to add it", ("nope",)),
    ("optim.nope=1", "unknown key 'optim.nope'; use +optim.nope=VALUE", ("optim", "nope")),
    ("x.y=1", "unknown key 'x.y'", ("x", "y")),
    ("+lr=1", "key 'lr' already exists; use lr=VALUE to change it", ("lr",)),
    ("~nope", "cannot remove 'nope': no such key", ("nope",)),
    ("lr", "no value: write lr=VALUE", ("lr",)),
    ("+lr", "no value", ("lr",)),
    ("=1", "no key", ()),
    ("a..b=1", "is not a key", ()),
    ("lr.x=1", "lr is a number, not a mapping", ("lr",)),
    ("optim.betas.5=1", "index 5 is past the end of optim.betas (2 items)",
     ("optim", "betas", 5)),
    ("optim.betas.x=1", "optim.betas is a list: index it with a number",
     ("optim", "betas", "x")),
    ("+layers.2=1", "set the whole list (layers=[...])", ("layers", 2)),
    ("lr=[1,", "cannot parse value '[1,'", ()),
    ("lr={1: a}", "mapping keys must be strings", ()),
])
def test_each_error_quotes_the_override(override: str, message: str,
                                        path: tuple[str | int, ...]) -> None:
    with pytest.raises(OverrideError) as caught:
        apply_overrides(BASE, [override])
    assert message in str(caught.value)
    assert str(caught.value).startswith(repr(override))
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.path == path


def test_a_failing_override_leaves_the_config_unchanged() -> None:
    config = json.loads(json.dumps(BASE))
    with pytest.raises(OverrideError):
        apply_overrides(config, ["lr.x.y=1"])
    assert config == BASE


def test_parse_names_the_operation() -> None:
    assert parse_override("++a.b=1")[:3] == ("++a.b=1", "force", ("a", "b"))
    assert parse_override("~x").op == "delete" and not parse_override("~x").has_value
    assert parse_override("+l.0=1").path == ("l", 0)


def test_config_files_are_typed_the_same_way() -> None:
    assert load_yaml("a:\n  b: 1e-3\n  c:\n  d: yes\n  e: 2024-01-01\n  f: [1, x]\n") == {
        "a": {"b": 0.001, "c": None, "d": "yes", "e": "2024-01-01", "f": [1, "x"]}}


# -- properties ----------------------------------------------------------------------------

KEY = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
SCALAR = (st.none() | st.booleans() | st.integers()
          | st.floats(allow_nan=False, allow_infinity=False)
          | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                    max_size=20))
JSON_VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(KEY, inner, max_size=4), max_leaves=10)


@given(key=KEY, value=JSON_VALUE)
def test_setting_a_json_value_reads_it_back(key: str, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    out = apply_overrides({key: "old"}, [f"{key}={text}"])
    assert out[key] == value


@given(keys=st.lists(KEY, min_size=1, max_size=4), raw=st.text(max_size=30))
def test_set_then_read_gives_the_parsed_value(keys: list[str], raw: str) -> None:
    try:
        expected = parse_value(raw)
    except OverrideError:
        return
    config: dict[str, Any] = {}
    node = config
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = 0
    out = apply_overrides(config, [f"{'.'.join(keys)}={raw}"])
    for k in keys:
        out = out[k]
    assert out == expected or (isinstance(expected, float) and math.isnan(expected))


@given(key=KEY, value=JSON_VALUE)
def test_add_then_remove_is_a_no_op(key: str, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert apply_overrides({}, [f"+{key}={text}", f"~{key}"]) == {}


@pytest.mark.parametrize("override", [
    "a=" + "9" * 5000,                              # past Python's integer digits limit
    "a=[" + "9" * 5000 + "]",
    "a=" + "[" * 3000 + "]" * 3000,                 # nesting that would recurse away
    "a=" + "[" * 40 + "]" * 40,                     # past the nesting allowed
    "+" + ".".join(["z"] * 3000) + "=1",            # a key of 3,000 parts
    # A YAML alias bomb: each level repeats the one before (billions of elements).
    "a=[&l0 [1,1,1,1,1,1,1,1,1], &l1 [*l0,*l0,*l0,*l0,*l0,*l0,*l0,*l0,*l0], *l1]",
])
def test_strange_overrides_are_refused_not_crashes(override: str) -> None:
    with pytest.raises(OverrideError):
        apply_overrides({"a": 1}, [override])


def test_a_non_ascii_digit_is_a_key_not_an_index() -> None:
    assert apply_overrides({"a": {}}, ["+a.\u00b2=1"]) == {"a": {"\u00b2": 1}}
