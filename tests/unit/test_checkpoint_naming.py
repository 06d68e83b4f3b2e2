"""Checkpoint names: one regex reads new (padded) and old (unpadded) names; sorting by the
parsed step, never by the string."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traindeck.checkpoints import (
    DEFAULT_TEMPLATE,
    EXTENSIONS,
    NAME_RE,
    ParsedName,
    format_name,
    parse_name,
    sort_by_step,
)

suffixes = st.one_of(st.none(), st.sampled_from(["_best", "_emergency", "_final"]),
                     st.from_regex(r"_[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True))
exts = st.sampled_from([*EXTENSIONS, ""])


@given(step=st.integers(0, 10**12), suffix=suffixes, ext=exts)
def test_format_then_parse_gives_back_step_suffix_and_ext(step: int, suffix: str | None,
                                                           ext: str) -> None:
    name = format_name(step, suffix, ext=ext)
    assert parse_name(name) == ParsedName(step, suffix, ext)
    assert parse_name(Path("/some/where") / name) == ParsedName(step, suffix, ext)


@given(step=st.integers(0, 10**9), suffix=suffixes)
def test_unpadded_old_names_parse(step: int, suffix: str | None) -> None:
    assert parse_name(f"checkpoint_step_{step}{suffix or ''}.pth") == (step, suffix, ".pth")


def test_default_template_pads_to_seven_digits() -> None:
    assert DEFAULT_TEMPLATE == "checkpoint_step_{step:07d}{suffix}{ext}"
    assert format_name(1234) == "checkpoint_step_0001234.pth"
    assert format_name(4144, "_emergency") == "checkpoint_step_0004144_emergency.pth"
    assert format_name(4144, "emergency") == "checkpoint_step_0004144_emergency.pth"
    assert format_name(7, ext=".safetensors") == "checkpoint_step_0000007.safetensors"
    assert format_name(7, ext="") == "checkpoint_step_0000007"  # a folder
    assert NAME_RE.pattern  # one compiled regex, exported


@pytest.mark.parametrize("name", [
    "checkpoint_step_.pth", "checkpoint_step_12.pth.json", ".checkpoint_step_12.pth.tmp-1-ab",
    "model_12.pth", "checkpoint_step_-1.pth", "checkpoint_step_12.txt", "checkpoint_emergency.pth",
])
def test_other_names_do_not_parse(name: str) -> None:
    assert parse_name(name) is None


def test_kind_from_suffix() -> None:
    assert parse_name("checkpoint_step_5_best.pt").kind == "best"  # type: ignore[union-attr]
    assert parse_name("checkpoint_step_5.pt").kind == "regular"  # type: ignore[union-attr]
    assert parse_name("checkpoint_step_5_x.pt").kind == "regular"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_format_rejects_bad_steps(bad: object) -> None:
    with pytest.raises(ValueError):
        format_name(bad)  # type: ignore[arg-type]


def test_sort_by_step_is_not_string_sort() -> None:
    names = ["checkpoint_step_100.pth", "checkpoint_step_99.pth", "checkpoint_step_0000050.pt",
             "checkpoint_step_0001000_emergency.pth", "notes.txt", "checkpoint_step_100.pth.json",
             "checkpoint_step_0000100_best.pth"]
    ordered = sort_by_step(names)
    assert ordered == ["checkpoint_step_0000050.pt", "checkpoint_step_99.pth",
                       "checkpoint_step_100.pth", "checkpoint_step_0000100_best.pth",
                       "checkpoint_step_0001000_emergency.pth"]
    assert ordered != sorted(n for n in names if parse_name(n) is not None)
    assert sort_by_step(names, descending=True)[0] == "checkpoint_step_0001000_emergency.pth"
    paths = [Path("/x") / n for n in names]
    assert sort_by_step(paths)[0] == Path("/x/checkpoint_step_0000050.pt")


@given(st.lists(st.tuples(st.integers(0, 10**8), st.booleans()), max_size=30))
def test_sort_by_step_orders_mixed_old_and_new_names(items: list[tuple[int, bool]]) -> None:
    names = [format_name(s) if padded else f"checkpoint_step_{s}.pth" for s, padded in items]
    steps = [parse_name(n).step for n in sort_by_step(names)]  # type: ignore[union-attr]
    assert steps == sorted(s for s, _ in items)


def test_custom_template_round_trips() -> None:
    template = "ckpt-{step}{suffix}{ext}"
    name = format_name(42, "_best", template, ".ckpt")
    assert name == "ckpt-42_best.ckpt"
    assert parse_name(name, template) == (42, "_best", ".ckpt")
    assert parse_name("checkpoint_step_0000042.pth", template) is None
    assert sort_by_step(["ckpt-10.pt", "ckpt-9.pt"], template=template) == ["ckpt-9.pt",
                                                                          "ckpt-10.pt"]
