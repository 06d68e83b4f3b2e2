"""Alert rules, webhooks and alerts, for every engine: what they hold and what is valid.

A **rule** watches the runs of one run (``run_id``), one project (``project``) or every run
(neither), for one ``kind`` of trouble; ``key`` names the metric (a glob: ``*`` and ``?``
match any characters, ``/`` included) for the kinds that read metrics. ``params`` are
checked and completed with their defaults here, so the API, the CLI and the evaluator
see the same rule. A **webhook** is a URL alerts are posted to, in one ``format``. An
**alert** is a run event of kind ``alert``; :class:`Alert` is one as listed by
``GET /api/alerts`` (with its run's name and project).

No SQL here (``rule_rows.py`` has the SQLite side).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from .errors import InvalidInput

RULE_KINDS: Final = ("nan", "spike", "plateau", "threshold", "stall", "heartbeat",
                     "gpu_idle", "disk")
SEVERITIES: Final = ("info", "warning", "error")
WEBHOOK_FORMATS: Final = ("json", "slack", "discord")
THRESHOLD_OPS: Final = ("<", "<=", ">", ">=", "==", "!=")
#: Kinds that read a metric (the others watch a run's status or steps).
METRIC_KINDS: Final = frozenset({"nan", "spike", "plateau", "threshold", "gpu_idle", "disk"})
#: The key a kind watches when the rule names none (``None``: the rule takes no key).
DEFAULT_KEYS: Final[Mapping[str, str | None]] = {
    "nan": "*", "gpu_idle": "sys/*gpu*/util", "disk": "sys/*disk_percent",
    "stall": None, "heartbeat": None,
}
DEFAULT_COOLDOWN_S: Final = 300.0
MAX_COOLDOWN_S: Final = 30 * 24 * 3600.0
MAX_KEY: Final = 500
MAX_URL: Final = 2000
#: What the URL of a webhook shows instead of its secret parts.
MASK: Final = "***"

_REQUIRED = object()
_LEVELS: Final = {"info": "info", "warn": "warning", "warning": "warning", "error": "error"}

#: Per kind: each parameter with (type, default or _REQUIRED, low, high).
_PARAMS: Final[dict[str, dict[str, tuple[type, Any, float | None, float | None]]]] = {
    "nan": {},
    "spike": {"k": (float, 6.0, 0.0, None), "window": (int, 100, 3, 100_000),
              "min_points": (int, 20, 3, 100_000)},
    "plateau": {"steps": (int, _REQUIRED, 1, None), "min_delta": (float, 0.0, 0.0, None),
                "direction": (str, "min", None, None)},
    "threshold": {"op": (str, _REQUIRED, None, None), "value": (float, _REQUIRED, None, None),
                  "after_step": (int, 0, 0, None)},
    "stall": {"minutes": (float, _REQUIRED, 0.0, None)},
    "heartbeat": {},
    "gpu_idle": {"below": (float, 10.0, 0.0, 100.0), "minutes": (float, _REQUIRED, 0.0, None)},
    "disk": {"min_free_percent": (float, _REQUIRED, 0.0, 100.0)},
}
_CHOICES: Final = {"direction": ("min", "max"), "op": THRESHOLD_OPS}
#: Params that must be above their low bound, not only at it.
_POSITIVE: Final = frozenset({"k", "minutes"})


@dataclass(slots=True, frozen=True)
class Rule:
    id: str
    project: str | None
    run_id: str | None
    kind: str
    key: str | None
    params: dict[str, Any]
    severity: str
    cooldown_s: float
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "project": self.project, "run_id": self.run_id,
                "kind": self.kind, "key": self.key, "params": dict(self.params),
                "severity": self.severity, "cooldown_s": self.cooldown_s,
                "created_at": self.created_at}


@dataclass(slots=True, frozen=True)
class Webhook:
    """A webhook; ``url`` is the whole URL (secrets included): only the sender reads it,
    everything shown (``to_dict``, logs) uses :attr:`masked_url`."""

    id: str
    url: str
    format: str
    created_at: float

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.masked_url, "format": self.format,
                "created_at": self.created_at}


@dataclass(slots=True, frozen=True)
class Alert:
    """An ``alert`` event with its run's name and project (``GET /api/alerts``)."""

    seq: int
    run_id: str
    run_name: str
    project: str
    time: float
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = {"rule_id": None, "kind": "sdk", "key": None, "severity": "warning",
               "title": "", "text": "", "step": None, "value": None}
        out.update({k: v for k, v in self.payload.items() if k in out})
        level = self.payload.get("level")  # wandb.alert's, and older events'
        if "severity" not in self.payload and isinstance(level, str):
            out["severity"] = _LEVELS.get(level.lower(), "warning")
        return {"seq": self.seq, "run_id": self.run_id, "run_name": self.run_name,
                "project": self.project, "time": self.time, **out}


def _number(name: str, raw: object, kind: type, low: float | None,
            high: float | None) -> float | int | str:
    if kind is str:
        if not isinstance(raw, str) or raw not in _CHOICES[name]:
            raise InvalidInput(f"params.{name} must be one of {', '.join(_CHOICES[name])}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidInput(f"params.{name} must be a number")
    if kind is int and (not float(raw).is_integer() or abs(raw) > 2**62):
        raise InvalidInput(f"params.{name} must be a whole number")
    value: float | int = int(raw) if kind is int else float(raw)
    if not math.isfinite(value):
        raise InvalidInput(f"params.{name} must be finite")
    if low is not None and (value < low or (value == low and name in _POSITIVE)):
        raise InvalidInput(f"params.{name} must be {'above' if name in _POSITIVE else 'at least'}"
                           f" {low:g}")
    if high is not None and value > high:
        raise InvalidInput(f"params.{name} must be at most {high:g}")
    return value


def check_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A kind's params, checked, with defaults filled in; ``InvalidInput`` saying why not."""
    spec = _PARAMS[kind]
    given = dict(params or {})
    unknown = sorted(set(given) - set(spec))
    if unknown:
        allowed = ", ".join(spec) or "none"
        raise InvalidInput(f"{kind} rules take no param {', '.join(unknown)} "
                           f"(params: {allowed})")
    out: dict[str, Any] = {}
    for name, (typ, default, low, high) in spec.items():
        if name not in given or given[name] is None:
            if default is _REQUIRED:
                raise InvalidInput(f"{kind} rules need params.{name}")
            out[name] = default
        else:
            out[name] = _number(name, given[name], typ, low, high)
    if kind == "spike" and out["min_points"] > out["window"]:
        raise InvalidInput("params.min_points must be at most params.window")
    return out


def check_rule(*, kind: str, project: str | None, run_id: str | None, key: str | None,
               params: Mapping[str, Any] | None, severity: str,
               cooldown_s: float) -> tuple[str | None, dict[str, Any]]:
    """Check a new rule; returns its key (the kind's default when none is given) and its
    complete params. ``InvalidInput`` says what is wrong."""
    if kind not in RULE_KINDS:
        raise InvalidInput(f"unknown rule kind {kind!r} (one of {', '.join(RULE_KINDS)})")
    if project is not None and run_id is not None:
        raise InvalidInput("give a project or a run_id, not both (neither: every run)")
    for what, value in (("project", project), ("run_id", run_id)):
        if value is not None and not 0 < len(value) <= 200:
            raise InvalidInput(f"{what} must be 1 to 200 characters")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}")
    if isinstance(cooldown_s, bool) or not isinstance(cooldown_s, int | float) \
            or not 0 <= cooldown_s <= MAX_COOLDOWN_S:
        raise InvalidInput(f"cooldown_s must be 0 to {MAX_COOLDOWN_S:g} seconds")
    if kind in METRIC_KINDS:
        key = key if key is not None else DEFAULT_KEYS.get(kind)
        if key is None:
            raise InvalidInput(f"{kind} rules need a key (a metric name or a glob like "
                               "'train/*')")
        if not 0 < len(key) <= MAX_KEY or "\0" in key:
            raise InvalidInput(f"key must be 1 to {MAX_KEY} characters")
    elif key is not None:
        raise InvalidInput(f"{kind} rules watch the run, not a metric: give no key")
    return key, check_params(kind, params)


def check_webhook(url: str, format: str) -> None:
    if format not in WEBHOOK_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(WEBHOOK_FORMATS)}")
    if not 0 < len(url) <= MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput(f"url must be 1 to {MAX_URL} characters, without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError as exc:
        raise InvalidInput(f"url is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http:// or https:// URL with a host")


def mask_url(url: str) -> str:
    """``url`` with what may be a secret hidden: a user or password, every path segment
    after the first, and every query value. ``https://hooks.slack.com/services/T0/B0/XYZ``
    → ``https://hooks.slack.com/services/***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{MASK}@" if parts.username or parts.password else "") + host + port
    segments = parts.path.split("/")
    path = parts.path
    if len([s for s in segments if s]) > 1:
        first = next(s for s in segments if s)
        path = f"/{first}/{MASK}"
    query = "&".join(f"{q.partition('=')[0]}={MASK}" for q in parts.query.split("&")
                     if q) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))
