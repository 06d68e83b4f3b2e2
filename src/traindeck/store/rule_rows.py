"""Rules, webhooks and the alert listing of the SQLite store (the checks are ``rules``'s).

Every change to ``rules`` or ``webhooks`` bumps ``meta.rules_seq``: a server's evaluator
reads that one number to learn that its rules changed, whoever changed them (its API, the
CLI writing the store, another server).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .chunk_rows import read_points
from .chunks import Window
from .codec import dumps_str, loads
from .engine import Core, WriteTx
from .errors import InvalidInput, NotFound
from .ids import new_id
from .rules import DEFAULT_COOLDOWN_S, Alert, Rule, Webhook, check_rule, check_webhook

_RULE_COLS: Final = "id, project, run_id, kind, key, params, severity, cooldown_s, created_at"
_HOOK_COLS: Final = "id, url, format, created_at"
#: What ``new_points`` answers per series: steps and values, by step.
NewPoints = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]
#: Most alerts one listing returns.
MAX_ALERTS: Final = 1000


def _rule(r: Sequence[Any]) -> Rule:
    return Rule(id=r[0], project=r[1], run_id=r[2], kind=r[3], key=r[4],
                params=loads(r[5], {}), severity=r[6], cooldown_s=float(r[7]),
                created_at=r[8])


def _hook(r: Sequence[Any]) -> Webhook:
    return Webhook(id=r[0], url=r[1], format=r[2], created_at=r[3])


def _bump(tx: WriteTx) -> None:
    tx.execute("UPDATE meta SET value = value + 1 WHERE key = 'rules_seq'")


class RuleTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    # -- rules ---------------------------------------------------------------------------

    def create_rule(self, *, kind: str, project: str | None = None, run_id: str | None = None,
                    key: str | None = None, params: Mapping[str, Any] | None = None,
                    severity: str = "warning",
                    cooldown_s: float = DEFAULT_COOLDOWN_S) -> Rule:
        key, full = check_rule(kind=kind, project=project, run_id=run_id, key=key,
                               params=params, severity=severity, cooldown_s=cooldown_s)
        now = self._core.clock()
        with self._core.write() as tx:
            if run_id is not None and tx.execute(
                    "SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise InvalidInput(f"no run {run_id!r}")
            row = tx.execute(
                f"INSERT INTO rules ({_RULE_COLS}) VALUES (?,?,?,?,?,?,?,?,?) "
                f"RETURNING {_RULE_COLS}",
                (new_id(now), project, run_id, kind, key, dumps_str(full), severity,
                 float(cooldown_s), now)).fetchone()
            _bump(tx)
        return _rule(row)

    def get_rule(self, rule_id: str) -> Rule:
        row = self._core.reader().execute(
            f"SELECT {_RULE_COLS} FROM rules WHERE id = ?", (rule_id,)).fetchone()
        if row is None:
            raise NotFound(f"no rule {rule_id!r}")
        return _rule(row)

    def list_rules(self, *, project: str | None = None,
                   run_id: str | None = None) -> list[Rule]:
        sql, args = f"SELECT {_RULE_COLS} FROM rules WHERE 1 = 1", []
        if project is not None:
            sql += " AND project = ?"
            args.append(project)
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        rows = self._core.reader().execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_rule(r) for r in rows]

    def delete_rule(self, rule_id: str) -> None:
        with self._core.write() as tx:
            if tx.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount == 0:
                raise NotFound(f"no rule {rule_id!r}")
            _bump(tx)

    def rules_version(self) -> int:
        """A number that changes whenever a rule or a webhook is added or removed."""
        row = self._core.reader().execute(
            "SELECT value FROM meta WHERE key = 'rules_seq'").fetchone()
        return 0 if row is None else int(row[0])

    # -- webhooks ------------------------------------------------------------------------

    def create_webhook(self, url: str, format: str = "json") -> Webhook:
        check_webhook(url, format)
        now = self._core.clock()
        with self._core.write() as tx:
            row = tx.execute(
                f"INSERT INTO webhooks ({_HOOK_COLS}) VALUES (?,?,?,?) RETURNING {_HOOK_COLS}",
                (new_id(now), url, format, now)).fetchone()
            _bump(tx)
        return _hook(row)

    def list_webhooks(self) -> list[Webhook]:
        rows = self._core.reader().execute(
            f"SELECT {_HOOK_COLS} FROM webhooks ORDER BY created_at, id").fetchall()
        return [_hook(r) for r in rows]

    def delete_webhook(self, webhook_id: str) -> None:
        with self._core.write() as tx:
            if tx.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 0:
                raise NotFound(f"no webhook {webhook_id!r}")
            _bump(tx)

    # -- what the evaluator reads --------------------------------------------------------

    def new_points(self, reads: Sequence[tuple[str, str, int | None]], *,
                   limit: int = 10_000) -> dict[tuple[str, str], NewPoints]:
        """The ``(steps, values)`` of many series after a step each (``None``: from the
        first), at most ``limit`` per series, in one snapshot (series gone are left out):
        the chunks are found in the summary indexes and read by key from the table holding
        each (``chunk_rows.read_points``)."""
        out: dict[tuple[str, str], NewPoints] = {}
        with self._core.read() as conn:
            for run_id, key, after in reads:
                row = conn.execute("SELECT id FROM series WHERE run_id = ? AND key = ?",
                                   (run_id, key)).fetchone()
                if row is None:
                    continue
                lo = None if after is None else after + 1
                p = read_points(conn, int(row[0]), Window("step", lo, None), limit)
                if len(p):
                    out[(run_id, key)] = (p.steps, p.values)
        return out

    # -- alerts (events of kind ``alert``) -------------------------------------------------

    def list_alerts(self, *, after_seq: int = 0, before_seq: int | None = None,
                    limit: int = 100, project: str | None = None) -> list[Alert]:
        """Alerts with ``after_seq < seq < before_seq``, newest first."""
        if not 0 < limit <= MAX_ALERTS:
            raise InvalidInput(f"limit must be 1 to {MAX_ALERTS}")
        sql = ("SELECT e.seq, e.run_id, r.name, r.project, e.time, e.payload FROM events e "
               "JOIN runs r ON r.id = e.run_id WHERE e.kind = 'alert' AND e.seq > ?")
        args: list[Any] = [after_seq]
        if before_seq is not None:
            sql += " AND e.seq < ?"
            args.append(before_seq)
        if project is not None:
            sql += " AND r.project = ?"
            args.append(project)
        try:
            rows = self._core.reader().execute(
                sql + " ORDER BY e.seq DESC LIMIT ?", [*args, limit]).fetchall()
        except OverflowError:
            raise InvalidInput("after_seq/before_seq out of range") from None
        return [Alert(seq=r[0], run_id=r[1], run_name=r[2], project=r[3], time=r[4],
                      payload=loads(r[5], {})) for r in rows]
