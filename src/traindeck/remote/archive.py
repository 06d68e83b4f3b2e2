"""Code and data in one upload: named folders packed into one deterministic .tar.gz.

Thousands of small files sent one by one over SFTP are slow; one compressed archive is not.
``pack`` scans the folders first (so the total is known for a progress bar), then streams
them into one gzip'd tar (compressed in parallel blocks, ``compressor.py``). The archive is
deterministic: entries sorted by name, fixed mtime, uid/gid 0 and no user names, modes
reduced to 0644/0755, gzip headers without name or time; packing the same content twice
gives the same bytes (with the same zlib).

Two hashes, for two jobs:

* ``fingerprint``: the content's identity — sha256 over every entry's name, kind, mode, size
  and content sha256 (or link target), in sorted order. It needs no archive and does not
  depend on the compressor, so it is stable across machines, runs and zlib versions. It
  decides "already uploaded": the remote folder is named after it (``fingerprint()`` first;
  when the host has ``ROOT/FINGERPRINT``, nothing is packed or sent).
* ``Packed.sha256``: the archive file's own sha256, which the remote side checks before
  extracting (``extract_command``), so a truncated or corrupted upload is refused.

What goes in: each source folder under its name (``code``, ``data/NAME``), minus what its
.gitignore files (root and nested, see ``ignore.py``) and the exclude list (same grammar,
applied last, so ``!x`` there re-includes) leave out; ``.git``, ``.venv``, ``__pycache__/``
and ``*.pyc`` are always left out. Symlinks are never followed: one that resolves inside its
folder is stored as a relative link; one that resolves outside is refused (``ArchiveError``
naming it) rather than silently skipped, because the run would then fail on the host with a
missing file — add it to the excludes, or copy what it points to. Sockets, FIFOs and devices
are skipped and listed in ``Packed.skipped``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import stat
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

from traindeck.remote.compressor import ParallelGzip
from traindeck.remote.ignore import Matcher, parse

__all__ = ["ALWAYS_EXCLUDED", "ArchiveError", "Packed", "Progress", "extract_command",
           "fingerprint", "pack"]

#: Left out of every archive, whatever the .gitignore says (cannot be re-included).
ALWAYS_EXCLUDED = (".git", ".venv", "__pycache__/", "*.pyc")
#: gzip level 1: on mixed data it is several times faster than the default 9 for a few
#: percent more bytes, and the link, not the CPU, should be what an upload waits for
#: (blocks that do not compress are stored, and blocks are compressed in parallel:
#: ``compressor.py``).
GZIP_LEVEL = 1
#: Every entry's mtime (2000-01-01); ``extract_command`` extracts with ``-m`` (now) anyway.
FIXED_MTIME = 946684800
CHUNK = 1 << 20
_FORMAT_TAG = b"traindeck-archive-v1\n"
_SHA256 = re.compile(r"[0-9a-f]{64}")

#: ``progress(done_bytes, total_bytes)``: file bytes packed so far, of the scan's total.
Progress = Callable[[int, int], None]
Sources = Mapping[str, "str | os.PathLike[str]"]


class ArchiveError(Exception):
    """A folder cannot be packed as asked (a link out of it, a file changed, a bad name)."""


@dataclass(frozen=True)
class _Entry:
    name: str  # the name in the archive, e.g. "code/train.py"
    kind: Literal["dir", "file", "link"]
    path: Path | None = None  # on disk (files only)
    mode: int = 0o755
    size: int = 0
    target: str = ""  # links only


@dataclass(frozen=True)
class Packed:
    """An archive ``pack`` wrote: ``size`` is the archive's bytes, ``total_bytes`` the
    packed files' bytes before compression."""

    path: Path
    sha256: str
    fingerprint: str
    size: int
    files: int
    total_bytes: int
    skipped: tuple[str, ...] = field(default=())


def _check_names(sources: Sources) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, folder in sources.items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ArchiveError(f"source name {name!r} must be a relative path like 'data/x'")
        path = Path(folder)
        if not path.is_dir():
            raise ArchiveError(f"source {name!r}: {path} is not a folder")
        out[name] = path
    for a in out:
        for b in out:
            if a != b and b.startswith(a + "/"):
                raise ArchiveError(f"source names {a!r} and {b!r} overlap")
    return out


def _link_entry(root: Path, entry: os.DirEntry[str], name: str, rel: str) -> _Entry:
    """A symlink kept as a relative link, or ArchiveError when it resolves outside."""
    target = os.readlink(entry.path)
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(entry.path)
    if os.path.commonpath([real_root, resolved]) != real_root:
        raise ArchiveError(
            f"{entry.path} is a symlink to {target}, outside {root}: links are not followed "
            "out of a folder; exclude it or copy what it points to")
    lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    if os.path.isabs(target) or lexical == ".." or lexical.startswith("../"):
        # inside, but absolute or by a detour outside: relative to the link, to work anywhere
        target = os.path.relpath(resolved, os.path.realpath(os.path.dirname(entry.path)))
    return _Entry(name, "link", mode=0o777, target=target)


def _walk(name: str, root: Path, excludes: Matcher, always: Matcher,
          entries: list[_Entry], skipped: list[str]) -> None:
    stack: list[tuple[Path, str, Matcher]] = [(root, "", Matcher())]
    while stack:
        folder, rel, rules = stack.pop()
        gitignore = folder / ".gitignore"
        if gitignore.is_file() and not gitignore.is_symlink():
            text = gitignore.read_text(encoding="utf-8", errors="replace")
            rules = rules.extended(parse(text.splitlines(), base=rel))
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            crel = f"{rel}/{child.name}" if rel else child.name
            is_link = child.is_symlink()
            is_dir = not is_link and child.is_dir(follow_symlinks=False)
            verdict = excludes.decide(crel, is_dir)  # the exclude list comes last: it wins
            if verdict is None:
                verdict = rules.decide(crel, is_dir)
            if always.ignored(crel, is_dir) or verdict:
                continue
            arc = f"{name}/{crel}"
            if is_link:
                entries.append(_link_entry(root, child, arc, crel))
            elif is_dir:
                entries.append(_Entry(arc, "dir"))
                stack.append((Path(child.path), crel, rules))
            elif child.is_file(follow_symlinks=False):
                st = child.stat(follow_symlinks=False)
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                entries.append(_Entry(arc, "file", Path(child.path), mode, st.st_size))
            else:
                skipped.append(arc)


def _scan(sources: Sources, excludes: Iterable[str]) -> tuple[list[_Entry], list[str]]:
    """Every entry to pack, sorted by archive name, and the special files left out."""
    folders = _check_names(sources)
    exclude_rules = Matcher.from_lines(excludes)
    always = Matcher.from_lines(ALWAYS_EXCLUDED)
    entries: list[_Entry] = []
    skipped: list[str] = []
    prefixes = {"/".join(n.split("/")[:i + 1]) for n in folders for i in range(n.count("/") + 1)}
    entries.extend(_Entry(p, "dir") for p in prefixes)
    for name, root in folders.items():
        _walk(name, root, exclude_rules, always, entries, skipped)
    entries.sort(key=lambda e: e.name)
    return entries, sorted(skipped)


def _record(entry: _Entry, digest: str) -> bytes:
    """One entry's line in the fingerprint (JSON: unambiguous for any name)."""
    value = entry.target if entry.kind == "link" else digest
    return json.dumps([entry.name, entry.kind, entry.mode, entry.size, value]).encode() + b"\n"


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fingerprint(sources: Sources, excludes: Iterable[str] = ()) -> str:
    """The content hash ``pack`` would report for these sources, without writing an archive
    (reads every file once). Same content, names and modes → same value, on any machine."""
    entries, _ = _scan(sources, excludes)
    h = hashlib.sha256(_FORMAT_TAG)
    for entry in entries:
        digest = _file_sha256(entry.path) if entry.kind == "file" and entry.path else ""
        h.update(_record(entry, digest))
    return h.hexdigest()


class _HashingWriter:
    """The archive file, hashed as it is written (no second read)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


class _FileReader:
    """One file as tarfile reads it: hashed, counted for progress, and checked to still be
    the size the scan saw."""

    def __init__(self, entry: _Entry, f: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self.entry, self.f, self.on_bytes = entry, f, on_bytes
        self.sha256 = hashlib.sha256()
        self.left = entry.size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        if len(data) < n:
            raise ArchiveError(f"{self.entry.path} shrank while it was being packed")
        self.left -= len(data)
        self.sha256.update(data)
        self.on_bytes(len(data))
        return data


def _tarinfo(entry: _Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "link":
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    else:
        info.size = entry.size
    return info


def pack(sources: Sources, dest: str | os.PathLike[str], *, excludes: Iterable[str] = (),
         progress: Progress | None = None, level: int = GZIP_LEVEL,
         threads: int | None = None) -> Packed:
    """Pack ``sources`` (archive name → folder, e.g. ``{"code": ..., "data/mnist": ...}``)
    into one .tar.gz at ``dest``, written beside it and renamed into place when complete.
    ``progress(done, total)`` is called as file bytes are packed, first with 0 and last with
    ``total`` (known from a scan before packing starts). ``level`` is the gzip level (0
    stores: for a link faster than the CPU); ``threads`` compress blocks in parallel
    (default: the cores, up to 8); neither changes ``fingerprint``."""
    entries, skipped = _scan(sources, excludes)
    total = sum(e.size for e in entries)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None and n:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    content = hashlib.sha256(_FORMAT_TAG)
    try:
        with tmp.open("wb") as raw:
            out = _HashingWriter(raw)
            gz = ParallelGzip(out, level, threads=threads)
            try:
                # "w|" streams: tarfile only ever calls write() on the file object.
                with tarfile.open(fileobj=cast("IO[bytes]", gz), mode="w|",
                                  format=tarfile.PAX_FORMAT) as tar:
                    for entry in entries:
                        content.update(_record(entry, _add(tar, entry, on_bytes)))
                gz.close()
            finally:
                gz.abort()
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Packed(dest, out.sha256.hexdigest(), content.hexdigest(), out.size,
                  sum(1 for e in entries if e.kind == "file"), total, tuple(skipped))


def _add(tar: tarfile.TarFile, entry: _Entry, on_bytes: Callable[[int], None]) -> str:
    """Write one entry; the file's content sha256 ("" for folders and links)."""
    if entry.kind != "file" or entry.path is None:
        tar.addfile(_tarinfo(entry))
        return ""
    with entry.path.open("rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveError(f"{entry.path} is no longer a regular file")
        reader = _FileReader(entry, f, on_bytes)
        tar.addfile(_tarinfo(entry), reader)
        if f.read(1):
            raise ArchiveError(f"{entry.path} grew while it was being packed")
    return reader.sha256.hexdigest()


def extract_command(archive: str, target: str, sha256: str, *,
                    remove_archive: bool = False) -> str:
    """A POSIX sh command for the host: do nothing when ``target`` exists (already
    extracted); else check ``archive`` against ``sha256`` (``sha256sum``, or ``shasum -a
    256``), refuse a mismatch on stderr with exit 3, extract with ``tar -xzmf`` into
    ``TARGET.partial.PID`` and rename it to ``target``, so a half-extracted folder never
    has the final name. Name ``target`` after ``Packed.fingerprint``."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    a, t = shlex.quote(archive), shlex.quote(target)
    rm = f' && rm -f {a}' if remove_archive else ""
    return (
        f'a={a}; t={t}; h={sha256}; '
        'if [ -d "$t" ]; then echo "traindeck: $t is already there"; exit 0; fi; '
        'if [ ! -f "$a" ]; then echo "traindeck: archive $a is missing" >&2; exit 2; fi; '
        'if command -v sha256sum >/dev/null 2>&1; then g=$(sha256sum "$a"); '
        'else g=$(shasum -a 256 "$a"); fi || exit 2; g=${g%% *}; '
        'if [ "$g" != "$h" ]; then echo "traindeck: archive $a is corrupt: sha256 $g, '
        'expected $h; upload it again" >&2; exit 3; fi; '
        'p="$t.partial.$$"; rm -rf "$p"; mkdir -p "$p" || exit 4; '
        'if ! tar -xzmf "$a" -C "$p"; then rm -rf "$p"; '
        'echo "traindeck: could not extract $a" >&2; exit 4; fi; '
        # Another extraction may have won the race: mv then puts $p inside $t; drop it.
        'mv "$p" "$t" || { rm -rf "$p"; exit 4; }; '
        'if [ -d "$t/${p##*/}" ]; then rm -rf "$t/${p##*/}"; fi; '
        f'echo "traindeck: extracted $a to $t"{rm}'
    )
