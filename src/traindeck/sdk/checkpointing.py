"""Checkpoints from inside the training script: the machinery behind the ``Run`` methods.

``Run.save_checkpoint`` writes the file in the training thread, atomically (temp name,
fsync, rename), and writes its sidecar; hashing, the store row, the best mark and retention
happen on the run's background thread, so a multi-GB file never delays ``log()``.
``Run.on_checkpoint(fn)`` registers the script's one save handler: the dashboard's
``checkpoint`` button and the emergency save (SIGTERM, SIGINT, an uncaught exception) both
call it. ``resume_or_create`` finds a run by project and name and continues it.
"""

from __future__ import annotations

import inspect
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..checkpoints import (
    DEFAULT_EXT,
    DEFAULT_TEMPLATE,
    BestSpec,
    format_name,
    is_new_best,
    parse_best,
    parse_name,
    path_size,
    prune,
    read_sidecar,
    remove_stale_temps,
    save_object,
    sha256_file,
    sort_by_step,
    verify,
    write_sidecar,
)
from ..checkpoints.verify import KEY_FAILURES
from ..store import CHECKPOINT_KINDS, Checkpoint
from ..store.codec import jsonable

if TYPE_CHECKING:
    from .run import Run

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
        folder = Path(checkpoint_dir).expanduser() if checkpoint_dir is not None else None
        return cls(folder, template, spec, keep_last, keep_best)


def _clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (metrics or {}).items():
        try:
            out[str(k)] = v if isinstance(v, int | float) else float(v)
        except (TypeError, ValueError):
            out[str(k)] = jsonable(v)
    return out


class Checkpointer:
    """One per run (``run._checkpoints``)."""

    def __init__(self, run: Run, options: CheckpointOptions | None = None) -> None:
        self.run = run
        self.options = options or CheckpointOptions()
        self.handler: SaveHandler | None = None
        self.emergency_path: Path | None = None
        self._emergency_done = False
        self._emergency_step: int | None = None
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._host = socket.gethostname()
        self._swept = False

    # -- where -------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        if self.options.dir is not None:
            return self.options.dir
        if self.run.dir is not None:
            return self.run.dir / "checkpoints"
        return Path.cwd() / "checkpoints"

    def last_logged_step(self) -> int:
        return max(0, self.run._next_step - 1)

    @property
    def _tracked(self) -> bool:
        """Whether checkpoint rows can be recorded: a live run on a store that keeps them
        (a run sending to a server over HTTP keeps files and sidecars only, for now)."""
        return self.run._worker is not None and hasattr(self.run._store, "add_checkpoint")

    # -- saving ------------------------------------------------------------------

    def save(self, obj: Any, step: int | None, metrics: Mapping[str, Any] | None,
             metadata: Mapping[str, Any] | None, kind: str, ext: str | None) -> Path:
        if self._emergency_step is not None and kind == "regular":
            kind = "emergency"
            step = self._emergency_step if step is None else step
        step = self._check(step, kind)
        if ext is None:
            ext = DEFAULT_EXT
        name = format_name(step, KIND_SUFFIX[kind], self.options.template, ext)
        path = self.folder / name
        self._sweep()
        with self._lock:
            self._in_flight.add(str(path))
        try:
            save_object(obj, path)
        except BaseException:
            with self._lock:
                self._in_flight.discard(str(path))
            raise
        if kind == "emergency":
            self.emergency_path = path
        return self._register(path, step, metrics, metadata, kind)

    def log(self, path: str | os.PathLike[str], step: int | None,
            metrics: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
            kind: str) -> Path:
        if self._emergency_step is not None and kind == "regular":
            kind = "emergency"
            step = self._emergency_step if step is None else step
        p = Path(path).expanduser().absolute()
        if not p.exists():
            raise FileNotFoundError(f"log_checkpoint(): no file or folder {p}")
        if step is None:
            parsed = parse_name(p, self.options.template)
            step = parsed.step if parsed is not None else None
        step = self._check(step, kind)
        with self._lock:
            self._in_flight.add(str(p))
        return self._register(p, step, metrics, metadata, kind)

    def _sweep(self) -> None:
        """Once per run: delete temporaries that killed writers left in the folder."""
        if self._swept:
            return
        self._swept = True
        try:
            remove_stale_temps(self.folder)
        except OSError as exc:
            self.run._policy.report("clearing stale checkpoint temporaries", exc,
                                    raise_in_strict=False)

    def _check(self, step: int | None, kind: str) -> int:
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"unknown checkpoint kind {kind!r}; one of {CHECKPOINT_KINDS}")
        if step is None:
            return self.last_logged_step()
        if isinstance(step, bool) or not hasattr(step, "__index__") or int(step) < 0:
            raise ValueError(f"a checkpoint step is an integer >= 0, got {step!r}")
        return int(step.__index__())

    def _register(self, path: Path, step: int, metrics: Mapping[str, Any] | None,
                  metadata: Mapping[str, Any] | None, kind: str) -> Path:
        run = self.run
        mets = _clean_metrics(metrics)
        meta = jsonable(dict(metadata or {}))
        info: dict[str, Any] = {
            "step": step, "kind": kind, "metrics": mets, "metadata": meta,
            "time": time.time(), "host": self._host, "run_id": run.id,
            "project": run.project, "run_name": run.name, "file": path.name,
        }
        try:
            write_sidecar(path, info)
        except OSError as exc:
            run._policy.report("writing a checkpoint sidecar", exc, raise_in_strict=False)
        if not self._tracked:
            with self._lock:
                self._in_flight.discard(str(path))
            return path
        if kind == "emergency":
            # The process is about to end: hash now, in this thread, rather than race the
            # background thread's shutdown.
            digest = self._digest(path)
            run._submit("recording a checkpoint",
                        lambda: self._record(path, info, digest))
        else:
            run._submit("recording a checkpoint", lambda: self._record(path, info, None))
        return path

    def _digest(self, path: Path) -> tuple[int, str] | None:
        try:
            return path_size(path), sha256_file(path)
        except OSError as exc:
            self.run._policy.report("hashing a checkpoint", exc, raise_in_strict=False)
            return None

    def _record(self, path: Path, info: dict[str, Any],
                digest: tuple[int, str] | None) -> None:
        """Background thread: hash, add the row, mark best, apply retention. Never raises
        (a raising outbox call would hold up everything queued behind it)."""
        run = self.run
        try:
            if digest is None:
                digest = self._digest(path)
            size, sha = digest if digest is not None else (None, None)
            store = run._store
            opts = self.options
            current = None
            if opts.best is not None:
                current = next((c for c in store.list_checkpoints(run.id) if c.is_best), None)
            ck = store.add_checkpoint(
                run.id, step=info["step"], path=str(path), kind=info["kind"],
                metrics=info["metrics"], metadata=info["metadata"], size=size, sha256=sha,
                host=self._host,
            )
            best = opts.best is not None and is_new_best(ck, current, opts.best)
            if best:
                ck = store.mark_best(ck.id)
            if sha is not None:
                write_sidecar(path, {**info, "id": ck.id, "size": size, "sha256": sha,
                                     "is_best": best})
            with self._lock:
                self._in_flight.discard(str(path))
                protect = set(self._in_flight)
            if opts.keep_last is not None or opts.keep_best is not None:
                prune(store, run.id, keep_last=opts.keep_last, keep_best=opts.keep_best,
                      best=opts.best, protect=protect)
        except Exception as exc:
            run._policy.report("recording a checkpoint", exc, raise_in_strict=False)
        finally:
            with self._lock:
                self._in_flight.discard(str(path))

    # -- the save handler ----------------------------------------------------------

    def set_handler(self, fn: SaveHandler) -> None:
        if not callable(fn):
            raise TypeError("on_checkpoint() takes a function")
        self.handler = fn
        run = self.run
        if "checkpoint" not in run._handlers:
            def checkpoint(step: int | None = None) -> dict[str, Any]:
                s = self.last_logged_step() if step is None else step
                path = self.save(self._call(fn, s), s, None, {"reason": "command"},
                                 "regular", None)
                return {"path": str(path), "step": s}

            run.command("checkpoint")(checkpoint)

    @staticmethod
    def _call(fn: SaveHandler, step: int) -> Any:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        takes_step = "step" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        return fn(step=step) if takes_step else fn()

    def emergency(self, status: str) -> Path | None:
        """Call the save handler once, at the last logged step, as ``_emergency``.

        SIGTERM and SIGINT are ignored while it runs (a second Ctrl-C must not leave a half
        file), then the previous handlers come back."""
        if self.handler is None or self._emergency_done:
            return None
        self._emergency_done = True
        step = self.last_logged_step()
        restore: list[tuple[int, Any]] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    prev = signal.getsignal(sig)
                    if prev is not None:
                        signal.signal(sig, signal.SIG_IGN)
                        restore.append((sig, prev))
                except (ValueError, OSError):
                    pass
        self._emergency_step = step
        try:
            obj = self._call(self.handler, step)
            meta: dict[str, Any] = {"reason": status}
            if self.run._signal is not None:
                meta["signal"] = signal.Signals(self.run._signal).name
            if obj is not None:
                self.emergency_path = self.save(obj, step, None, meta, "emergency", None)
            return self.emergency_path
        except BaseException as exc:
            self.run._policy.report("the emergency checkpoint", exc if isinstance(
                exc, Exception) else RuntimeError(repr(exc)), raise_in_strict=False)
            return None
        finally:
            self._emergency_step = None
            for signum, prev in restore:
                try:
                    signal.signal(signum, prev)
                except (ValueError, OSError, TypeError):
                    pass

    # -- reading back --------------------------------------------------------------

    def list(self) -> list[Checkpoint]:
        if not self._tracked:
            return []
        self.run.flush()
        try:
            return self.run._store.list_checkpoints(self.run.id)
        except Exception as exc:
            self.run._policy.report("listing checkpoints", exc, raise_in_strict=False)
            return []

    def mark_best(self, which: str | os.PathLike[str] | int) -> Checkpoint | None:
        """Mark a recorded checkpoint (by path, or the newest at a step) as the best."""
        if not self._tracked:
            return None
        for ck in self.list():
            if isinstance(which, int):
                hit = ck.step == which and not isinstance(which, bool)
            else:
                hit = os.path.abspath(ck.path) == os.path.abspath(os.fspath(which))
            if hit:
                return self.run._store.mark_best(ck.id)
        raise ValueError(f"this run recorded no checkpoint {which!r}")

    def last(self, expected_keys: Sequence[str] | None = None) -> LastCheckpoint | None:
        """The newest checkpoint that verifies; invalid ones are flagged in the store."""
        run = self.run
        self._sweep()
        known = self.list()
        for ck in known:
            if ck.valid is False:
                continue
            ok, reason = verify(ck, expected_keys=expected_keys)
            try:
                if not ok and not reason.startswith(KEY_FAILURES):
                    # Keys the caller expects are its own test; only a broken file is
                    # flagged for everyone.
                    run._store.set_checkpoint_valid(ck.id, False, reason)
                elif ck.valid is None and expected_keys is None:
                    run._store.set_checkpoint_valid(ck.id, True, reason)
            except Exception as exc:
                run._policy.report("flagging a checkpoint", exc, raise_in_strict=False)
            if ok:
                return LastCheckpoint(Path(ck.path), ck.step, dict(ck.metadata))
        return self._last_on_disk(expected_keys, {os.path.abspath(c.path) for c in known})

    def _last_on_disk(self, expected_keys: Sequence[str] | None,
                      known: set[str]) -> LastCheckpoint | None:
        """Files in the checkpoint folder that the store does not know (written by a run
        without traindeck, or a store that was lost)."""
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return None
        for p in sort_by_step(entries, template=self.options.template, descending=True):
            if os.path.abspath(p) in known:
                continue
            side = read_sidecar(p) or {}
            sha = side.get("sha256") if isinstance(side.get("sha256"), str) else None
            ck = SimpleNamespace(path=str(p), sha256=sha)
            ok, _ = verify(ck, expected_keys=expected_keys)
            if ok:
                parsed = parse_name(p, self.options.template)
                step = parsed.step if parsed is not None else 0
                meta = side.get("metadata")
                return LastCheckpoint(Path(p), step, dict(meta) if isinstance(meta, dict) else {})
        return None


def resume_or_create(
    name: str,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    project: str | None = None,
    **init_kwargs: Any,
) -> Run:
    """Continue the newest run called ``name`` in ``project``, or start it.

    The run's ``is_resumed`` says which; ``run.last_checkpoint()`` gives the newest valid
    checkpoint to load. Metrics continue at their steps (re-logged steps replace, never
    duplicate)."""
    from ..store import open_store
    from .init import DEFAULT_DIR, init

    for bad in ("id", "resume", "name", "project"):
        if bad in init_kwargs:
            raise TypeError(f"resume_or_create() chooses {bad!r} itself")
    env = os.environ
    project = project or env.get("TRAINDECK_PROJECT") or "default"
    found = None
    if env.get("TRAINDECK_MODE", "").strip().lower() != "disabled":
        st = init_kwargs.get("store")
        owns = st is None
        try:
            if st is None:
                root = init_kwargs.get("dir") or env.get("TRAINDECK_DIR") or DEFAULT_DIR
                st = open_store(Path(root).expanduser())
            try:
                runs, _ = st.list_runs(project=project, search=name, limit=100_000)
                found = next((r for r in runs if r.name == name), None)
            finally:
                if owns:
                    st.close()
        except Exception:
            found = None  # init() reports a store it cannot open
    if found is not None:
        return init(project=project, name=name, id=found.id, resume="allow",
                    checkpoint_dir=checkpoint_dir, **init_kwargs)
    return init(project=project, name=name, checkpoint_dir=checkpoint_dir, **init_kwargs)
