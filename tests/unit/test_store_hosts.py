"""SSH hosts in the store: added, listed, found, checked, removed; bad records refused."""

from __future__ import annotations

import pytest

from traindeck.store import Conflict, InvalidInput, NotFound, Store
from traindeck.store.hosts import parse_destination


def test_a_host_is_added_listed_and_removed(store: Store) -> None:
    gpu = store.add_host("gpu1", user="ml", address="10.0.0.5", port=2222,
                         key_path="/keys/id_ed25519", workdir="/scratch/td")
    store.add_host("box", user="me", address="box.example.org")
    assert [h.name for h in store.list_hosts()] == ["box", "gpu1"]
    assert store.get_host("gpu1") == gpu
    assert (gpu.port, gpu.key_path, gpu.workdir) == (2222, "/keys/id_ed25519", "/scratch/td")
    box = store.get_host("box")
    assert (box.port, box.key_path, box.workdir) == (22, None, "traindeck")
    with pytest.raises(Conflict, match="exists already"):
        store.add_host("gpu1", user="x", address="h")
    store.remove_host("gpu1")
    with pytest.raises(NotFound, match="hosts add"):
        store.get_host("gpu1")
    with pytest.raises(NotFound):
        store.remove_host("gpu1")


def test_a_check_is_noted(store: Store) -> None:
    store.add_host("h", user="u", address="127.0.0.1")
    assert store.get_host("h").checked_at is None
    bad = store.note_host_check("h", "connection refused")
    assert bad.check_error == "connection refused" and bad.checked_at is not None
    assert store.note_host_check("h", None).check_error is None


@pytest.mark.parametrize("fields, message", [
    ({"name": "../x"}, "not a host name"),
    ({"name": ""}, "not a host name"),
    ({"user": "a b"}, "not a user name"),
    ({"address": "h;rm -rf /"}, "not a host address"),
    ({"port": 0}, "1..65535"),
    ({"port": 70000}, "1..65535"),
    ({"key_path": "a\x00b"}, "NUL"),
    ({"workdir": ""}, "empty"),
])
def test_bad_records_are_refused_and_nothing_is_kept(store: Store, fields: dict[str, object],
                                                     message: str) -> None:
    record: dict[str, object] = {"name": "h", "user": "u", "address": "127.0.0.1", **fields}
    name = record.pop("name")
    with pytest.raises(InvalidInput, match=message):
        store.add_host(name, **record)  # type: ignore[arg-type]
    assert store.list_hosts() == []


def test_destinations_parse_like_ssh() -> None:
    assert parse_destination("ml@10.0.0.5") == ("ml", "10.0.0.5", 22)
    assert parse_destination("ml@gpu.example:2222") == ("ml", "gpu.example", 2222)
    assert parse_destination("ml@[::1]:2200") == ("ml", "::1", 2200)
    assert parse_destination("ml@[fe80::1]") == ("ml", "fe80::1", 22)
    for bad in ("gpu.example", "@h", "u@h:x", "u@[::1]x"):
        with pytest.raises(InvalidInput):
            parse_destination(bad)
