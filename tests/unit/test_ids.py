"""Run ids: short, URL-safe, sorted by creation time."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from traindeck.store.ids import is_valid_id, new_id

ID_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{16}$")


def test_shape() -> None:
    ids = {new_id() for _ in range(1_000)}
    assert len(ids) == 1_000
    assert all(ID_RE.match(i) for i in ids)
    assert all(is_valid_id(i) for i in ids)


@given(a=st.floats(0, 2e11), b=st.floats(0, 2e11))
def test_ids_sort_by_creation_time(a: float, b: float) -> None:
    if int(a * 1000) < int(b * 1000):
        assert new_id(a) < new_id(b)
    elif int(a * 1000) > int(b * 1000):
        assert new_id(a) > new_id(b)
    else:
        assert new_id(a)[:10] == new_id(b)[:10]


def test_known_prefix() -> None:
    assert new_id(0.0).startswith("0000000000")
    assert new_id(0.032).startswith("0000000010")  # 32 ms = "10" in base 32


def test_user_ids() -> None:
    for ok in ("a", "my-run_1.2", "X" * 64, "0"):
        assert is_valid_id(ok), ok
    for bad in ("", ".hidden", "a b", "a/b", "é", "x" * 65, "a?b", "a#b"):
        assert not is_valid_id(bad), bad
