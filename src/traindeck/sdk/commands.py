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
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from ..redact import redact
from ..store import Command
from .backend import Backend

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


#: The commands every run offers, whatever the script registers.
BUILTIN_NAMES: Final = ("stop", "pause", "resume")
#: What ``encode`` answers for a value that cannot be stored.
UNENCODABLE: Final = object()


def check_name(name: Any) -> str:
    """A name a script may register a handler under, or ``ValueError`` saying why not."""
    if not isinstance(name, str) or not name or len(name) > 100:
        raise ValueError("a command name is a string of 1 to 100 characters")
    if name in BUILTIN_NAMES:
        raise ValueError(f"{name!r} is built in and cannot be replaced")
    return name


class CommandDesk:
    """One run's commands: the handlers, the inbox the background thread fills, pause and
    stop. The training thread serves it at ``log()``/``poll()``; the ``Run`` only holds the
    gate (a plain attribute, the one thing ``log()`` reads) that ``open_gate`` sets.

    It talks to the rest of the run through what it is given: ``call(what, fn)`` queues
    ``fn(backend)`` on the background thread, ``encode(what, value)`` answers the value as
    it will be stored (or :data:`UNENCODABLE`), ``last_step()`` the last logged step, and
    ``secrets`` are blanked from results and errors like any secret shape."""

    def __init__(self, *, call: Callable[[str, Callable[[Backend], Any]], None],
                 encode: Callable[[str, Any], Any], last_step: Callable[[], int],
                 open_gate: Callable[[], None], secrets: Sequence[str] = ()) -> None:
        self._call = call
        self._encode = encode
        self._last_step = last_step
        self._open_gate = open_gate
        self._secrets = list(secrets)
        self.handlers: dict[str, Handler] = {}
        self.inbox: deque[Command] = deque()
        self.paused = False
        self.should_stop = False
        self.closing = False  # the run is finishing: a pause ends
        #: Who pressed stop, at which step (the ``stopped`` event), or None.
        self.stop_request: dict[str, Any] | None = None
        self._wakeup = threading.Condition()

    # -- registering -----------------------------------------------------------------

    def register(self, name: str, fn: Handler) -> None:
        self.handlers[check_name(name)] = fn
        self.offer()

    @property
    def names(self) -> list[str]:
        """The commands this run offers (built-ins and registered handlers)."""
        names = list(BUILTIN_NAMES)
        names += [n for n in self.handlers if n not in names]
        return names

    def offer(self) -> None:
        """Record the offered commands (the dashboard's buttons)."""
        names = self.names
        self._call("recording the offered commands",
                   lambda b: b.update_run({"commands_offered": names}))

    # -- the background thread -----------------------------------------------------------

    def receive(self, cmd: Command) -> None:
        """A command was delivered (background thread)."""
        if cmd.name == "stop":
            # Its effect is the flag, so it is done now; a paused loop is released too.
            self.should_stop = True
            step = self._last_step()
            if self.stop_request is None:
                self.stop_request = {"requested_by": cmd.requested_by, "step": step,
                                     "command": cmd.id}
            result = {"should_stop": True, "step": step}
            self._call("acknowledging command 'stop'", lambda b: b.finish_command(
                cmd.id, ok=True, result=result, error=None))
        else:
            self.inbox.append(cmd)
        self._open_gate()
        self.wake()

    def wake(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()

    def release(self) -> None:
        """The run is finishing: end a pause, and serve no more."""
        self.closing = True
        self.paused = False
        self.wake()

    # -- the training thread -------------------------------------------------------------

    def serve(self) -> bool:
        """Run waiting commands; block while paused. Whether the gate must stay open
        (commands still waiting, or paused)."""
        while True:
            while self.inbox:
                self._run(self.inbox.popleft())
            if (self.should_stop or self.closing) and self.paused:
                self.paused = False
                if not self.closing:
                    self._call("resuming", lambda b: b.set_status("running"))
            if not self.paused:
                break
            self._open_gate()
            with self._wakeup:
                self._wakeup.wait_for(
                    lambda: bool(self.inbox) or not self.paused or self.should_stop, 1.0)
        return bool(self.inbox) or self.paused

    def _run(self, cmd: Command) -> None:
        ok, result, error = True, None, None
        try:
            if cmd.name == "pause":
                if not self.paused:
                    self.paused = True
                    self._call("pausing", lambda b: b.set_status("paused"))
                result = {"paused": True, "step": self._last_step()}
            elif cmd.name == "resume":
                if self.paused:
                    self.paused = False
                    self._call("resuming", lambda b: b.set_status("running"))
                result = {"paused": False, "step": self._last_step()}
            else:
                handler = self.handlers.get(cmd.name)
                if handler is None:
                    if cmd.name in BUILTINS:
                        raise CommandError(f"this run registered no {cmd.name!r} handler")
                    raise CommandError(f"this run has no command {cmd.name!r}")
                result = call_handler(handler, cmd.args)
        except Exception as exc:
            ok, result, error = False, None, describe_exception(exc)
        payload = self._encode(f"the result of command {cmd.name!r}", result)
        if payload is UNENCODABLE:
            ok, payload, error = False, None, "the handler's result cannot be stored as JSON"
        # A handler's result or error may quote a secret (a DSN, a token): blank it.
        payload = redact_json(payload, self._secrets)
        error = None if error is None else redact_json(error, self._secrets)
        self._call(f"acknowledging command {cmd.name!r}",
                   lambda b: b.finish_command(cmd.id, ok=ok, result=payload, error=error))
