"""The files a remote launch produced, found by pattern and downloaded into the run's
artifacts.

Found on the host by a small Python script (the launch's interpreter, stdlib only) under the
launch's folder: files matching :data:`DEFAULT_PATTERNS` or the template's
``remote.results`` (a pattern without ``/`` matches a file's name at any depth, one with
``/`` its path relative to the command's folder, as in the template, or to the launch
folder; ``*`` also crosses ``/``), with their sizes and sha256. Left out: the executor's
own ``.td`` folder, the shared ``data`` (a link, never followed), and files under
``code/`` that are the archive's own, untouched (same content as the extracted upload):
only what the run made or changed comes home.

Downloaded to ``<run>/artifacts/<path>``; a file already there with the same sha256 is not
downloaded again, and every download is checked against the host's sha256.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from traindeck.remote.errors import SSHError
from traindeck.remote.ssh import SSHLink

DEFAULT_PATTERNS: Final = ("*.pt", "*.pth", "*.ckpt", "*.safetensors")
#: ``progress(bytes done, bytes in all)`` over every file to download.
Progress = Callable[[int, int], None]

_LIST_SCRIPT: Final = r"""
import fnmatch, hashlib, json, os, sys
root, original, patterns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
def wanted(name, rel):
    code = rel[len("code/"):] if rel.startswith("code/") else None
    return any(fnmatch.fnmatchcase(name, p) if "/" not in p else
               fnmatch.fnmatchcase(rel, p) or (code is not None and fnmatch.fnmatchcase(code, p))
               for p in patterns)
out = []
for folder, dirs, files in os.walk(root):
    if folder == root:
        dirs[:] = [d for d in dirs if d != ".td"]
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if os.path.islink(path) or not os.path.isfile(path) or not wanted(name, rel):
            continue
        size, digest = os.path.getsize(path), sha(path)
        if rel.startswith("code/"):
            orig = os.path.join(original, rel[len("code/"):])
            if os.path.isfile(orig) and os.path.getsize(orig) == size and sha(orig) == digest:
                continue
        out.append({"path": rel, "size": size, "sha256": digest})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class ResultFile:
    """One produced file: its path under the launch folder, size, sha256, and whether this
    call downloaded it (``False``: the same file was in the artifacts already)."""

    path: str
    size: int
    sha256: str
    downloaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_results(link: SSHLink, python: str, folder: str, original_code: str,
                 patterns: Iterable[str]) -> list[ResultFile]:
    """The produced files under ``folder`` on the host (see the module docstring)."""
    wanted = [*DEFAULT_PATTERNS, *(str(p) for p in patterns)]
    command = " ".join(shlex.quote(a) for a in (
        python, "-c", _LIST_SCRIPT, folder, original_code, json.dumps(wanted)))
    done = link.run(command, timeout=600)
    if done.exit_status != 0:
        raise SSHError(f"could not list the results on {link.target.name}: "
                       f"{done.stderr.strip()[-500:] or done.exit_status}")
    try:
        found = json.loads(done.stdout)
        return [ResultFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in found]
    except (ValueError, KeyError, TypeError):
        raise SSHError(f"could not list the results on {link.target.name}: unexpected "
                       f"answer {done.stdout[:200]!r}") from None


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _local_path(dest: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("", ".", "..") for p in parts) or rel.startswith("/"):
        raise SSHError(f"a result file has a strange path: {rel!r}")
    return dest.joinpath(*parts)


def download_results(link: SSHLink, folder: str, files: list[ResultFile], dest: Path, *,
                     progress: Progress | None = None) -> list[ResultFile]:
    """Download ``files`` (from :func:`list_results`) into ``dest``, skipping those already
    there with the same sha256; each download is checked against its sha256."""
    todo = []
    out: list[ResultFile] = []
    for f in files:
        local = _local_path(dest, f.path)
        if local.is_file() and local.stat().st_size == f.size and _sha256(local) == f.sha256:
            out.append(f)
        else:
            todo.append((f, local))
    total = sum(f.size for f, _ in todo)
    done = 0
    if progress is not None:
        progress(0, total)
    for f, local in todo:
        local.parent.mkdir(parents=True, exist_ok=True)
        before = done

        def step(now: int, _all: int, before: int = before) -> None:
            if progress is not None:
                progress(before + now, total)

        link.get(f"{folder}/{f.path}", local, progress=step)
        if _sha256(local) != f.sha256:
            local.unlink(missing_ok=True)
            raise SSHError(f"the download of {f.path} from {link.target.name} does not match "
                           "its sha256 (the file changed meanwhile?); it is fetched again "
                           "next time")
        done += f.size
        out.append(ResultFile(f.path, f.size, f.sha256, downloaded=True))
    if progress is not None and todo:
        progress(total, total)
    out.sort(key=lambda r: r.path)
    return out
