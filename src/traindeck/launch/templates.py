"""A templates folder: one sub-folder per launchable template (placeholder, filled in next)."""

from __future__ import annotations

from pathlib import Path


class Templates:
    """One templates folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
