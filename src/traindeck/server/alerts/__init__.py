"""Rules and alerts, evaluated on the server (issue 12).

- ``kinds.py``: what each rule kind watches (one small state per rule, run and key).
- ``evaluator.py``: the change-feed listener that reads new points and fires rules.
- ``delivery.py``: the change-feed listener that sends every ``alert`` event to the
  WebSocket clients and the webhooks.
- ``webhooks.py``: the background sender (retries, backoff, timeouts) and the bodies.
- ``leader.py``: one evaluator per store.

The rules themselves (what is valid) are the store's (``traindeck.store.rules``); the API
is ``server/routers/alerts.py``; the user's guide is ``docs/alerts.md``.
"""
