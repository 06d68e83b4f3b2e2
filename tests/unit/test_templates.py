"""Templates folders on disk: loading, the schema inferred from the defaults, each way a
template can be broken (a clear ``InvalidInput`` naming it), ``add``, and ``resolve``
(presets, overrides, every schema error with its JSON path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from traindeck.launch.schema import infer_schema, json_path
from traindeck.launch.templates import ConfigError, Templates, resolve
from traindeck.store import Conflict, InvalidInput, NotFound

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {"type": "integer", "minimum": 1},
        "width": {"type": "integer", "maximum": 512},
        "act": {"enum": ["relu", "tanh"]},
        "optim": {"type": "object", "properties": {"lr": {"type": "number",
                                                          "exclusiveMinimum": 0}},
                  "required": ["lr"], "additionalProperties": False},
    },
    "required": ["steps"],
    "additionalProperties": False,
}
DEFAULTS: dict[str, Any] = {"steps": 1000, "width": 64, "act": "relu", "optim": {"lr": 0.1}}


def make(root: Path, name: str, spec: Any, files: dict[str, str] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec)
    (folder / "traindeck.yaml").write_text(text)
    for rel, content in (files or {}).items():
        (folder / rel).write_text(content)
    return folder


def mlp(root: Path, **spec: Any) -> Path:
    return make(root, "mlp", {"command": "python train.py --tag 'a b'", "config": "config.yaml",
                              "schema": "schema.json",
                              "presets": {"small": ["width=8", "steps=200"]},
                              "estimate": "estimate:params", "description": "An MLP.\n",
                              **spec},
                {"config.yaml": yaml.safe_dump(DEFAULTS), "schema.json": json.dumps(SCHEMA)})


def test_a_template_loads_with_its_parts(tmp_path: Path) -> None:
    folder = mlp(tmp_path)
    t = Templates(tmp_path).get("mlp")
    assert t.name == "mlp" and t.folder == folder
    assert t.command == ["python", "train.py", "--tag", "a b"]
    assert t.config == DEFAULTS and t.schema == SCHEMA and not t.schema_inferred
    assert t.presets == {"small": ["width=8", "steps=200"]}
    assert t.estimate == "estimate:params" and t.description == "An MLP." and not t.hydra
    assert [x.name for x in Templates(tmp_path).list()] == ["mlp"]


def test_the_smallest_template_has_an_inline_config_and_an_inferred_schema(
        tmp_path: Path) -> None:
    make(tmp_path, "tiny", {"command": ["python", "-c", "pass"], "hydra": True,
                            "config": {"lr": 0.1, "steps": 10, "amp": False, "name": "x",
                                       "layers": [64, 64], "mixed": [1, 0.5], "opt": {"b": 1},
                                       "none": None}})
    t = Templates(tmp_path).get("tiny")
    assert t.schema_inferred and t.hydra
    assert t.schema == {
        "type": "object", "additionalProperties": False,
        "properties": {"lr": {"type": "number"}, "steps": {"type": "integer"},
                       "amp": {"type": "boolean"}, "name": {"type": "string"},
                       "layers": {"type": "array", "items": {"type": "integer"}},
                       "mixed": {"type": "array", "items": {"type": "number"}},
                       "opt": {"type": "object", "properties": {"b": {"type": "integer"}},
                               "additionalProperties": False},
                       "none": {}}}
    r = resolve(t, ["steps=1.5", "+extra=1", "opt.b=x", "none=[1]", "layers=[1, a]"], None)
    assert r.errors == [
        ConfigError("$.extra", "unknown key 'extra'"),
        ConfigError("$.layers[1]", "'a' is not of type 'integer'"),
        ConfigError("$.opt.b", "'x' is not of type 'integer'"),
        ConfigError("$.steps", "1.5 is not of type 'integer'"),
    ]


def test_an_inferred_schema_lets_an_int_default_stay_an_int() -> None:
    assert infer_schema({"a": 1})["properties"]["a"] == {"type": "integer"}
    assert json_path(["a", 0, "b c"]) == "$.a[0]['b c']"


def test_resolve_applies_the_preset_then_the_overrides(tmp_path: Path) -> None:
    mlp(tmp_path)
    t = Templates(tmp_path).get("mlp")
    r = resolve(t, ["width=16"], "small")
    assert r.valid and r.errors == []
    assert r.config == {**DEFAULTS, "steps": 200, "width": 16}
    assert r.overrides == ["width=8", "steps=200", "width=16"]
    assert t.config == DEFAULTS


def test_resolve_lists_every_error_with_its_path(tmp_path: Path) -> None:
    mlp(tmp_path)
    t = Templates(tmp_path).get("mlp")
    r = resolve(t, ["steps=0", "width=1024", "act=gelu", "optim.lr=x", "nope=1", "+extra=2",
                    "~optim.lr", "~steps", "lr=[1,"], "huge")
    assert not r.valid
    assert r.errors[0] == ConfigError("$", "unknown preset 'huge' (presets: small)")
    by_path = {e.path: e.message for e in r.errors[1:]}
    assert by_path["$.nope"] == "'nope=1': unknown key 'nope'; use +nope=VALUE to add it"
    assert "cannot parse value" in by_path["$"]
    assert by_path["$.extra"] == "unknown key 'extra'"
    assert by_path["$.width"] == "1024 is greater than the maximum of 512"
    assert by_path["$.act"] == "'gelu' is not one of ['relu', 'tanh']"
    assert by_path["$.steps"] == "required key missing"
    assert by_path["$.optim.lr"] == "required key missing"
    # steps=0 was applied, then removed: only the missing key is reported for it
    assert r.overrides[-1] == "lr=[1,"


def test_a_wrong_value_at_an_existing_key_is_reported(tmp_path: Path) -> None:
    mlp(tmp_path)
    errors = resolve(Templates(tmp_path).get("mlp"), ["steps=0", "optim.lr=-1"], None).errors
    assert errors == [ConfigError("$.optim.lr", "-1 is less than or equal to the minimum of 0"),
                      ConfigError("$.steps", "0 is less than the minimum of 1")]


BROKEN: list[tuple[Any, dict[str, str], str]] = [
    ("command: [unclosed", {}, "traindeck.yaml is not valid YAML"),
    ("- a list", {}, "traindeck.yaml must be a mapping"),
    ({"config": {}}, {}, "traindeck.yaml has no command"),
    ({"command": ""}, {}, "command is empty"),
    ({"command": "python 'x"}, {}, "No closing quotation"),
    ({"command": [1, {"a": 1}]}, {}, "command must be a string or a list"),
    ({"command": "x", "comand": "y"}, {}, "unknown keys comand"),
    ({"command": "x", "config": "missing.yaml"}, {}, "config file 'missing.yaml' does not exist"),
    ({"command": "x", "config": "../outside.yaml"}, {}, "outside the template's folder"),
    ({"command": "x", "config": "c.yaml"}, {"c.yaml": "- 1\n- 2\n"}, "config must be a mapping"),
    ({"command": "x", "config": "c.json"}, {"c.json": "{nope"}, "c.json is not valid JSON"),
    ({"command": "x", "config": {1: "a"}}, {}, "key 1 at $ is not a string"),
    ({"command": "x", "config": {"a": 1}, "schema": {"type": "nope"}}, {},
     "schema is not a valid JSON Schema"),
    ({"command": "x", "config": {"a": 1}, "schema": "s.json"}, {"s.json": '{"minimum": "x"}'},
     "schema is not a valid JSON Schema"),
    ({"command": "x", "config": {"a": 1}, "presets": {"big": ["b=2"]}}, {},
     "preset 'big': 'b=2': unknown key 'b'"),
    ({"command": "x", "presets": {"big": "a=2"}}, {}, "must be a list of overrides"),
    ({"command": "x", "presets": ["a=1"]}, {}, "presets must be a mapping"),
    ({"command": "x", "estimate": "no-colon"}, {}, "estimate must be module:function"),
    ({"command": "x", "hydra": "yes"}, {}, "hydra must be true or false"),
]


@pytest.mark.parametrize(("spec", "files", "message"), BROKEN)
def test_a_broken_template_says_what_is_wrong(tmp_path: Path, spec: Any,
                                              files: dict[str, str], message: str) -> None:
    make(tmp_path / "t", "bad", spec, files)
    (tmp_path / "t" / "outside.yaml").write_text("a: 1\n")
    templates = Templates(tmp_path / "t")
    with pytest.raises(InvalidInput) as caught:
        templates.get("bad")
    assert str(caught.value).startswith("template 'bad': ")
    assert message in str(caught.value)
    assert templates.list() == []
    assert templates.scan()[1] == [("bad", str(caught.value))]


def test_a_folder_without_traindeck_yaml(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match=r"no traindeck\.yaml"):
        Templates(tmp_path).get("empty")
    assert Templates(tmp_path).scan() == ([], [])  # not a template: not listed


@pytest.mark.parametrize("name", ["nope", "../etc", ".hidden", "a/b", ""])
def test_unknown_names_are_not_found(tmp_path: Path, name: str) -> None:
    with pytest.raises(NotFound):
        Templates(tmp_path).get(name)


def test_a_missing_folder_holds_no_templates(tmp_path: Path) -> None:
    assert Templates(tmp_path / "none").list() == []


def test_add_copies_a_checked_template(tmp_path: Path) -> None:
    source = mlp(tmp_path / "src")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"x")
    templates = Templates(tmp_path / "templates")
    added = templates.add(source)
    assert added.name == "mlp" and added.folder == tmp_path / "templates" / "mlp"
    assert (added.folder / "schema.json").exists()
    assert not (added.folder / "__pycache__").exists()
    assert templates.add(source, name="mlp2").name == "mlp2"
    with pytest.raises(Conflict, match="already exists"):
        templates.add(source)
    assert [t.name for t in templates.list()] == ["mlp", "mlp2"]


def test_add_refuses_a_broken_template_and_creates_nothing(tmp_path: Path) -> None:
    source = make(tmp_path / "src", "bad", {"config": {}})
    templates = Templates(tmp_path / "templates")
    with pytest.raises(InvalidInput, match="no command"):
        templates.add(source)
    with pytest.raises(InvalidInput, match="not a template name"):
        templates.add(source, name="../x")
    with pytest.raises(InvalidInput, match="not a folder"):
        templates.add(tmp_path / "nowhere")
    assert not (tmp_path / "templates").exists()


def test_add_keeps_links_inside_and_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    source = make(tmp_path / "src", "linked", {"command": "python train.py", "config": {}})
    (source / "train.py").write_text("print('hi')\n")
    (source / "alias.py").symlink_to("train.py")
    templates = Templates(tmp_path / "templates")
    added = templates.add(source)
    assert (added.folder / "alias.py").is_symlink()
    assert (added.folder / "alias.py").read_text() == "print('hi')\n"
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY")
    (source / "key").symlink_to(secret)
    with pytest.raises(InvalidInput, match="outside the template's folder"):
        templates.add(source, name="leaky")
    assert not (tmp_path / "templates" / "leaky").exists()
    assert "PRIVATE KEY" not in "".join(
        p.read_text() for p in (tmp_path / "templates").rglob("*") if p.is_file())


def test_the_example_template_loads_and_every_preset_is_valid() -> None:
    from traindeck.launch.estimate import run_estimate

    examples = Path(__file__).resolve().parents[2] / "examples" / "templates"
    t = Templates(examples).get("numpy_mlp")
    assert t.command == ["python", "train.py"] and not t.schema_inferred
    for preset in t.presets:
        assert resolve(t, [], preset).valid, preset
    assert resolve(t, ["width=0"], "small").errors == [
        ConfigError("$.width", "0 is less than the minimum of 1")]
    assert t.estimate is not None
    result = run_estimate(t.folder, t.estimate, resolve(t, [], "small").config)
    assert result.ok and result.value is not None and result.value["params"] == 371


def test_remote_settings_load_with_datasets_as_absolute_folders(tmp_path: Path) -> None:
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    mlp(tmp_path, remote={"datasets": {"mnist": "../data/mnist"}, "exclude": ["*.log"],
                          "results": ["*.npz"], "python": "python3.11",
                          "setup": "pip install -r requirements.txt", "env": {"HF_HOME": "/x"}})
    t = Templates(tmp_path).get("mlp")
    assert t.remote == {"datasets": {"mnist": str((tmp_path / "data" / "mnist").resolve())},
                        "exclude": ["*.log"], "results": ["*.npz"], "python": "python3.11",
                        "setup": "pip install -r requirements.txt", "env": {"HF_HOME": "/x"}}
    assert Templates(tmp_path).get("mlp").remote["datasets"]["mnist"].startswith("/")


@pytest.mark.parametrize("remote, message", [
    ("ssh please", "remote must be a mapping"),
    ({"datasets": {"x": "nowhere"}}, "no folder"),
    ({"datasets": {"../x": "."}}, "not a dataset name"),
    ({"exclude": "*.log"}, "list of patterns"),
    ({"setup": ""}, "non-empty string"),
    ({"password": "hunter2"}, "unknown keys password"),
    ({"env": {"TRAINDECK_TOKEN": "x"}}, "not a variable it may set"),
    ({"env": ["A=1"]}, "must map variable names"),
])
def test_bad_remote_settings_name_what_is_wrong(tmp_path: Path, remote: Any,
                                                 message: str) -> None:
    mlp(tmp_path, remote=remote)
    with pytest.raises(InvalidInput, match=message):
        Templates(tmp_path).get("mlp")
