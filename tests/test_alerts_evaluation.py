"""The alert lifecycle decisions (llmops.alerts.evaluation): pure, with a fake clock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from llmops.alerts.evaluation import compare, decide, is_due
from llmops.alerts.metrics import MetricValue
from llmops.models.alerts import AlertEvent, AlertRule

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def rule(**changes: object) -> AlertRule:
    data: dict[str, object] = {
        "id": uuid.uuid4(),
        "name": "errors",
        "environment": "production",
        "type": "error_rate",
        "severity": "high",
        "repeat_interval_minutes": 30,
        "conditions": [
            {"metric": "error_rate", "operator": "gt", "value": 5, "timeWindow": 15},
            {"metric": "request_count", "operator": "gte", "value": 10, "timeWindow": 15},
        ],
    }
    data.update(changes)
    return AlertRule.model_validate(data)


RULE = rule()


def values(error_rate: float | None, requests: float = 100) -> list[MetricValue]:
    return [
        MetricValue("error_rate", "avg", 15, error_rate),
        MetricValue("request_count", "count", 15, requests),
    ]


@dataclass
class Step:
    at_minutes: float
    error_rate: float | None
    expect: str
    requests: float = 100
    acknowledge: bool = False


def run(steps: Sequence[Step], r: AlertRule = RULE) -> list[tuple[str, AlertEvent | None]]:
    """Feed each step's metrics to decide() at its fake time, keeping the event as stored."""
    event: AlertEvent | None = None
    seen = []
    for step in steps:
        now = T0 + timedelta(minutes=step.at_minutes)
        if step.acknowledge and event is not None:
            event = event.model_copy(update={"status": "acknowledged", "acknowledged_at": now})
        d = decide(r, values(step.error_rate, step.requests), event, now)
        assert d.kind == step.expect, (step, d.reason)
        if d.kind == "open":
            assert d.event is not None
            event = d.event.model_copy(update={"id": uuid.uuid4()})
        elif d.kind in ("remind", "resolve"):
            event = d.event
        seen.append((d.kind, event))
        if d.kind == "resolve":
            event = None
    return seen


SCENARIOS = {
    "fires once, no duplicate while active": [
        Step(0, 12.0, "open"),
        Step(1, 15.0, "none"),
        Step(2, 50.0, "none"),
    ],
    "reminder after the repeat interval and not before": [
        Step(0, 12.0, "open"),
        Step(29.9, 12.0, "none"),
        Step(30, 12.0, "remind"),
        Step(45, 12.0, "none"),
        Step(60, 12.0, "remind"),
    ],
    "acknowledged gets no reminder but still resolves": [
        Step(0, 12.0, "open"),
        Step(10, 12.0, "none", acknowledge=True),
        Step(90, 12.0, "none"),
        Step(95, 1.0, "resolve"),
    ],
    "auto-resolve when the condition clears": [
        Step(0, 12.0, "open"),
        Step(5, 4.0, "resolve"),
        Step(6, 4.0, "none"),
    ],
    "a new breach after resolution is a new event": [
        Step(0, 12.0, "open"),
        Step(5, 1.0, "resolve"),
        Step(10, 20.0, "open"),
    ],
    "no data is no breach": [
        Step(0, None, "none", requests=0),
        Step(1, None, "none", requests=0),
    ],
    "no data resolves an open event": [
        Step(0, 12.0, "open"),
        Step(5, None, "resolve", requests=0),
    ],
    "every condition must hold (too few calls)": [
        Step(0, 50.0, "none", requests=3),
        Step(1, 50.0, "open", requests=10),
    ],
    "at the threshold a strict gt does not fire": [
        Step(0, 5.0, "none"),
        Step(1, 5.000001, "open"),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_lifecycle(steps: list[Step]) -> None:
    """Each scenario's sequence of decisions is exactly the expected one."""
    run(steps)


def test_open_event_carries_rule_severity_metrics_and_conditions() -> None:
    """A new event snapshots the rule name, its severity, the metric values and conditions."""
    d = decide(RULE, values(12.5), None, T0)
    assert d.kind == "open" and d.breached and d.event is not None
    e = d.event
    assert (e.rule_id, e.rule_name, e.severity, e.status) == (RULE.id, "errors", "high", "active")
    assert e.triggered_at == T0 and e.last_notified_at == T0 and e.environment == "production"
    assert e.details.metrics == {"error_rate": 12.5, "request_count": 100}
    assert e.details.conditions == RULE.conditions
    assert "error_rate avg over 15 min = 12.5" in e.message
    assert d.notice == "firing"


def test_reminder_counts_and_moves_last_notified() -> None:
    """A reminder increments reminder_count and sets last_notified_at to now."""
    seen = run([Step(0, 9, "open"), Step(30, 9, "remind"), Step(60, 9, "remind")])
    event = seen[-1][1]
    assert event is not None
    assert event.reminder_count == 2 and event.last_notified_at == T0 + 60 * MIN


def test_resolve_sets_resolved_at() -> None:
    """Resolution sets status resolved and resolved_at = now, keeping triggered_at."""
    seen = run([Step(0, 9, "open"), Step(7, 0, "resolve")])
    event = seen[-1][1]
    assert event is not None
    assert event.status == "resolved" and event.resolved_at == T0 + 7 * MIN
    assert event.triggered_at == T0


def test_reminders_off_when_interval_is_null() -> None:
    """repeat_interval_minutes None: a long breach never reminds."""
    quiet = rule(repeat_interval_minutes=None)
    run([Step(0, 9, "open"), Step(600, 9, "none"), Step(6000, 9, "none")], quiet)


def test_per_provider_metric_names_the_worst_provider() -> None:
    """A per-provider metric decides on the worst provider and the message names it."""
    r = rule(
        type="provider_failure",
        conditions=[
            {"metric": "provider_failures", "operator": "gte", "value": 3, "timeWindow": 5}
        ],
    )
    m = MetricValue("provider_failures", "count", 5, 4.0, {"openai": 4.0, "google": 1.0})
    d = decide(r, [m], None, T0)
    assert d.kind == "open" and d.event is not None
    assert "(openai)" in d.event.message
    assert d.event.details.model_dump()["providers"] == {
        "provider_failures": {"openai": 4.0, "google": 1.0}
    }


@pytest.mark.parametrize(
    ("op", "value", "threshold", "expected"),
    [
        ("gt", 2, 1, True), ("gt", 1, 1, False), ("gte", 1, 1, True), ("gte", 0.9, 1, False),
        ("lt", 0, 1, True), ("lt", 1, 1, False), ("lte", 1, 1, True), ("lte", 1.1, 1, False),
        ("eq", 0.1 + 0.2, 0.3, True), ("eq", 1, 2, False), ("ne", 1, 2, True), ("ne", 2, 2, False),
    ],
)  # fmt: skip
def test_compare(op: str, value: float, threshold: float, expected: bool) -> None:
    """Each operator compares value to threshold as its name says (eq tolerates float noise)."""
    assert compare(op, value, threshold) is expected


@pytest.mark.parametrize(
    ("frequency", "since_last", "due"),
    [
        ("immediate", 0, True), ("every_5min", 4.99, False), ("every_5min", 5, True),
        ("every_15min", 14, False), ("every_15min", 15, True), ("hourly", 59, False),
        ("hourly", 60, True), ("daily", 1439, False), ("daily", 1440, True),
    ],
)  # fmt: skip
def test_is_due(frequency: str, since_last: float, due: bool) -> None:
    """A rule is due once its frequency's interval has passed since its last evaluation."""
    r = rule(frequency=frequency)
    assert is_due(r, T0, T0 + since_last * MIN) is due


def test_never_evaluated_is_due_and_disabled_never() -> None:
    """A rule never evaluated is due; a disabled rule never is."""
    assert is_due(rule(frequency="daily"), None, T0)
    assert not is_due(rule(is_active=False), None, T0)


def test_metric_count_must_match_conditions() -> None:
    """decide() refuses a metrics list that does not match the conditions one to one."""
    with pytest.raises(ValueError, match="metrics"):
        decide(RULE, values(1)[:1], None, T0)
