"""Is a checkpoint usable? The file is there, its hash matches, and it loads.

``verify`` never raises: it answers ``(valid, reason)``. Torch files are opened with
``torch.load(weights_only=True, map_location="cpu")`` when torch is importable (a file that
needs arbitrary pickled code to load counts as invalid: resuming from it would run that
code); ``.npz``/``.npy`` files with numpy (no pickles); ``.safetensors`` by their header
and length. A file under a torch name (``.pth``, ``.bin``, …) that is not a torch file at
all (neither a zip archive nor a pickle: raw bytes a script saved) is valid when its
recorded sha256 matches: it is exactly what was written, and there is nothing to load.
``expected_keys`` must be keys of what was loaded.

A row's path is read through the run's :class:`~traindeck.runfiles.RunFiles` (``files=``):
relative to the run's folder, wherever the caller runs. Without ``files`` the path must be
absolute; a relative one is never read against the current directory.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, overload

from ..runfiles import RunFiles
from .files import BYTES_EXT, TORCH_EXTS, sha256_file

#: How the reasons for a failed ``expected_keys`` check start (the file itself is fine).
KEY_FAILURES: Final = ("missing keys:", "expected a dict")


class CheckpointLike(Protocol):
    @property
    def path(self) -> str: ...

    @property
    def sha256(self) -> str | None: ...


class RunCheckpoint(CheckpointLike, Protocol):
    """A stored row: its path is relative to the folder of run ``run_id`` (or absolute)."""

    @property
    def run_id(self) -> str: ...


def _keys_missing(obj: Any, expected: Sequence[str]) -> list[str] | None:
    if not isinstance(obj, Mapping) and not hasattr(obj, "files"):
        return None
    keys = set(obj.files) if hasattr(obj, "files") else set(obj)
    return [k for k in expected if k not in keys]


def _safetensors_keys(path: Path) -> list[str]:
    """Tensor names of a ``.safetensors`` file, after checking its layout: an 8-byte
    header length, a JSON header, and data offsets that end exactly at the file's end."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("shorter than its header length")
        n = int.from_bytes(raw, "little")
        if n > size - 8 or n > 100 << 20:
            raise ValueError(f"header length {n} does not fit a {size}-byte file")
        try:
            header = json.loads(fh.read(n))
        except ValueError as exc:
            raise ValueError(f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    end = 0
    keys = []
    for k, v in header.items():
        if k == "__metadata__":
            continue
        offsets = v.get("data_offsets") if isinstance(v, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets) and offsets[0] <= offsets[1]):
            raise ValueError(f"tensor {k!r} has no valid data_offsets")
        end = max(end, offsets[1])
        keys.append(k)
    if 8 + n + end != size:
        raise ValueError(f"data ends at byte {8 + n + end}, the file has {size} (truncated?)")
    return keys


def _torch_like(path: Path) -> bool:
    """A zip archive (torch's format) or a pickle (its legacy one, protocol 2+)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return True  # let the loader say what is wrong
    return head.startswith(b"PK") or head[:1] == b"\x80"


@overload
def verify(ck: RunCheckpoint, *, files: RunFiles,
           expected_keys: Sequence[str] | None = None) -> tuple[bool, str]: ...


@overload
def verify(ck: CheckpointLike, *, files: None = None,
           expected_keys: Sequence[str] | None = None) -> tuple[bool, str]: ...


def verify(ck: Any, *, files: RunFiles | None = None,
           expected_keys: Sequence[str] | None = None) -> tuple[bool, str]:
    """``(True, "ok ...")`` or ``(False, why)`` for a checkpoint row (its path read through
    ``files``), or anything with an absolute ``path`` and a ``sha256``."""
    if files is not None:
        path = files.resolve(ck.run_id, ck.path)
    else:
        path = Path(ck.path)
        if not path.is_absolute():
            return False, (f"relative path {path}: read it against its run's folder "
                           "(verify(..., files=RunFiles(root)))")
    return _verify_file(path, ck.sha256, expected_keys)


def _verify_file(path: Path, sha256: str | None,
                 expected_keys: Sequence[str] | None) -> tuple[bool, str]:
    if not path.exists():
        return False, f"missing: {path} does not exist"
    if sha256:
        try:
            digest = sha256_file(path)
        except OSError as exc:
            return False, f"unreadable: {exc}"
        if digest != sha256:
            return False, f"sha256 mismatch: recorded {sha256[:12]}…, file {digest[:12]}…"
    if path.is_dir():
        if not any(path.iterdir()):
            return False, "empty folder"
        return True, "ok (folder)"
    if path.stat().st_size == 0:
        return False, "empty file"
    ext = path.suffix
    loaded: Any = None
    how = ""
    if ext in TORCH_EXTS and not _torch_like(path):
        if sha256:
            return True, "ok (raw bytes, sha256 matches)"
        if ext == BYTES_EXT:
            return True, "ok (raw bytes, no hash recorded)"
        return False, "not a torch file (neither a zip archive nor a pickle)"
    if ext == ".npy":
        import numpy as np

        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
        except Exception as exc:
            return False, f"numpy cannot load it: {type(exc).__name__}: {exc}"
        del arr
        how = "loaded with numpy"
    elif ext == ".npz":
        import numpy as np

        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
                keys = list(npz.files)
                for k in keys:
                    npz[k]
        except Exception as exc:
            return False, f"numpy cannot load it: {type(exc).__name__}: {exc}"
        loaded, how = {k: None for k in keys}, "loaded with numpy"
    elif ext == ".safetensors":
        try:
            keys = _safetensors_keys(path)
        except ValueError as exc:
            return False, f"corrupt safetensors file: {exc}"
        loaded, how = {k: None for k in keys}, "loaded the safetensors header"
    elif ext in TORCH_EXTS:
        try:
            import torch
        except ImportError:
            torch = None  # type: ignore[assignment]
        if torch is None:
            if zipfile.is_zipfile(path):
                try:
                    with zipfile.ZipFile(path) as zf:
                        bad = zf.testzip()
                except (zipfile.BadZipFile, OSError) as exc:
                    return False, f"corrupt torch archive: {exc}"
                if bad is not None:
                    return False, f"corrupt torch archive member {bad}"
            how = "not loaded: torch is not installed"
        else:
            try:
                loaded = torch.load(path, weights_only=True, map_location="cpu")
            except Exception as exc:
                return False, f"torch cannot load it: {type(exc).__name__}: {exc}"[:500]
            how = "loaded with torch"
    if expected_keys:
        if not how.startswith("loaded"):
            return True, f"ok ({how or 'not loaded'}; keys not checked)"
        missing = _keys_missing(loaded, expected_keys)
        if missing is None:
            got = type(loaded).__name__
            return False, f"expected a dict with keys {list(expected_keys)}, got {got}"
        if missing:
            return False, f"missing keys: {', '.join(missing)}"
    return True, f"ok ({how})" if how else "ok"
