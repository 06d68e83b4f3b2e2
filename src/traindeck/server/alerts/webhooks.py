"""Posting alerts to webhooks: generic JSON, Slack- and Discord-shaped bodies.

:class:`WebhookSender` posts each alert to every webhook in a task of its own, on the
server's event loop, never in the way of ingest or of the feed: each request has a
``timeout``; a failure (no answer, a timeout, a 5xx, 408 or 429) is retried up to
``attempts`` times with exponential backoff (``backoff`` x 2ⁿ, at most ``max_backoff``
seconds); another 4xx is not retried. Each webhook has its own ``per_hook`` slots, so a
webhook that hangs holds only its own deliveries; past ``max_pending`` deliveries waiting
in all, new ones are dropped (and logged). URLs are logged masked, never whole.

Bodies (``alert`` is the object ``GET /api/alerts`` lists):

- ``json``: ``{"type": "alert", "text": LINE, "alert": {...}}``
- ``slack``: ``{"text": LINE, "blocks": [header, section, context]}`` (incoming webhooks)
- ``discord``: ``{"content": LINE, "embeds": [{title, description, color, fields,
  timestamp}]}``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from traindeck.store import Store
from traindeck.store.codec import dumps
from traindeck.store.rules import Webhook

log = logging.getLogger("traindeck.server.alerts.webhooks")

_COLORS: Final = {"info": 0x3B82F6, "warning": 0xF59E0B, "error": 0xEF4444}
_ICONS: Final = {"info": "ℹ️", "warning": "⚠️", "error": "🛑"}  # noqa: RUF001
#: Status codes worth another try.
_RETRY: Final = frozenset({408, 425, 429})


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def line(alert: Mapping[str, Any]) -> str:
    """One line saying it all: ``[warning] loss is NaN (run NAME, project P)``."""
    return (f"[{alert.get('severity', 'warning')}] {alert.get('title') or 'alert'} "
            f"(run {alert.get('run_name')}, project {alert.get('project')})")


def body(format: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body a webhook of ``format`` gets for ``alert``."""
    title = str(alert.get("title") or "alert")
    text = str(alert.get("text") or "")
    severity = str(alert.get("severity", "warning"))
    where = (f"run {alert.get('run_name')} ({alert.get('run_id')}), project "
             f"{alert.get('project')}" + (f", step {alert['step']}"
                                          if alert.get("step") is not None else ""))
    if format == "slack":
        icon = _ICONS.get(severity, "")
        return {"text": _cut(line(alert), 3000), "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                                        "text": _cut(f"{icon} {title}", 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text or title, 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
                f"{severity} · {where}", 3000)}]},
        ]}
    if format == "discord":
        embed: dict[str, Any] = {
            "title": _cut(title, 256), "description": _cut(text, 4096),
            "color": _COLORS.get(severity, _COLORS["warning"]),
            "fields": [{"name": "run", "value": _cut(str(alert.get("run_name")), 1024),
                        "inline": True},
                       {"name": "project", "value": _cut(str(alert.get("project")), 1024),
                        "inline": True},
                       {"name": "severity", "value": severity, "inline": True}],
        }
        if isinstance(alert.get("time"), int | float):
            embed["timestamp"] = datetime.fromtimestamp(float(alert["time"]), UTC).isoformat()
        return {"content": _cut(line(alert), 2000), "embeds": [embed]}
    return {"type": "alert", "text": line(alert), "alert": dict(alert)}


class WebhookSender:
    """Delivers alerts to the store's webhooks in background tasks (see the module)."""

    def __init__(self, store: Store, *, timeout: float = 10.0, attempts: int = 5,
                 backoff: float = 0.5, max_backoff: float = 30.0, per_hook: int = 4,
                 max_pending: int = 1000,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.store = store
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.per_hook = per_hook
        self.max_pending = max_pending
        self.sleep = sleep
        self.delivered = 0
        self.failed = 0
        self.retries = 0
        self.dropped = 0
        self.hooks: list[Webhook] = []
        self._version = -1
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def refresh(self) -> None:
        """Re-read the webhooks if they changed (one small read)."""
        def read() -> tuple[int, list[Webhook]] | None:
            version = self.store.rules_version()
            return None if version == self._version else (version, self.store.list_webhooks())

        found = await asyncio.to_thread(read)
        if found is not None:
            self._version, self.hooks = found

    def submit(self, alert: Mapping[str, Any]) -> int:
        """Start delivering ``alert`` to every webhook; how many deliveries started."""
        started = 0
        for hook in self.hooks:
            if len(self._tasks) >= self.max_pending:
                self.dropped += 1
                log.warning("webhook %s: too many deliveries pending, alert %s dropped",
                            hook.masked_url, alert.get("seq"))
                continue
            task = asyncio.create_task(self._deliver(hook, dict(alert)),
                                       name=f"traindeck-webhook-{hook.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                headers={"user-agent": "traindeck-webhook"})
        return self._client

    async def _deliver(self, hook: Webhook, alert: dict[str, Any]) -> None:
        slots = self._slots.setdefault(hook.id, asyncio.Semaphore(self.per_hook))
        content = dumps(body(hook.format, alert))
        headers = {"content-type": "application/json"}
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                await self.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            why: str
            async with slots:
                try:
                    async with asyncio.timeout(self.timeout):  # the whole request
                        answer = await self._http().post(hook.url, content=content,
                                                         headers=headers)
                except (httpx.HTTPError, TimeoutError) as exc:  # not str(exc): the URL
                    why = type(exc).__name__
                else:
                    if answer.status_code < 300:
                        self.delivered += 1
                        return
                    why = f"HTTP {answer.status_code}"
                    if answer.status_code < 500 and answer.status_code not in _RETRY:
                        break
            log.info("webhook %s: alert %s attempt %d failed (%s)", hook.masked_url,
                     alert.get("seq"), attempt + 1, why)
        self.failed += 1
        log.warning("webhook %s: alert %s not delivered", hook.masked_url, alert.get("seq"))

    async def close(self) -> None:
        """Stop: deliveries still under way are cancelled."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def stats(self) -> dict[str, int]:
        return {"webhooks": len(self.hooks), "pending": len(self._tasks),
                "delivered": self.delivered, "failed": self.failed, "retries": self.retries,
                "dropped": self.dropped}
