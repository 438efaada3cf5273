"""AlertEngine: the thin I/O shell around :mod:`llmops.alerts.evaluation`.

One rule is evaluated in one transaction::

    SELECT the rule ... FOR UPDATE          replicas evaluating the same rule queue here
    is it due? (alert_rule_evaluations)     a replica that waited finds it already evaluated
    measure its metrics (SQL)
    read its open event
    decide (pure)  ->  insert / update the event, last_triggered, last_evaluated_at
    COMMIT
    notify the rule's actions               only after the commit; failures are recorded in
                                            the event's details and never stop the engine

A database error anywhere before the commit rolls everything back: no alert state changes and
nothing is sent. The partial unique index ``idx_alert_events_one_open_per_rule`` (sql/004) is a
second guarantee that a rule never has two open events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from llmops.alerts.evaluation import Decision, DecisionKind, NoticeKind, decide, is_due
from llmops.alerts.metrics import measure
from llmops.alerts.notifiers import (
    DeliveryFailed,
    Notification,
    Notifier,
    default_notifiers,
)
from llmops.errors import ConfigError, DatabaseUnavailable, LLMOpsError, NotFound
from llmops.models.alerts import AlertEvent, AlertRule
from llmops.store import PostgresStore
from llmops.store._table import Conn

__all__ = ["AlertEngine", "DeliveryResult", "EvaluationOutcome", "OutcomeKind"]

logger = logging.getLogger("llmops.alerts")

OutcomeKind = Literal["open", "remind", "resolve", "none", "skipped", "error"]

MAX_RECORDED_DELIVERIES = 50
"""Delivery results kept in an event's details (the most recent)."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one notification to one action of a rule."""

    action: int
    type: str
    notice: NoticeKind
    ok: bool
    attempts: int
    at: datetime
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "type": self.type,
            "notice": self.notice,
            "ok": self.ok,
            "attempts": self.attempts,
            "at": self.at.isoformat(),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    """What one evaluation of one rule did."""

    rule_id: UUID
    rule_name: str
    environment: str
    kind: OutcomeKind
    reason: str
    breached: bool = False
    event_id: UUID | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    deliveries: tuple[DeliveryResult, ...] = ()


def _describe(exc: BaseException) -> str:
    """An error in one line; a ValidationError by field and message only (its input values
    could hold a secret written by another tool)."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlertEngine:
    """Evaluates alert rules against the logs in ``store`` and notifies their actions.

    ``notifiers`` maps an action type (slack, webhook, email, log) to its notifier (default:
    :func:`llmops.alerts.notifiers.default_notifiers`); ``clock`` returns an aware datetime.
    """

    def __init__(
        self,
        store: PostgresStore,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.notifiers: dict[str, Notifier] = dict(
            default_notifiers() if notifiers is None else notifiers
        )
        self.clock = clock

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate_due(
        self, *, environment: str | None = None, types: Sequence[str] | None = None
    ) -> list[EvaluationOutcome]:
        """One pass: evaluate every active rule (of ``environment``/``types``) that is due.

        Raises :class:`DatabaseUnavailable` when the rules cannot even be listed; anything that
        goes wrong with one rule is that rule's ``error`` outcome and the pass goes on.
        """
        return [
            self._evaluate(rule_id, only_if_due=True)
            for rule_id in self._candidates(environment, types)
        ]

    def evaluate_now(
        self, *, environment: str | None = None, types: Sequence[str] | None = None
    ) -> list[EvaluationOutcome]:
        """Evaluate the matching active rules at once, whatever their frequency (the path of
        immediate alerts from the router); same locking and deduplication as a pass."""
        return [
            self._evaluate(rule_id, only_if_due=False)
            for rule_id in self._candidates(environment, types)
        ]

    def evaluate_rule(self, rule_id: UUID) -> EvaluationOutcome:
        """Evaluate one rule now, whatever its frequency."""
        return self._evaluate(rule_id, only_if_due=False)

    def _candidates(self, environment: str | None, types: Sequence[str] | None) -> list[UUID]:
        """Ids of the active rules to look at (each is loaded, validated and locked later)."""
        query = "SELECT id FROM alert_rules WHERE is_active"
        params: list[Any] = []
        if environment is not None:
            query += " AND environment = %s"
            params.append(environment)
        if types is not None:
            query += " AND type = ANY(%s)"
            params.append(list(types))
        try:
            with self.store.connection() as conn:
                rows = conn.execute(query + " ORDER BY created_at, id", params).fetchall()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailable(f"alerts: cannot list rules: {reason}") from exc
        return [row[0] for row in rows]

    def _evaluate(self, rule_id: UUID, *, only_if_due: bool) -> EvaluationOutcome:
        try:
            with self.store.transaction() as conn:
                rows = self.store.alert_rules.select({"id": rule_id}, for_update=True, conn=conn)
                if not rows or not rows[0].is_active:
                    return EvaluationOutcome(rule_id, "", "", "skipped", "rule gone or disabled")
                rule = rows[0]
                now = self.clock()
                last = self._last_evaluated(conn, rule_id)
                if only_if_due and not is_due(rule, last, now):
                    return EvaluationOutcome(
                        rule_id, rule.name, rule.environment, "skipped", "not due"
                    )
                metrics = measure(conn, rule, now)
                decision = decide(rule, metrics, self._open_event(conn, rule_id), now)
                event = self._persist(conn, rule, decision, now)
        except (psycopg.Error, LLMOpsError, ValidationError) as exc:
            # the transaction rolled back: no alert state changed, nothing was sent
            reason = f"{type(exc).__name__}: {_describe(exc)}"
            logger.error("alert rule %s: evaluation failed, state unchanged: %s", rule_id, reason)
            return EvaluationOutcome(rule_id, "", "", "error", reason)
        outcome_metrics = {m.metric: m.value for m in metrics}
        deliveries: tuple[DeliveryResult, ...] = ()
        if decision.notice is not None and event is not None:
            deliveries = self._notify(rule, event, decision.notice, decision.summary)
        return EvaluationOutcome(
            rule.id or rule_id,
            rule.name,
            rule.environment,
            decision.kind,
            decision.reason,
            decision.breached,
            event.id if event is not None else None,
            outcome_metrics,
            deliveries,
        )

    @staticmethod
    def _last_evaluated(conn: Conn, rule_id: UUID) -> datetime | None:
        row = conn.execute(
            "SELECT last_evaluated_at FROM alert_rule_evaluations WHERE rule_id = %s", (rule_id,)
        ).fetchone()
        return None if row is None else row[0]

    def _open_event(self, conn: Conn, rule_id: UUID) -> AlertEvent | None:
        """The rule's active or acknowledged event (at most one: see the partial unique index)."""
        repo = self.store.alert_events
        query = sql.SQL("SELECT {} FROM alert_events WHERE rule_id = %s AND status <> 'resolved'")
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                query.format(sql.SQL(", ").join(map(sql.Identifier, repo.columns))), (rule_id,)
            )
            row = cur.fetchone()
        return None if row is None else repo.from_row(row)

    def _persist(
        self, conn: Conn, rule: AlertRule, decision: Decision, now: datetime
    ) -> AlertEvent | None:
        assert rule.id is not None
        kind: DecisionKind = decision.kind
        event = decision.event
        if kind == "open" and event is not None:
            event = self.store.alert_events.insert(event, conn=conn)
            conn.execute("UPDATE alert_rules SET last_triggered = %s WHERE id = %s", (now, rule.id))
        elif kind == "remind" and event is not None and event.id is not None:
            event = self.store.alert_events.update(
                event.id,
                {
                    "last_notified_at": event.last_notified_at,
                    "reminder_count": event.reminder_count,
                },
                conn=conn,
            )
        elif kind == "resolve" and event is not None and event.id is not None:
            event = self.store.alert_events.update(
                event.id, {"status": "resolved", "resolved_at": event.resolved_at}, conn=conn
            )
        conn.execute(
            "INSERT INTO alert_rule_evaluations (rule_id, last_evaluated_at) VALUES (%s, %s) "
            "ON CONFLICT (rule_id) DO UPDATE SET last_evaluated_at = EXCLUDED.last_evaluated_at",
            (rule.id, now),
        )
        return event

    # -- events -------------------------------------------------------------------------------

    def acknowledge(self, event_id: UUID) -> AlertEvent:
        """Mark an active event acknowledged: it gets no more reminders, and still resolves."""
        with self.store.transaction() as conn:
            event = self._lock_event(conn, event_id)
            if event.status == "resolved":
                raise ConfigError(f"alert event {event_id} is already resolved")
            if event.status == "acknowledged":
                return event
            return self.store.alert_events.update(
                event_id, {"status": "acknowledged", "acknowledged_at": self.clock()}, conn=conn
            )

    def resolve(self, event_id: UUID, *, notify: bool = True) -> AlertEvent:
        """Resolve an event by hand (resolved notices go out unless ``notify`` is False).
        A breach that is still there opens a new event at the next evaluation."""
        with self.store.transaction() as conn:
            event = self._lock_event(conn, event_id)
            if event.status == "resolved":
                raise ConfigError(f"alert event {event_id} is already resolved")
            event = self.store.alert_events.update(
                event_id, {"status": "resolved", "resolved_at": self.clock()}, conn=conn
            )
            rule = self.store.alert_rules.find(event.rule_id, conn=conn)
        if notify and rule is not None:
            self._notify(rule, event, "resolved", "resolved by hand")
        return event

    def _lock_event(self, conn: Conn, event_id: UUID) -> AlertEvent:
        rows = self.store.alert_events.select(
            {"id": event_id}, order_by=(), for_update=True, conn=conn
        )
        if not rows:
            raise NotFound(f"no alert event with id {event_id}")
        return rows[0]

    # -- delivery -----------------------------------------------------------------------------

    def _notify(
        self, rule: AlertRule, event: AlertEvent, notice: NoticeKind, summary: str
    ) -> tuple[DeliveryResult, ...]:
        notification = Notification(notice, rule, event, summary, self.clock())
        results = []
        for i, action in enumerate(rule.actions):
            if notice == "resolved" and not action.notify_resolved:
                continue
            notifier = self.notifiers.get(action.type)
            at = self.clock()
            if notifier is None:
                results.append(
                    DeliveryResult(i, action.type, notice, False, 0, at, "no notifier configured")
                )
                continue
            try:
                attempts = notifier.send(action, notification)
                results.append(DeliveryResult(i, action.type, notice, True, attempts, at))
            except DeliveryFailed as exc:
                results.append(
                    DeliveryResult(i, action.type, notice, False, exc.attempts, at, str(exc))
                )
            except ConfigError as exc:  # e.g. the env: variable of a secret is not set
                results.append(DeliveryResult(i, action.type, notice, False, 0, at, str(exc)))
            except Exception as exc:  # a notifier's bug must not stop the engine
                logger.exception("alert delivery via %s failed unexpectedly", action.type)
                results.append(
                    DeliveryResult(i, action.type, notice, False, 0, at, type(exc).__name__)
                )
        for r in results:
            if not r.ok:
                logger.warning(
                    "alert %s (%s): %s delivery to action %d failed: %s",
                    rule.name,
                    notice,
                    r.type,
                    r.action,
                    r.error,
                )
        if results and event.id is not None:
            self._record_deliveries(event.id, results)
        return tuple(results)

    def _record_deliveries(self, event_id: UUID, results: Sequence[DeliveryResult]) -> None:
        try:
            with self.store.transaction() as conn:
                row = conn.execute(
                    "SELECT details FROM alert_events WHERE id = %s FOR UPDATE", (event_id,)
                ).fetchone()
                if row is None:
                    return
                details: dict[str, Any] = dict(row[0] or {})
                recorded = list(details.get("deliveries") or [])
                recorded += [r.as_json() for r in results]
                details["deliveries"] = recorded[-MAX_RECORDED_DELIVERIES:]
                conn.execute(
                    "UPDATE alert_events SET details = %s WHERE id = %s",
                    (Jsonb(details), event_id),
                )
        except psycopg.Error as exc:
            logger.error("alert event %s: could not record deliveries: %s", event_id, exc)
