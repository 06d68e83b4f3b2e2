"""Checkpoint file names: one template to write them, one compiled regex to read them.

New names are ``checkpoint_step_0001234.pth``, ``checkpoint_step_0001234_emergency.pth``
(seven digits, zero-padded, so a directory listing is in step order). Older names without the
padding (``checkpoint_step_123.pth``), other extensions (``.pt``, ``.ckpt``, ``.safetensors``,
``.npz``, ``.npy``, ``.bin`` (raw bytes), ``.pkl``) and folders (no extension) are read by
the same regex. Anything that sorts checkpoints sorts by the *parsed* step, never by the
string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final, NamedTuple, TypeVar

DEFAULT_TEMPLATE: Final = "checkpoint_step_{step:07d}{suffix}{ext}"
DEFAULT_EXT: Final = ".pth"
#: Extensions the parser knows; a name without one of them is a folder checkpoint.
EXTENSIONS: Final[tuple[str, ...]] = (
    ".pth", ".pt", ".ckpt", ".safetensors", ".npz", ".npy", ".bin", ".pkl",
)
#: Suffix → the store's checkpoint kind.
SUFFIX_KINDS: Final[dict[str, str]] = {
    "_best": "best", "_emergency": "emergency", "_final": "final",
}

_EXT_RE: Final = "|".join(re.escape(e) for e in EXTENSIONS)
#: The one parser of default-template names (new, padded, and old, unpadded).
NAME_RE: Final = re.compile(
    r"^checkpoint_step_(?P<step>\d+)(?P<suffix>_[A-Za-z0-9][A-Za-z0-9_-]*?)?"
    rf"(?P<ext>{_EXT_RE})?$"
)
_SUFFIX_RE: Final = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9_-]*$")

P = TypeVar("P", str, "os.PathLike[str]")


class ParsedName(NamedTuple):
    step: int
    suffix: str | None  # with its underscore: "_emergency"; None for a plain checkpoint
    ext: str  # ".pth", ...; "" for a folder

    @property
    def kind(self) -> str:
        """The store kind the suffix implies (``regular`` for none or an unknown one)."""
        return SUFFIX_KINDS.get(self.suffix or "", "regular")


def normalize_suffix(suffix: str | None) -> str:
    """``None``/``""`` → ``""``; ``"best"`` and ``"_best"`` → ``"_best"``."""
    if not suffix:
        return ""
    s = suffix if suffix.startswith("_") else "_" + suffix
    if not _SUFFIX_RE.match(s):
        raise ValueError(f"a checkpoint suffix is letters, digits, '_' or '-', got {suffix!r}")
    return s


def normalize_ext(ext: str | None) -> str:
    if not ext:
        return ""
    return ext if ext.startswith(".") else "." + ext


def format_name(
    step: int,
    suffix: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    ext: str = DEFAULT_EXT,
) -> str:
    """The file name of the checkpoint at ``step``: ``format_name(1234, "_best")`` →
    ``checkpoint_step_0001234_best.pth``. ``ext=""`` names a folder."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"a checkpoint step is an integer >= 0, got {step!r}")
    return template.format(step=step, suffix=normalize_suffix(suffix), ext=normalize_ext(ext))


@lru_cache(maxsize=32)
def template_regex(template: str) -> re.Pattern[str]:
    """A regex that reads names made by ``template`` (fields ``step``, ``suffix``, ``ext``)."""
    if template == DEFAULT_TEMPLATE:
        return NAME_RE
    out, pos = [], 0
    fields = {"step": r"(?P<step>\d+)",
              "suffix": r"(?P<suffix>_[A-Za-z0-9][A-Za-z0-9_-]*?)?",
              "ext": rf"(?P<ext>{_EXT_RE})?"}
    for m in re.finditer(r"\{(\w+)(?::[^}]*)?\}", template):
        out.append(re.escape(template[pos:m.start()]))
        if m.group(1) not in fields:
            raise ValueError(f"unknown field {{{m.group(1)}}} in checkpoint template {template!r}")
        out.append(fields.pop(m.group(1)))
        pos = m.end()
    out.append(re.escape(template[pos:]))
    if "step" in fields:
        raise ValueError(f"a checkpoint template needs {{step}}: {template!r}")
    return re.compile("^" + "".join(out) + "$")


def parse_name(name: str | os.PathLike[str], template: str = DEFAULT_TEMPLATE) -> ParsedName | None:
    """Step, suffix and extension of a checkpoint name (a path's last part), or None."""
    base = os.path.basename(os.fspath(name).rstrip("/\\"))
    m = template_regex(template).match(base)
    if m is None:
        return None
    groups = m.groupdict()
    return ParsedName(int(groups["step"]), groups.get("suffix") or None, groups.get("ext") or "")


def sort_by_step(paths: Iterable[P], *, template: str = DEFAULT_TEMPLATE,
                 descending: bool = False) -> list[P]:
    """The checkpoint names among ``paths``, in step order (others are left out).

    At one step a plain checkpoint comes before its suffixed ones (``_best``, ...)."""
    parsed = []
    for p in paths:
        info = parse_name(p, template)
        if info is not None:
            parsed.append(((info.step, info.suffix or "", info.ext), p))
    parsed.sort(key=lambda t: t[0], reverse=descending)
    return [p for _, p in parsed]
