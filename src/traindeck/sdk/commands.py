"""Commands from the dashboard to the running script.

The dashboard inserts a command row; the run's background thread takes it (``pending →
delivered``) and puts it in the run's inbox; the *training thread* runs the handler at its
next ``log()`` or ``poll()`` (so handlers may touch the model safely), and the result or the
exception goes back through the background thread (``done`` / ``failed``).

Built-ins: ``stop`` sets ``run.should_stop``; ``pause`` makes ``log()``/``poll()`` block until
``resume`` (the heartbeat goes on, the run shows ``paused``); ``checkpoint`` calls the handler
the script registered under that name.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..redact import redact

BUILTINS: Final = ("stop", "pause", "resume", "checkpoint")
Handler = Callable[..., Any]


class CommandError(Exception):
    """A command the run cannot carry out (unknown name, no handler, bad arguments)."""


def describe_exception(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:4000]


def call_handler(handler: Handler, args: dict[str, Any]) -> Any:
    """Call a handler with the command's arguments as keyword arguments."""
    try:
        inspect.signature(handler).bind(**args)
    except TypeError as exc:
        raise CommandError(f"bad arguments {sorted(args)} for this command: {exc}") from exc
    except ValueError:  # no signature to check (a builtin): let the call decide
        pass
    return handler(**args)


def redact_json(value: Any, values: Iterable[str] = ()) -> Any:
    """A JSON-like value (what ``jsonable`` makes) with every string in it, keys included,
    redacted (``traindeck.redact``): command results and errors, event payloads."""
    values = values if isinstance(values, list | tuple) else list(values)
    if isinstance(value, str):
        return redact(value, values)
    if isinstance(value, dict):
        return {redact_json(k, values): redact_json(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, values) for v in value]
    return value
