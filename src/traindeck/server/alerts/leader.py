"""Who evaluates rules and sends webhooks: one server per store.

Today a store has one server, which is always the leader (:class:`SingleServer`). Several
servers over one store (issue 14: PostgreSQL) take an advisory lock instead: a
``Leadership`` whose :meth:`~Leadership.is_leader` answers whether this server holds it,
so exactly one evaluates rules and posts webhooks while every server still sends ``alert``
messages to its own WebSocket clients.
"""

from __future__ import annotations

from typing import Protocol


class Leadership(Protocol):
    def is_leader(self) -> bool:
        """Whether this server evaluates rules and delivers webhooks now (cheap: asked on
        every follow tick)."""


class SingleServer:
    """The only server of its store: always the leader."""

    def is_leader(self) -> bool:
        return True
