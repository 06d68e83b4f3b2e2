"""Which files to leave out of an upload: the .gitignore grammar, without a dependency.

The rules follow ``gitignore(5)``: blank lines and ``#`` lines are comments (``\\#`` is a
literal ``#``); trailing spaces are dropped unless escaped; ``!`` re-includes what an
earlier pattern excluded (``\\!`` is a literal ``!``); a trailing ``/`` matches folders only;
a pattern with a ``/`` at its start or in its middle is anchored to the folder of the file
that holds it, one without matches a name at any depth below that folder; ``*``, ``?`` and
``[...]`` never match ``/``; ``**/`` at the start matches in every folder, ``/**`` at the end
matches everything inside, ``/**/`` in the middle matches zero or more folders.

Precedence, as in git: the last matching pattern decides, and a deeper .gitignore comes after
its parents (so it wins). A file inside an excluded folder cannot be re-included, because the
walker (``archive.py``) never descends into an excluded folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Matcher", "Rule", "parse"]


@dataclass(frozen=True)
class Rule:
    """One pattern line: ``base`` is the folder (relative, ``/``-separated, ``""`` for the
    root) of the file it came from; it applies only to paths under that folder."""

    pattern: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    base: str = ""

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether this pattern matches ``path`` (relative to the walked root)."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not path.startswith(self.base + "/"):
                return False
            path = path[len(self.base) + 1:]
        return self.regex.fullmatch(path) is not None


def _strip_trailing_spaces(line: str) -> str:
    end = len(line)
    while end > 0 and line[end - 1] == " " and not (end >= 2 and line[end - 2] == "\\"):
        end -= 1
    return line[:end]


def _class(segment: str, start: int) -> tuple[str, int] | None:
    """Translate the ``[...]`` starting at ``start``; None when it is not closed."""
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    body: list[str] = []
    first = True
    while i < len(segment):
        c = segment[i]
        if c == "]" and not first:
            inner = "".join(body)
            return ("[^/" + inner + "]" if negate else "[" + inner + "]"), i + 1
        if c == "\\" and i + 1 < len(segment):
            i += 1
            c = segment[i]
        body.append("-" if c == "-" else re.escape(c))
        first = False
        i += 1
    return None


def _segment(segment: str) -> str:
    """Regex for one path segment (no ``/``): ``*``, ``?``, ``[...]``, ``\\x``."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # ``**`` not alone in its segment is a plain ``*``
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (cls := _class(segment, i)) is not None:
            out.append(cls[0])
            i = cls[1]
            continue
        elif c == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _translate(body: str) -> str:
    """Regex (for ``fullmatch``) of a pattern body without ``!`` and trailing ``/``."""
    anchored = "/" in body
    segments = body.lstrip("/").split("/") if anchored else [body]
    out = [] if anchored else ["(?:.*/)?"]
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == "**":
            out.append(".+" if i == last else "(?:.*/)?")
        else:
            out.append(_segment(seg) + ("" if i == last else "/"))
    return "".join(out)


def parse(lines: Iterable[str], base: str = "") -> tuple[Rule, ...]:
    """The rules of a .gitignore (or an exclude list) whose folder is ``base``."""
    rules: list[Rule] = []
    for raw in lines:
        line = _strip_trailing_spaces(raw.rstrip("\r\n"))
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = line[1:] if negated else line
        if body.startswith(("\\!", "\\#")):
            body = body[1:]
        dir_only = body.endswith("/") and not body.endswith("\\/")
        body = body.rstrip("/") if dir_only else body
        if not body:
            continue
        rules.append(Rule(raw.strip(), re.compile(_translate(body), re.DOTALL),
                          negated, dir_only, base.strip("/")))
    return tuple(rules)


class Matcher:
    """An ordered list of rules; the last one that matches a path decides."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)

    @classmethod
    def from_lines(cls, lines: Iterable[str], base: str = "") -> Matcher:
        """A matcher for one pattern list (a .gitignore's lines or an exclude list)."""
        return cls(parse(lines, base))

    def extended(self, rules: Iterable[Rule]) -> Matcher:
        """A new matcher with ``rules`` after these (so they take precedence)."""
        return Matcher((*self.rules, *rules))

    def decide(self, path: str, is_dir: bool) -> bool | None:
        """True (excluded) or False (re-included) by the last rule matching ``path``
        (relative, ``/``-separated); None when no rule matches."""
        for rule in reversed(self.rules):
            if rule.matches(path, is_dir):
                return not rule.negated
        return None

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` is excluded by these rules alone (its parent folders are the
        walker's business: a file in an excluded folder is never reached)."""
        return bool(self.decide(path, is_dir))
