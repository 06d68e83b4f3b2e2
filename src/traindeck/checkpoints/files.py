"""Writing checkpoint files so that a crash never leaves half a file under a real name.

``atomic_write(path, writer)`` lets ``writer`` fill a temporary name in the same folder
(``.<name>.tmp-<pid>-<random><ext>``, which no checkpoint parser reads; it ends in the
target's extension, so that writers which add their own, like ``numpy.savez`` adding
``.npz``, keep the name they were given), fsyncs it, renames it over ``path`` and fsyncs
the folder. A writer that still adds an extension (``numpy.save`` adds ``.npy`` to any
other name) is followed to the file it wrote. A SIGKILL at any moment leaves either the old state or
the whole new file, plus at worst a stray temp file that ``remove_stale_temps`` clears.
Each checkpoint gets a sidecar ``<name>.json`` with its metadata, written the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ..store.codec import jsonable

_CHUNK: Final = 1 << 20
TEMP_RE: Final = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]+(?:\.[^.]*)*$")
SIDECAR_EXT: Final = ".json"
TORCH_EXTS: Final = frozenset({".pth", ".pt", ".ckpt", ".bin"})
#: The default extension of a checkpoint saved from raw bytes (neutral: it says nothing
#: of what is inside, and verification checks its hash only unless it is a torch file).
BYTES_EXT: Final = ".bin"


def _iter_files(path: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            yield Path(root) / f


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file; of a folder, over its files' relative paths and contents."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in _iter_files(p):
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(sha256_file(f)))
        return h.hexdigest()
    with open(p, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def path_size(path: str | os.PathLike[str]) -> int:
    """Bytes of a file, or of all files in a folder."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in _iter_files(p))
    return p.stat().st_size


def _fsync_path(path: Path) -> None:
    if path.is_dir():
        for f in _iter_files(path):
            _fsync_path(f)
        fsync_dir(path)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink in ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A hidden name beside ``path`` that ends in the same extension."""
    return path.with_name(
        f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _written(tmp: Path) -> Path | None:
    """What the writer made of ``tmp``: ``tmp`` itself, or ``tmp`` plus an extension the
    writer added (the only such file)."""
    if os.path.lexists(tmp):
        return tmp
    try:
        extra = [p for p in tmp.parent.iterdir()
                 if p.name.startswith(tmp.name + ".") and p.name != tmp.name]
    except OSError:
        return None
    return extra[0] if len(extra) == 1 else None


def _remove_temps(tmp: Path) -> None:
    remove_path(tmp)
    try:
        for p in tmp.parent.iterdir():
            if p.name.startswith(tmp.name + "."):
                remove_path(p)
    except OSError:
        pass


def remove_path(path: str | os.PathLike[str]) -> bool:
    """Delete a checkpoint file or folder; False if it was not there."""
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    except FileNotFoundError:
        return False
    return True


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp)`` to write a file (or a folder) at a temporary name next to
    ``path``, fsync it, rename it to ``path`` and fsync the folder. On any failure the
    temporary is removed and ``path`` is untouched."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    try:
        writer(tmp)
        made = _written(tmp)
        if made is None:
            raise FileNotFoundError(f"the checkpoint writer did not create {tmp.name} "
                                    f"(or one file beginning with it) in {tmp.parent}")
        if made != tmp:
            os.replace(made, tmp)
        _fsync_path(tmp)
        if tmp.is_dir() and target.exists():
            # A folder cannot be renamed over another: move the old one aside first.
            old = temp_name(target)
            os.rename(target, old)
            os.rename(tmp, target)
            remove_path(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove_temps(tmp)
        raise
    fsync_dir(target.parent)
    return target


def write_bytes(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> Path:
    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, writer)


def save_object(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` atomically to ``path``: bytes as they are, a callable as
    ``obj(tmp_path)`` (it writes the file itself: ``numpy.savez``, ``torch.save``,
    ``safetensors.*.save_file``, ``pickle.dump`` into ``open(tmp_path, "wb")`` all work),
    anything else with ``torch.save`` (or, for a ``.npz`` name, ``numpy.savez`` of a dict
    of arrays)."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return write_bytes(path, obj)
    if callable(obj) and not hasattr(obj, "state_dict"):
        return atomic_write(path, obj)
    if Path(path).suffix == ".npz":
        import numpy as np

        def save_npz(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **dict(obj))

        return atomic_write(path, save_npz)
    try:
        import torch
    except ImportError as exc:
        raise TypeError(
            "save_checkpoint() without torch takes bytes or a writer(path) callable, "
            f"got {type(obj).__name__}") from exc

    def save_torch(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)

    return atomic_write(path, save_torch)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + SIDECAR_EXT)


def write_sidecar(path: str | os.PathLike[str], info: Mapping[str, Any]) -> Path:
    data = json.dumps(jsonable(dict(info)), indent=2, sort_keys=True, allow_nan=True).encode()
    return write_bytes(sidecar_path(path), data + b"\n")


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete temporaries a killed writer left in ``folder`` (not those of live writers in
    this process... nor of other live processes: the pid in the name must be gone)."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = TEMP_RE.match(p.name)
        if m is None:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        if remove_path(p):
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
