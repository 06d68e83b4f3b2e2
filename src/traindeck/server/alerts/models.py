"""The shapes of rules, webhooks and alerts in the API and the live protocol."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from traindeck.store.rules import DEFAULT_COOLDOWN_S, MAX_COOLDOWN_S, MAX_KEY, MAX_URL

from ..schemas import Value

RuleKind = Literal["nan", "spike", "plateau", "threshold", "stall", "heartbeat", "gpu_idle",
                   "disk"]
Severity = Literal["info", "warning", "error"]
WebhookFormat = Literal["json", "slack", "discord"]

_PARAMS_DOC = (
    "per kind (defaults in brackets): nan {}; spike {k [6], window [100], min_points [20]}; "
    "plateau {steps, min_delta [0], direction min|max [min]}; threshold {op < <= > >= == !=, "
    "value, after_step [0]}; stall {minutes}; heartbeat {}; gpu_idle {below [10], minutes}; "
    "disk {min_free_percent}")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(None, min_length=1, max_length=200,
                                description="the project's runs (none, and no run_id: every run)")
    run_id: str | None = Field(None, min_length=1, max_length=200, description="one run")
    kind: RuleKind
    key: str | None = Field(None, min_length=1, max_length=MAX_KEY,
                            description="the metric, or a glob (`train/*`); nan: every key "
                                        "by default, gpu_idle `sys/*gpu*/util`, disk "
                                        "`sys/*disk_percent`; none for stall and heartbeat")
    params: dict[str, Any] = Field(default_factory=dict, description=_PARAMS_DOC)
    severity: Severity = "warning"
    cooldown_s: float = Field(DEFAULT_COOLDOWN_S, ge=0, le=MAX_COOLDOWN_S,
                              description="seconds the same rule stays quiet on the same "
                                          "run after firing")


class RuleOut(BaseModel):
    id: str
    project: str | None
    run_id: str | None
    kind: RuleKind
    key: str | None
    params: dict[str, Any]
    severity: Severity
    cooldown_s: float
    created_at: float


class RuleList(BaseModel):
    rules: list[RuleOut]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=MAX_URL, description="http(s) URL alerts are "
                                                                   "posted to")
    format: WebhookFormat = "json"


class WebhookOut(BaseModel):
    id: str
    url: str = Field(description="with its secret parts masked (`***`)")
    format: WebhookFormat
    created_at: float


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AlertOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(description="the alert event's seq")
    run_id: str
    run_name: str
    project: str
    time: float
    rule_id: str | None = Field(description="null: from run.alert() in the training process")
    kind: str = Field(description="the rule's kind, or `sdk`")
    key: str | None
    severity: Severity
    title: str
    text: str
    step: int | None
    value: Value | None


class AlertList(BaseModel):
    alerts: list[AlertOut]


class AlertMessage(BaseModel):
    """Sent to every WebSocket client for each new alert event (no subscription needed)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["alert"]
    alert: AlertOut
