"""How a run names and keeps its checkpoints (``init()``'s checkpoint arguments, checked),
and the small values the checkpoint machinery passes around."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

from ..checkpoints import (
    DEFAULT_EXT,
    DEFAULT_TEMPLATE,
    BestSpec,
    format_name,
    parse_best,
    parse_name,
)
from ..store.codec import jsonable

#: The file-name suffix each kind gets (``regular`` has none).
KIND_SUFFIX: Final[dict[str, str | None]] = {
    "regular": None, "best": "_best", "emergency": "_emergency", "final": "_final",
}
SaveHandler = Callable[..., Any]


class LastCheckpoint(NamedTuple):
    """What ``run.last_checkpoint()`` answers: ``path, step, metadata = ...``."""

    path: Path
    step: int
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CheckpointOptions:
    dir: Path | None = None
    template: str = DEFAULT_TEMPLATE
    best: BestSpec | None = None
    keep_last: int | None = None
    keep_best: int | None = None
    #: The checkpoint a launch resumes from (``TRAINDECK_RESUME_CHECKPOINT``, set by the
    #: launcher): ``last_checkpoint()`` returns it until this process saves one.
    resume_from: str | None = None

    @classmethod
    def make(cls, checkpoint_dir: str | os.PathLike[str] | None = None,
             checkpoint_template: str | None = None, best: str | None = None,
             keep_last: int | None = None, keep_best: int | None = None) -> CheckpointOptions:
        """Check ``init()``'s checkpoint arguments (a ValueError names the bad one)."""
        for name, n in (("keep_last", keep_last), ("keep_best", keep_best)):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise ValueError(f"{name} must be an integer >= 1 (or None), got {n!r}")
        spec = parse_best(best)
        if keep_best is not None and spec is None:
            raise ValueError('keep_best needs best="min:<metric>" or "max:<metric>"')
        template = checkpoint_template or DEFAULT_TEMPLATE
        try:
            sample = format_name(12, "_best", template, DEFAULT_EXT)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad checkpoint_template {template!r}: {exc}") from exc
        parsed = parse_name(sample, template)
        if parsed is None or parsed.step != 12:
            raise ValueError(f"checkpoint_template {template!r} makes names it cannot read back")
        # Read against the folder the script starts in: a later chdir does not move it.
        folder = (Path(checkpoint_dir).expanduser().absolute() if checkpoint_dir is not None
                  else None)
        return cls(folder, template, spec, keep_last, keep_best)


def clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (metrics or {}).items():
        try:
            out[str(k)] = v if isinstance(v, int | float) else float(v)
        except (TypeError, ValueError):
            out[str(k)] = jsonable(v)
    return out


class RunIdentity(NamedTuple):
    """What a sidecar says about the run that wrote it."""

    run_id: str
    project: str
    name: str
