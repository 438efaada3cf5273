"""The alert lifecycle as pure decisions: no I/O, the clock is an argument.

Given a rule, the values of its conditions' metrics, the rule's open event (if any) and ``now``,
:func:`decide` says what happens::

    breach?  open event                          decision
    -------  ----------------------------------  --------------------------------------------
    yes      none                                open    a new event, "firing" notifications
    yes      active, repeat interval elapsed     remind  "reminder" notifications
    yes      active, interval not elapsed        none
    yes      acknowledged                        none    (acknowledged events get no reminders)
    no       active or acknowledged              resolve resolved_at = now, "resolved" notices
    no       none                                none

A breach needs every condition to hold; a condition whose metric has no data (``None``) does
not hold. :class:`Decision` carries the event row as it must be after the decision, so the
engine only persists it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from llmops.alerts.metrics import MetricValue
from llmops.models.alerts import AlertCondition, AlertEvent, AlertEventDetails, AlertRule

__all__ = [
    "FREQUENCY_INTERVALS",
    "ConditionResult",
    "Decision",
    "DecisionKind",
    "NoticeKind",
    "compare",
    "decide",
    "is_due",
    "next_due",
]

DecisionKind = Literal["open", "remind", "resolve", "none"]
NoticeKind = Literal["firing", "reminder", "resolved"]

FREQUENCY_INTERVALS: dict[str, timedelta] = {
    "immediate": timedelta(0),
    "every_5min": timedelta(minutes=5),
    "every_15min": timedelta(minutes=15),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
}

_NOTICES: dict[str, NoticeKind] = {"open": "firing", "remind": "reminder", "resolve": "resolved"}
_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "ne": "!="}


def compare(operator: str, value: float, threshold: float) -> bool:
    """``value <operator> threshold``; ``eq``/``ne`` compare with a relative tolerance of 1e-9."""
    if operator == "gt":
        return value > threshold
    if operator == "gte":
        return value >= threshold
    if operator == "lt":
        return value < threshold
    if operator == "lte":
        return value <= threshold
    equal = math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)
    if operator == "eq":
        return equal
    if operator == "ne":
        return not equal
    raise ValueError(f"operator: unknown operator {operator!r}")


def is_due(rule: AlertRule, last_evaluated_at: datetime | None, now: datetime) -> bool:
    """Whether ``rule`` should be evaluated at ``now``: active, and its frequency's interval has
    passed since its last evaluation (``immediate``: always)."""
    if not rule.is_active:
        return False
    return last_evaluated_at is None or now >= next_due(rule, last_evaluated_at)


def next_due(rule: AlertRule, last_evaluated_at: datetime) -> datetime:
    """When ``rule`` is next due: its last evaluation plus its frequency's interval."""
    return last_evaluated_at + FREQUENCY_INTERVALS[rule.frequency]


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """One condition, the value its metric had, and whether it held."""

    condition: AlertCondition
    metric: MetricValue
    holds: bool

    def describe(self) -> str:
        c = self.condition
        shown = "no data" if self.metric.value is None else f"{self.metric.value:g}"
        where = ""
        if self.metric.by_provider and self.metric.value is not None:
            worst = [p for p, v in self.metric.by_provider.items() if v == self.metric.value]
            where = f" ({', '.join(sorted(worst))})"
        return (
            f"{c.metric} {c.effective_aggregation} over {c.time_window} min = {shown}{where} "
            f"({_SYMBOLS[c.operator]} {c.value:g}: {'yes' if self.holds else 'no'})"
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What an evaluation decided; ``event`` is the event row as it must be stored afterwards
    (None when there is no open event and none is opened)."""

    kind: DecisionKind
    breached: bool
    results: tuple[ConditionResult, ...]
    reason: str
    event: AlertEvent | None = None

    @property
    def notice(self) -> NoticeKind | None:
        """The notification the decision calls for, if any."""
        return _NOTICES.get(self.kind)

    @property
    def summary(self) -> str:
        return "; ".join(r.describe() for r in self.results)


def _details(rule: AlertRule, results: Sequence[ConditionResult]) -> AlertEventDetails:
    providers = {
        r.metric.metric: dict(r.metric.by_provider) for r in results if r.metric.by_provider
    }
    extra = {"providers": providers} if providers else {}
    return AlertEventDetails(
        metrics={r.metric.metric: r.metric.value for r in results},
        conditions=list(rule.conditions),
        environment=rule.environment,
        **extra,
    )


def decide(
    rule: AlertRule,
    metrics: Sequence[MetricValue],
    open_event: AlertEvent | None,
    now: datetime,
) -> Decision:
    """The lifecycle decision for ``rule`` at ``now`` (see the module docstring)."""
    if len(metrics) != len(rule.conditions):
        raise ValueError(
            f"metrics: expected {len(rule.conditions)} values (one per condition), got "
            f"{len(metrics)}"
        )
    results = tuple(
        ConditionResult(c, m, m.value is not None and compare(c.operator, m.value, c.value))
        for c, m in zip(rule.conditions, metrics, strict=True)
    )
    breached = all(r.holds for r in results)
    if open_event is not None and open_event.status == "resolved":
        open_event = None
    if not breached:
        if open_event is None:
            return Decision("none", False, results, "no breach")
        resolved = open_event.model_copy(update={"status": "resolved", "resolved_at": now})
        return Decision("resolve", False, results, "condition cleared", resolved)
    if open_event is None:
        summary = "; ".join(r.describe() for r in results)
        event = AlertEvent(
            rule_id=_rule_id(rule),
            rule_name=rule.name,
            severity=rule.severity,
            message=f"{rule.name} ({rule.environment}, {rule.type}): {summary}"[:4000],
            details=_details(rule, results),
            environment=rule.environment,
            triggered_at=now,
            status="active",
            last_notified_at=now,
        )
        return Decision("open", True, results, "new breach", event)
    if open_event.status == "acknowledged":
        return Decision("none", True, results, "breach continues; event acknowledged", open_event)
    if rule.repeat_interval_minutes is None:
        return Decision("none", True, results, "breach continues; reminders off", open_event)
    last = open_event.last_notified_at or open_event.triggered_at
    due = last + timedelta(minutes=rule.repeat_interval_minutes)
    if now < due:
        return Decision(
            "none",
            True,
            results,
            f"breach continues; next reminder at {due.isoformat()}",
            open_event,
        )
    reminded = open_event.model_copy(
        update={"last_notified_at": now, "reminder_count": open_event.reminder_count + 1}
    )
    return Decision("remind", True, results, "breach continues; reminder due", reminded)


def _rule_id(rule: AlertRule) -> UUID:
    if rule.id is None:
        raise ValueError("rule: a stored rule (with an id) is needed to raise events")
    return rule.id
