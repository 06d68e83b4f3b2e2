"""Project numbers: stable, made with a project's first run (or on their own), ``default``
is 0; what the MLflow API's experiment ids are."""

from __future__ import annotations

import pytest

from traindeck.store import Conflict, InvalidInput, NotFound, Store


def test_a_project_is_numbered_by_its_first_run_and_keeps_its_number(store: Store) -> None:
    assert [(p.id, p.name) for p in store.list_projects()] == [(0, "default")]
    first = store.create_run(project="mnist")
    store.create_run(project="mnist")
    store.create_run(project="cifar")
    mnist = store.find_project("mnist")
    assert store.get_project(mnist.id) == mnist
    assert [p.name for p in store.list_projects()] == ["default", "mnist", "cifar"]
    store.delete_run(first.id)
    assert store.find_project("mnist") == mnist  # the number stays
    moved = store.create_run(project="cifar")
    store.update_run(moved.id, project="imagenet")  # moving a run numbers its new project
    assert store.find_project("imagenet").id > store.find_project("cifar").id


def test_a_project_made_on_its_own(store: Store) -> None:
    made = store.create_project("empty")
    assert store.find_project("empty") == made and made.id > 0
    with pytest.raises(Conflict):
        store.create_project("empty")
    with pytest.raises(Conflict):
        store.create_project("default")
    for bad in ("", "x" * 201):
        with pytest.raises(InvalidInput):
            store.create_project(bad)
    with pytest.raises(NotFound):
        store.get_project(999)
    with pytest.raises(NotFound):
        store.find_project("nope")
    run = store.create_run(project="empty")
    assert store.find_project(run.project) == made
