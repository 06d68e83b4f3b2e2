"""The store's methods, bound from its tables over any engine's core (``engine.Core``).

Each part (``run_rows``, ``metric_rows``, ``checkpoint_rows``…) takes the engine's
core; :class:`TableStore` holds them and offers their methods as its own, each wrapped by
the engine's ``guard`` (its failures that may pass leave as ``Unavailable``). The engines
(``SQLiteStore``, ``PostgresStore``) add where they are and what their files are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, Protocol, Self, TypeVar

from traindeck.runfiles import RunFiles

from . import batch_apply
from .batch_ledger import BatchLedger
from .batch_wire import Batch
from .checkpoint_rows import CheckpointTable
from .command_rows import CommandTable
from .engine import Core
from .event_rows import EventTable
from .feed_rows import ChangeFeed
from .host_rows import HostTable
from .launch_rows import LaunchTable
from .log_rows import LogTable
from .logged_model_rows import LoggedModelTable
from .media_rows import MediaTable
from .metric_rows import MetricTable
from .progress_rows import ProgressTable
from .project_rows import ProjectTable
from .rule_rows import RuleTable
from .run_rows import RunTable
from .run_table_rows import RunTableQueries
from .session_rows import SessionTable
from .token_rows import TokenTable

P = ParamSpec("P")
R = TypeVar("R")


class Guard(Protocol):
    """An engine's wrapper of every store method (its errors as store errors)."""

    def __call__(self, fn: Callable[P, R], /) -> Callable[P, R]: ...


class TableStore:
    """The ``Store`` methods of the tables over ``core``, each wrapped by ``guard``."""

    def __init__(self, core: Core, guard: Guard, run_table: RunTableQueries) -> None:
        self._core = core
        runs, metrics, events = RunTable(core), MetricTable(core), EventTable(core)
        commands, feed = CommandTable(core), ChangeFeed(core)
        checkpoints, tokens = CheckpointTable(core), TokenTable(core)
        logs, media = LogTable(core), MediaTable(core)
        self._ledger = BatchLedger(core)

        self.create_run = guard(runs.create_run)
        self.get_run = guard(runs.get_run)
        self.list_runs = guard(runs.list_runs)
        self.projects = guard(runs.projects)
        table = run_table
        self.query_runs = guard(table.query_runs)
        self.run_columns = guard(table.run_columns)
        self.group_runs = guard(table.group_runs)
        self.update_run = guard(runs.update_run)
        self.set_progress = guard(ProgressTable(core).set_progress)
        self.set_status = guard(runs.set_status)
        self.heartbeat = guard(runs.heartbeat)
        self.reap_stale = guard(runs.reap_stale)
        self.delete_run = guard(runs.delete_run)
        projects = ProjectTable(core)
        self.create_project = guard(projects.create_project)
        self.get_project = guard(projects.get_project)
        self.find_project = guard(projects.find_project)
        self.list_projects = guard(projects.list_projects)

        self.write_metrics = guard(metrics.write_metrics)
        self.write_metrics_many = guard(metrics.write_metrics_many)
        self.metric_keys = guard(metrics.metric_keys)
        self.latest = guard(metrics.latest)
        self.read_buckets = guard(metrics.read_buckets)
        self.read_points = guard(metrics.read_points)
        self.read_points_many = guard(metrics.read_points_many)
        self.compact_metrics = guard(metrics.compact_metrics)

        self.add_event = guard(events.add_event)
        self.list_events = guard(events.list_events)
        self.create_command = guard(commands.create_command)
        self.get_command = guard(commands.get_command)
        self.list_commands = guard(commands.list_commands)
        self.has_pending_commands = guard(commands.has_pending_commands)
        self.take_pending_commands = guard(commands.take_pending_commands)
        self.finish_command = guard(commands.finish_command)

        self.current_seq = guard(feed.current_seq)
        self.changes_since = guard(feed.changes_since)

        self.add_checkpoint = guard(checkpoints.add_checkpoint)
        self.get_checkpoint = guard(checkpoints.get_checkpoint)
        self.list_checkpoints = guard(checkpoints.list_checkpoints)
        self.mark_best = guard(checkpoints.mark_best)
        self.set_checkpoint_valid = guard(checkpoints.set_checkpoint_valid)
        self.delete_checkpoint = guard(checkpoints.delete_checkpoint)

        self.write_log_lines = guard(logs.write_log_lines)
        self.last_log_seq = guard(logs.last_log_seq)
        self.read_log_lines = guard(logs.read_log_lines)
        self.add_media = guard(media.add_media)
        self.get_media = guard(media.get_media)
        self.list_media = guard(media.list_media)
        self.media_keys = guard(media.media_keys)

        self.create_token = guard(tokens.create_token)
        self.list_tokens = guard(tokens.list_tokens)
        self.get_token = guard(tokens.get_token)
        self.revoke_token = guard(tokens.revoke_token)
        self.has_tokens = guard(tokens.has_tokens)
        self.verify_token = guard(tokens.verify_token)
        sessions = SessionTable(core)
        self.create_session = guard(sessions.create_session)
        self.verify_session = guard(sessions.verify_session)
        self.end_session = guard(sessions.end_session)
        self.list_sessions = guard(sessions.list_sessions)

        launches = LaunchTable(core)
        self.create_launch = guard(launches.create_launch)
        self.get_launch = guard(launches.get_launch)
        self.list_launches = guard(launches.list_launches)
        self.update_launch = guard(launches.update_launch)

        hosts = HostTable(core)
        self.add_host = guard(hosts.add_host)
        self.get_host = guard(hosts.get_host)
        self.list_hosts = guard(hosts.list_hosts)
        self.remove_host = guard(hosts.remove_host)
        self.note_host_check = guard(hosts.note_host_check)

        models = LoggedModelTable(core)
        self.create_logged_model = guard(models.create_logged_model)
        self.get_logged_model = guard(models.get_logged_model)
        self.list_logged_models = guard(models.list_logged_models)
        self.update_logged_model = guard(models.update_logged_model)
        self.delete_logged_model = guard(models.delete_logged_model)

        rules = RuleTable(core)
        self.create_rule = guard(rules.create_rule)
        self.get_rule = guard(rules.get_rule)
        self.list_rules = guard(rules.list_rules)
        self.delete_rule = guard(rules.delete_rule)
        self.rules_version = guard(rules.rules_version)
        self.create_webhook = guard(rules.create_webhook)
        self.list_webhooks = guard(rules.list_webhooks)
        self.delete_webhook = guard(rules.delete_webhook)
        self.new_points = guard(rules.new_points)
        self.list_alerts = guard(rules.list_alerts)

        self.schema_version = guard(core.schema_version)
        self.wait_for_writes = guard(core.wait_for_writes)
        self.lead = guard(core.lead)
        self.close = core.close
        self._guard = guard

    @property
    def clock(self) -> Callable[[], float]:
        return self._core.clock

    @property
    def engine_core(self) -> Core:
        """The engine's connections and transactions (``migrate`` copies rows through it)."""
        return self._core

    # -- what each engine says of itself -------------------------------------------------

    @property
    def files_root(self) -> Path:
        raise NotImplementedError

    @property
    def location(self) -> str:
        raise NotImplementedError

    def is_engine_file(self, path: str | Path) -> bool:
        raise NotImplementedError

    def engine_version(self) -> str:
        raise NotImplementedError

    def apply_batch(self, run_id: str, batch: Batch, files: RunFiles | None = None) -> bool:
        return self._guard(batch_apply.apply_batch)(
            self, self._ledger, files or RunFiles(self.files_root), run_id, batch)

    def apply_batches(self, run_id: str, batches: Sequence[Batch],
                      files: RunFiles | None = None) -> int:
        return self._guard(batch_apply.apply_batches)(
            self, self._ledger, files or RunFiles(self.files_root), run_id, batches)

    def apply_many(self, items: Sequence[tuple[str, Sequence[Batch]]],
                   files: RunFiles | None = None) -> list[int]:
        return self._guard(batch_apply.apply_many)(
            self, self._ledger, files or RunFiles(self.files_root), items)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
