"""The store interface: what the server, the SDK and the CLI call, whatever the engine.

``open_store(url)`` returns one; ``SQLiteStore`` is the engine today, and a PostgreSQL
engine implements the same methods. Every method raises the errors of ``errors.py`` only:
``NotFound``, ``Conflict``, ``InvalidInput`` (``TooLarge``), and ``Unavailable`` when the
engine is busy or away (nothing was written; retry later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self

from traindeck.runfiles import RunFiles

from .batch_wire import Batch
from .chunks import Points
from .logged_models import LoggedModel
from .models import (
    Changes,
    Checkpoint,
    Command,
    CompactResult,
    Event,
    Host,
    Launch,
    LogLine,
    Media,
    MetricWrite,
    Project,
    Run,
    RunProgress,
    SeriesInfo,
)
from .rollup import Buckets
from .rule_rows import NewPoints
from .rules import Alert, Rule, Webhook
from .run_query import Column, RunGroup, RunPage, RunQuery, SortKey
from .sessions import Session
from .tokens import Token


class Store(Protocol):
    """A traindeck store. Thread-safe; one instance per process is enough."""

    # -- the store itself ---------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The store's clock (seconds since the epoch); injected in tests."""

    @property
    def files_root(self) -> Path:
        """Where run folders go by default (``RunFiles(store.files_root)``): for SQLite,
        the database file's folder."""

    @property
    def location(self) -> str:
        """Where the store is, for messages: a file path or a URL without its password."""

    def is_engine_file(self, path: str | Path) -> bool:
        """Whether ``path`` is one of the engine's own files (never served nor deleted)."""

    def engine_version(self) -> str:
        """The engine and its version, for ``traindeck version`` (``SQLite 3.45.1``)."""

    def schema_version(self) -> int: ...
    def close(self) -> None: ...

    # -- several processes over one store ------------------------------------------------

    def wait_for_writes(self, timeout: float) -> bool:
        """Block until another connection may have committed a write to this store
        (PostgreSQL: its NOTIFY; True), or ``timeout`` seconds pass (False). SQLite tells
        nothing: False at once, and a follower polls on its own clock."""

    def lead(self, role: str) -> bool:
        """Whether this process is, or now becomes, the only one doing ``role`` (reaping
        stale runs, evaluating rules) among those sharing the store: a lock held until
        the process exits or loses its connection, when another takes it at its next
        ask (PostgreSQL: a session advisory lock; SQLite: a file lock beside the file)."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, *, project: str, name: str | None = None, id: str | None = None,
                   status: str = "running", **fields: Any) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def list_runs(
        self, *, project: str | None = None, status: str | Sequence[str] | None = None,
        tag: str | None = None, search: str | None = None, sort: str = "created_at",
        descending: bool = True, limit: int = 100, offset: int = 0,
    ) -> tuple[list[Run], int]: ...
    def query_runs(self, query: RunQuery, *, sort: Sequence[SortKey] = (),
                   columns: Sequence[Column] = (), limit: int = 100,
                   offset: int = 0) -> RunPage:
        """The run table: runs matching a parsed query (``run_query``), sorted by any
        columns (nulls last), one page, the total, and each run's values of ``columns``."""
    def run_columns(self, query: RunQuery) -> tuple[list[str], list[str]]:
        """The metric keys and config keys (dotted leaves) of the runs matching."""
    def group_runs(self, query: RunQuery, by: Column,
                   columns: Sequence[Column] = ()) -> list[RunGroup]:
        """Runs matching grouped by a config key, status, project or tag, with the
        min/max/mean of each numeric column per group."""
    def projects(self) -> list[str]: ...
    def update_run(self, run_id: str, **fields: Any) -> Run: ...
    def set_progress(self, values: Sequence[RunProgress]) -> int:
        """Write the progress tracker's ``progress``, ``steps_per_s`` and ``eta_s`` of
        each run in one transaction (stamped: followers hear of them); runs gone are
        skipped; how many runs were asked for."""
    def set_status(self, run_id: str, status: str, **fields: Any) -> Run: ...
    def heartbeat(self, run_id: str, at: float | None = None) -> None: ...
    def reap_stale(self) -> list[str]: ...
    def delete_run(self, run_id: str) -> None: ...

    # -- projects: a stable number per name (registered with a project's first run) -------

    def create_project(self, name: str) -> Project:
        """Number a project that has none yet (``Conflict`` when it has one)."""
    def get_project(self, project_id: int) -> Project: ...
    def find_project(self, name: str) -> Project: ...
    def list_projects(self) -> list[Project]:
        """Every numbered project (runs or not), by number; ``default`` is 0."""

    # -- metrics ------------------------------------------------------------------------

    def write_metrics(
        self, run_id: str, series: Mapping[str, tuple[Any, Any, Any]], *,
        summary: Mapping[str, Any] | None = None, replace_summary: bool = False,
        heartbeat: float | None = None, batch_id: str | None = None,
    ) -> bool: ...
    def write_metrics_many(self, writes: Sequence[MetricWrite], *,
                           replace_summary: bool = False) -> None:
        """``write_metrics`` of several runs (one write a run) in one transaction, with a
        few statements in all."""
    def metric_keys(self, run_id: str) -> list[SeriesInfo]: ...
    def latest(self, run_id: str) -> dict[str, tuple[int, float, float]]: ...
    def read_buckets(
        self, run_id: str, key: str, *, n: int = 1000, step_min: int | None = None,
        step_max: int | None = None, time_min: float | None = None,
        time_max: float | None = None, x: str = "step",
    ) -> Buckets: ...
    def read_points(self, run_id: str, key: str, *, after_step: int | None = None,
                    step_max: int | None = None, limit: int | None = None) -> Points: ...
    def read_points_many(
        self, reads: Sequence[tuple[str, str, int | None]], *, limit: int | None = None,
    ) -> dict[tuple[str, str, int | None], Points]:
        """``read_points`` after a step of many ``(run_id, key, after_step)`` in one
        snapshot; series that do not exist are left out."""
    def compact_metrics(self, progress: Callable[[int, int], None] | None = None,
                        *, batch: int = 256) -> CompactResult:
        """Re-pack the metric chunks an older version wrote and make their coarse rollups;
        resumable, ``progress(done, total)`` as it goes."""

    # -- SDK batches (exactly once) -----------------------------------------------------

    def apply_batch(self, run_id: str, batch: Batch, files: RunFiles | None = None) -> bool:
        """Apply a checked batch whole, once; False when it was applied before. Media go
        under ``files`` (default: ``RunFiles(files_root)``)."""

    def apply_batches(self, run_id: str, batches: Sequence[Batch],
                      files: RunFiles | None = None) -> int:
        """Apply batches in order in one transaction; how many were new."""

    def apply_many(self, items: Sequence[tuple[str, Sequence[Batch]]],
                   files: RunFiles | None = None) -> list[int]:
        """``apply_batches`` for several runs' batches, all in one transaction (a server
        commits the requests that arrived together at once); how many were new, per
        item. One that fails fails them all: nothing is applied."""

    # -- events and commands ------------------------------------------------------------

    def add_event(self, run_id: str, kind: str,
                  payload: Mapping[str, Any] | None = None) -> int: ...
    def list_events(self, run_id: str, *, after_seq: int = 0, limit: int = 500,
                    kind: str | None = None) -> list[Event]: ...
    def create_command(self, run_id: str, name: str, args: Mapping[str, Any] | None = None,
                       *, requested_by: str | None = None) -> Command: ...
    def get_command(self, cmd_id: str) -> Command: ...
    def list_commands(self, run_id: str, *, status: str | None = None,
                      limit: int = 200) -> list[Command]: ...
    def has_pending_commands(self, run_id: str) -> bool: ...
    def take_pending_commands(self, run_id: str) -> list[Command]: ...
    def finish_command(self, cmd_id: str, *, ok: bool, result: Any = None,
                       error: str | None = None) -> Command: ...

    # -- the change feed ----------------------------------------------------------------

    def current_seq(self) -> tuple[int, int]: ...
    def changes_since(self, seq: int, event_seq: int, *, limit: int = 5000) -> Changes: ...

    # -- checkpoints --------------------------------------------------------------------

    def add_checkpoint(
        self, run_id: str, *, step: int, path: str, kind: str = "regular",
        metrics: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
        size: int | None = None, sha256: str | None = None, host: str | None = None,
        valid: bool | None = None, is_best: bool = False, id: str | None = None,
    ) -> Checkpoint: ...
    def get_checkpoint(self, ck_id: str) -> Checkpoint: ...
    def list_checkpoints(self, run_id: str, *, sort: str = "step", descending: bool = True,
                         limit: int | None = None, kind: str | None = None,
                         ) -> list[Checkpoint]: ...
    def mark_best(self, ck_id: str) -> Checkpoint: ...
    def set_checkpoint_valid(self, ck_id: str, valid: bool,
                             reason: str | None = None) -> Checkpoint: ...
    def delete_checkpoint(self, ck_id: str, reason: str | None = None) -> Checkpoint: ...

    # -- console lines and media --------------------------------------------------------

    def write_log_lines(self, run_id: str, lines: Iterable[tuple[float, str, str]]) -> int: ...
    def last_log_seq(self, run_id: str) -> int: ...
    def read_log_lines(self, run_id: str, *, after_seq: int | None = None,
                       before_seq: int | None = None, limit: int = 1000, q: str | None = None,
                       tail: int | None = None) -> list[LogLine]: ...
    def add_media(
        self, run_id: str, *, key: str, step: int, path: str, kind: str = "image",
        caption: str | None = None, width: int | None = None, height: int | None = None,
        size: int | None = None, write: Callable[[], object] | None = None,
    ) -> tuple[Media, bool]: ...
    def get_media(self, media_id: int) -> Media: ...
    def list_media(self, run_id: str, *, key: str | None = None, step_min: int | None = None,
                   step_max: int | None = None, limit: int = 1000) -> list[Media]: ...
    def media_keys(self, run_id: str) -> list[str]: ...

    # -- API tokens ---------------------------------------------------------------------

    def create_token(self, name: str, scope: str = "read", *,
                     run_id: str | None = None) -> tuple[Token, str]: ...
    def list_tokens(self, *, include_revoked: bool = True) -> list[Token]: ...
    def get_token(self, token_id: str) -> Token: ...
    def revoke_token(self, token_id: str) -> Token: ...
    def has_tokens(self, *, include_revoked: bool = False) -> bool: ...
    def verify_token(self, secret: str) -> Token | None: ...

    # -- login sessions (the dashboard's cookie) ------------------------------------------

    def create_session(self, token_id: str, max_age: float) -> tuple[Session, str]: ...
    def verify_session(self, secret: str) -> Token | None: ...
    def end_session(self, secret: str) -> bool: ...
    def list_sessions(self, token_id: str | None = None) -> list[Session]: ...

    # -- launches (the launcher's queue and processes) ------------------------------------

    def create_launch(self, *, run_id: str | None, spec: Mapping[str, Any],
                      executor: str = "local", status: str = "queued",
                      id: str | None = None) -> Launch: ...
    def get_launch(self, launch_id: str) -> Launch: ...
    def list_launches(self, *, run_id: str | None = None,
                      status: str | Sequence[str] | None = None,
                      limit: int = 1000) -> list[Launch]:
        """Launches matching the filters, oldest first (the queue's order)."""
    def update_launch(self, launch_id: str, **fields: Any) -> Launch:
        """Set ``status``, ``spec``, ``state`` (the executor's), ``pid``, ``exit_code``,
        ``restarts``, ``error``, ``started_at``, ``ended_at`` or ``run_id``."""

    # -- SSH hosts (``traindeck hosts``) -----------------------------------------------------

    def add_host(self, name: str, *, user: str, address: str, port: int = 22,
                 key_path: str | None = None, workdir: str = "traindeck") -> Host: ...
    def get_host(self, name: str) -> Host: ...
    def list_hosts(self) -> list[Host]: ...
    def remove_host(self, name: str) -> None: ...
    def note_host_check(self, name: str, error: str | None) -> Host: ...

    # -- MLflow's logged models (``logged_models.py``) ----------------------------------------

    def create_logged_model(self, *, project: str, run_id: str, name: str,
                            model_type: str | None = None,
                            params: Mapping[str, str] | None = None,
                            tags: Mapping[str, str] | None = None) -> LoggedModel:
        """A new ``pending`` model made by ``run_id`` (``NotFound``: no such run)."""
    def get_logged_model(self, model_id: str) -> LoggedModel: ...
    def list_logged_models(self, *, projects: Sequence[str] | None = None,
                           run_id: str | None = None) -> list[LoggedModel]:
        """Oldest first."""
    def update_logged_model(self, model_id: str, *, status: str | None = None,
                            params: Mapping[str, str] | None = None,
                            tags: Mapping[str, str] | None = None,
                            drop_tags: Sequence[str] = ()) -> LoggedModel: ...
    def delete_logged_model(self, model_id: str) -> None: ...

    # -- alert rules, webhooks and alerts (issue 12; checks in ``rules.py``) ----------------

    def create_rule(self, *, kind: str, project: str | None = None,
                    run_id: str | None = None, key: str | None = None,
                    params: Mapping[str, Any] | None = None, severity: str = "warning",
                    cooldown_s: float = 300.0) -> Rule:
        """A new rule, checked (``InvalidInput`` says why not), params completed."""
    def get_rule(self, rule_id: str) -> Rule: ...
    def list_rules(self, *, project: str | None = None,
                   run_id: str | None = None) -> list[Rule]: ...
    def delete_rule(self, rule_id: str) -> None: ...
    def rules_version(self) -> int:
        """Changes whenever a rule or webhook is added or removed (by anyone)."""
    def create_webhook(self, url: str, format: str = "json") -> Webhook: ...
    def list_webhooks(self) -> list[Webhook]: ...
    def delete_webhook(self, webhook_id: str) -> None: ...
    def new_points(self, reads: Sequence[tuple[str, str, int | None]], *,
                   limit: int = 10_000) -> dict[tuple[str, str], NewPoints]:
        """``(steps, values)`` of many series after a step each, in one snapshot (the rule
        evaluator)."""
    def list_alerts(self, *, after_seq: int = 0, before_seq: int | None = None,
                    limit: int = 100, project: str | None = None) -> list[Alert]:
        """Events of kind ``alert`` with their run's name and project, newest first."""
