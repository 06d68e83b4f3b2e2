"""The store's logged models (MLflow 3's ``log_model``): a model of a run, its params and
tags, its status, and that it goes with its run."""

from __future__ import annotations

import pytest

from traindeck.store import InvalidInput, NotFound, Store


def test_a_model_is_kept_updated_listed_and_deleted_with_its_run(store: Store) -> None:
    run = store.create_run(project="p")
    other = store.create_run(project="q")
    model = store.create_logged_model(project="p", run_id=run.id, name="net",
                                      params={"lr": "0.1"}, tags={"k": "v"})
    assert model.status == "pending" and model.folder == f"models/{model.id}"
    assert store.get_logged_model(model.id) == model
    store.create_logged_model(project="q", run_id=other.id, name="other")
    changed = store.update_logged_model(model.id, status="ready", params={"depth": "2"},
                                        tags={"k": "w", "x": "y"}, drop_tags=["x"])
    assert changed.status == "ready" and changed.tags == {"k": "w"}
    assert changed.params == {"lr": "0.1", "depth": "2"}
    assert [m.id for m in store.list_logged_models(projects=["p"])] == [model.id]
    assert [m.name for m in store.list_logged_models(run_id=other.id)] == ["other"]
    assert store.list_logged_models(projects=[]) == []

    with pytest.raises(InvalidInput):
        store.update_logged_model(model.id, status="done")
    with pytest.raises(InvalidInput):
        store.create_logged_model(project="p", run_id=run.id, name="")
    with pytest.raises(InvalidInput):
        store.create_logged_model(project="p", run_id=run.id, name="n", params={"k": "v" * 9000})
    with pytest.raises(NotFound):
        store.create_logged_model(project="p", run_id="nope", name="n")
    with pytest.raises(NotFound):
        store.get_logged_model("../x")

    store.set_status(run.id, "completed")
    store.delete_run(run.id)  # its models go with it
    with pytest.raises(NotFound):
        store.get_logged_model(model.id)
    assert [m.name for m in store.list_logged_models()] == ["other"]
    store.delete_logged_model(store.list_logged_models()[0].id)
    assert store.list_logged_models() == []
