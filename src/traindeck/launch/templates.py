"""A templates folder: one sub-folder per launchable template (format: ``docs/launch.md``).

A template's folder holds ``traindeck.yaml``::

    command: python train.py          # a string (split like a shell would) or a list
    config: config.yaml               # a YAML/JSON file in the folder, or an inline mapping
    schema: schema.json               # optional: a JSON Schema file, or inline; else inferred
    presets:                          # optional: name -> overrides
      small: ["steps=200", "width=8"]
    estimate: estimate:params         # optional: module:function(config) -> dict
    description: A small MLP          # optional
    hydra: false                      # optional: true passes the overrides on the command line
    remote: {datasets: …, setup: …}   # optional: running elsewhere (remote_settings.py)
    total_steps: trainer.max_steps    # optional: the config key holding the run's total

Templates are read from disk on each call (an edit shows at once). A broken one (no
``traindeck.yaml``, no command, a config that is not a mapping, a schema that is not a JSON
Schema, a preset whose overrides do not apply to the defaults…) raises ``InvalidInput``
naming the template and what is wrong; an unknown name raises ``NotFound``.
:func:`resolve` turns a template, a preset and overrides into the effective config and
every error in it (never raising for a bad override or value).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from traindeck.runfiles import is_inside
from traindeck.store import Conflict, InvalidInput, NotFound

from .overrides import OverrideError, apply_override, apply_overrides, load_yaml
from .remote_settings import RemoteSettingsError, parse_remote
from .schema import ConfigError, check_schema, infer_schema, json_path, validate

__all__ = ["SPEC_FILE", "ConfigError", "Resolved", "Template", "Templates", "resolve"]

#: The file that makes a folder a template.
SPEC_FILE: Final = "traindeck.yaml"
KEYS: Final = ("command", "config", "schema", "presets", "estimate", "description", "hydra",
               "remote", "total_steps")
#: Config keys a run's ``total_steps`` is read from when the template names none.
TOTAL_KEYS: Final = ("total_steps", "max_steps", "steps")
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
HOOK: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
#: Left out when a template is copied in (``Templates.add``).
COPY_IGNORE: Final = ("__pycache__", "*.pyc", ".git", ".venv", "node_modules")


@dataclass(frozen=True)
class Template:
    """One launchable template, loaded and checked."""

    name: str
    folder: Path
    command: list[str]
    config: dict[str, Any]  # the defaults
    schema: dict[str, Any]
    schema_inferred: bool
    presets: dict[str, list[str]]
    estimate: str | None
    hydra: bool
    description: str
    #: How it runs on another machine (``remote_settings``); ``{}``: nothing special.
    remote: dict[str, Any] = field(default_factory=dict)
    #: Config keys (dotted paths) whose first positive integer is the run's total steps.
    total_keys: tuple[str, ...] = TOTAL_KEYS


@dataclass(frozen=True)
class Resolved:
    """A template's effective config for a preset and overrides."""

    config: dict[str, Any]
    overrides: list[str]  # effective: the preset's, then the user's
    errors: list[ConfigError]  # empty: valid

    @property
    def valid(self) -> bool:
        return not self.errors


class _Broken(Exception):
    """What is wrong with a template (becomes ``InvalidInput`` naming it)."""


def _read_data(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise _Broken(f"{path.name} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
                      f": {' '.join(str(exc).split())}") from None


def _file_in(folder: Path, value: str, what: str) -> Path:
    path = folder / value
    if not is_inside(path, folder):
        raise _Broken(f"{what} {value!r} is outside the template's folder")
    if not path.is_file():
        raise _Broken(f"{what} file {value!r} does not exist")
    return path


def _plain(value: Any, where: list[str | int], what: str) -> None:
    """JSON's types only (a YAML int key or a tagged value has no place in a config)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Broken(f"{what}: key {k!r} at {json_path(where)} is not a string")
            _plain(v, [*where, k], what)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _plain(v, [*where, i], what)
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise _Broken(f"{what}: {json_path(where)} holds a {type(value).__name__}")


def _mapping(folder: Path, raw: Any, what: str) -> dict[str, Any]:
    """An inline mapping, or the mapping in a file named by ``raw``."""
    data = _read_data(_file_in(folder, raw, what)) if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        raise _Broken(f"{what} must be a mapping (or the name of a file holding one), "
                      f"not {type(data).__name__}")
    _plain(data, [], what)
    return data


def _command(raw: Any) -> list[str]:
    if raw is None:
        raise _Broken(f"{SPEC_FILE} has no command (e.g. command: python train.py)")
    if isinstance(raw, str):
        try:
            command = shlex.split(raw)
        except ValueError as exc:
            raise _Broken(f"command {raw!r}: {exc}") from None
    elif isinstance(raw, list) and all(isinstance(a, str | int | float) for a in raw):
        command = [str(a) for a in raw]
    else:
        raise _Broken("command must be a string or a list of strings")
    if not command or not command[0]:
        raise _Broken("command is empty")
    return command


def _presets(raw: Any, defaults: dict[str, Any]) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _Broken("presets must be a mapping from a name to a list of overrides")
    presets: dict[str, list[str]] = {}
    for name, overrides in raw.items():
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise _Broken(f"preset {name!r} must be a list of overrides like "
                          "[\"steps=200\", \"width=8\"]")
        try:
            apply_overrides(defaults, overrides)
        except OverrideError as exc:
            raise _Broken(f"preset {name!r}: {exc}") from None
        presets[str(name)] = list(overrides)
    return presets


def load(folder: Path, name: str | None = None) -> Template:
    """The template in ``folder`` (named ``name``, else after the folder); ``InvalidInput``
    saying what is wrong when it is broken."""
    name = name or folder.name
    try:
        return _load(folder, name)
    except _Broken as exc:
        raise InvalidInput(f"template {name!r}: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"template {name!r}: {exc.strerror or exc}"
                           f"{f' ({Path(exc.filename).name})' if exc.filename else ''}") from None


def _load(folder: Path, name: str) -> Template:
    spec_path = folder / SPEC_FILE
    if not spec_path.is_file():
        raise _Broken(f"no {SPEC_FILE} in {folder}")
    spec = _read_data(spec_path)
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise _Broken(f"{SPEC_FILE} must be a mapping (command:, config:, …)")
    unknown = sorted(str(k) for k in spec if k not in KEYS)
    if unknown:
        raise _Broken(f"{SPEC_FILE} has unknown keys {', '.join(unknown)} "
                      f"(known: {', '.join(KEYS)})")
    command = _command(spec.get("command"))
    config = _mapping(folder, spec.get("config") or {}, "config")
    if spec.get("schema") is None:
        schema, inferred = infer_schema(config), True
    else:
        schema, inferred = _mapping(folder, spec["schema"], "schema"), False
        problem = check_schema(schema)
        if problem:
            raise _Broken(f"schema is not a valid JSON Schema: {problem}")
    estimate = spec.get("estimate")
    if estimate is not None and not (isinstance(estimate, str) and HOOK.fullmatch(estimate)):
        raise _Broken(f"estimate must be module:function, not {estimate!r}")
    hydra = spec.get("hydra", False)
    if not isinstance(hydra, bool):
        raise _Broken("hydra must be true or false")
    description = spec.get("description") or ""
    if not isinstance(description, str):
        raise _Broken("description must be a string")
    try:
        remote = parse_remote(spec.get("remote"), folder)
    except RemoteSettingsError as exc:
        raise _Broken(str(exc)) from None
    return Template(name=name, folder=folder, command=command, config=config, schema=schema,
                    schema_inferred=inferred, presets=_presets(spec.get("presets"), config),
                    estimate=estimate, hydra=hydra, description=description.strip(),
                    remote=remote, total_keys=_total_keys(spec, config))


def _total_keys(spec: dict[str, Any], config: dict[str, Any]) -> tuple[str, ...]:
    """``total_steps:`` of a template: a config key (dotted), or null/false for none."""
    if "total_steps" not in spec:
        return TOTAL_KEYS
    key = spec["total_steps"]
    if key is None or key is False:
        return ()
    if not isinstance(key, str) or not key:
        raise _Broken("total_steps must name a config key (e.g. total_steps: "
                      "trainer.max_steps), or be null")
    if _lookup(config, key) is None:
        raise _Broken(f"total_steps names {key!r}, which the config does not have")
    return (key,)


def _lookup(config: dict[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def total_steps(template: Template, config: dict[str, Any]) -> int | None:
    """The steps a run of ``template`` with ``config`` expects: the first of the template's
    total keys that holds a positive integer; None when none does."""
    for key in template.total_keys:
        value = _lookup(config, key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            return value
    return None


class Templates:
    """One templates folder (it need not exist yet: it then holds no template)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if p.is_dir() and NAME.fullmatch(p.name) and (p / SPEC_FILE).exists())

    def scan(self) -> tuple[list[Template], list[tuple[str, str]]]:
        """The templates that load, and ``(name, what is wrong)`` for those that do not."""
        good: list[Template] = []
        broken: list[tuple[str, str]] = []
        for folder in self._folders():
            try:
                good.append(load(folder))
            except InvalidInput as exc:
                broken.append((folder.name, str(exc)))
        return good, broken

    def list(self) -> list[Template]:
        """The templates that load, by name (see :meth:`scan` for the broken ones)."""
        return self.scan()[0]

    def get(self, name: str) -> Template:
        if not NAME.fullmatch(name) or not (self.root / name).is_dir():
            raise NotFound(f"no template {name!r} in {self.root}")
        return load(self.root / name)

    def add(self, source: Path, name: str | None = None) -> Template:
        """Copy the template in ``source`` into the folder as ``name`` (default: the source
        folder's name). Checked first: a broken template (``InvalidInput``) or a name
        already taken (``Conflict``) copies nothing."""
        source = Path(source)
        name = name or source.resolve().name
        if not NAME.fullmatch(name):
            raise InvalidInput(f"{name!r} is not a template name (letters, digits, '.', '_', "
                               "'-'; 100 at most)")
        if not source.is_dir():
            raise InvalidInput(f"{source} is not a folder")
        load(source, name)
        _links_stay_inside(source)
        dest = self.root / name
        if dest.exists():
            raise Conflict(f"a template {name!r} already exists in {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{name}.{uuid.uuid4().hex[:8]}.adding"
        try:
            shutil.copytree(source, staging, symlinks=True,
                            ignore=shutil.ignore_patterns(*COPY_IGNORE))
            if dest.exists():
                raise Conflict(f"a template {name!r} already exists in {self.root}")
            os.rename(staging, dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.get(name)


def _links_stay_inside(source: Path) -> None:
    """Refuse a template with a symbolic link that leads out of its folder (a copy would
    carry the file it points to, e.g. a key, into the templates folder); links inside
    the folder are copied as links."""
    root = source.resolve()
    for folder, dirs, files in os.walk(source):
        for entry in (*dirs, *files):
            path = Path(folder) / entry
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise InvalidInput(f"{path} is a link to {os.readlink(path)}, outside the "
                                   "template's folder: copy that file in, or remove the link")


def resolve(template: Template, overrides: Sequence[str], preset: str | None) -> Resolved:
    """The effective config: the defaults, the preset's overrides, then ``overrides``; with
    every error (an unknown preset at ``$``, an override that does not apply at its key,
    each schema error at its path). Never raises for bad input."""
    errors: list[ConfigError] = []
    effective: list[str] = []
    if preset is not None:
        if preset in template.presets:
            effective.extend(template.presets[preset])
        else:
            known = ", ".join(sorted(template.presets)) or "none"
            errors.append(ConfigError("$", f"unknown preset {preset!r} (presets: {known})"))
    effective.extend(overrides)
    config = copy.deepcopy(template.config)
    for text in effective:
        try:
            apply_override(config, text)
        except OverrideError as exc:
            errors.append(ConfigError(json_path(exc.path), str(exc)))
        except (ValueError, RecursionError) as exc:  # never a 500 for a strange override
            errors.append(ConfigError("$", f"{text[:200]!r}: {exc}"[:500]))
    errors.extend(validate(config, template.schema))
    return Resolved(config=config, overrides=effective, errors=errors)

