"""``/api/rules``, ``/api/webhooks`` (admin scope) and ``/api/alerts``: alert rules, where
alerts are posted, and the alerts fired (events of kind ``alert`` of every run).

A rule or webhook written here is picked up by the server's evaluator at its next tick
(``server/alerts``); the checks are the store's (``traindeck.store.rules``), so a bad rule
answers 422 saying what is wrong, whether it came through here or the CLI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ..alerts.models import (
    AlertList,
    RuleIn,
    RuleList,
    RuleOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from ..deps import INT64_MAX, StoreDep, json_response
from ..errors import ERROR_RESPONSES

router = APIRouter(prefix="/api", tags=["alerts"], responses=ERROR_RESPONSES)

Name = Annotated[str | None, Query(min_length=1, max_length=200)]


def _changed(request: Request) -> None:
    """Tell this server's evaluator at once (others see ``rules_version`` move)."""
    evaluator = getattr(request.app.state, "rules", None)
    if evaluator is not None:
        evaluator.invalidate()


@router.post("/rules", response_model=RuleOut, status_code=201, summary="Add an alert rule")
def create_rule(body: RuleIn, store: StoreDep, request: Request) -> Response:
    rule = store.create_rule(kind=body.kind, project=body.project, run_id=body.run_id,
                             key=body.key, params=body.params, severity=body.severity,
                             cooldown_s=body.cooldown_s)
    _changed(request)
    return json_response(rule.to_dict(), status_code=201)


@router.get("/rules", response_model=RuleList, summary="List alert rules")
def list_rules(store: StoreDep, project: Name = None, run_id: Name = None) -> Response:
    rules = store.list_rules(project=project, run_id=run_id)
    return json_response({"rules": [r.to_dict() for r in rules]})


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response,
               summary="Remove an alert rule")
def delete_rule(rule_id: str, store: StoreDep, request: Request) -> Response:
    store.delete_rule(rule_id)
    _changed(request)
    return Response(status_code=204)


@router.post("/webhooks", response_model=WebhookOut, status_code=201,
             summary="Add a webhook alerts are posted to")
def create_webhook(body: WebhookIn, store: StoreDep, request: Request) -> Response:
    hook = store.create_webhook(body.url, body.format)
    _changed(request)
    return json_response(hook.to_dict(), status_code=201)


@router.get("/webhooks", response_model=WebhookList, summary="List webhooks (URLs masked)")
def list_webhooks(store: StoreDep) -> Response:
    return json_response({"webhooks": [h.to_dict() for h in store.list_webhooks()]})


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response,
               summary="Remove a webhook")
def delete_webhook(webhook_id: str, store: StoreDep, request: Request) -> Response:
    store.delete_webhook(webhook_id)
    _changed(request)
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertList, summary="Alerts of every run, newest first")
def list_alerts(
    store: StoreDep,
    after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    before_seq: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    project: Name = None,
) -> Response:
    alerts = store.list_alerts(after_seq=after_seq, before_seq=before_seq, limit=limit,
                               project=project)
    return json_response({"alerts": [a.to_dict() for a in alerts]})
