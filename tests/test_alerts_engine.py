"""AlertEngine on a real PostgreSQL with a fake clock: lifecycle, locking, errors, delivery."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from llmops.alerts import AlertEngine, AlertRuleManager, DeliveryFailed, Notification
from llmops.alerts.immediate import ImmediateAlerts
from llmops.breaker import BreakerTransition
from llmops.models import UsageLog
from llmops.models.alerts import AlertAction, AlertRule
from llmops.store import PostgresStore

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


class Recorder:
    """A notifier that keeps what it was asked to send (and can be told to fail)."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[tuple[str, Notification]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, action: AlertAction, notification: Notification) -> int:
        with self._lock:
            self.sent.append((notification.kind, notification))
        if self.fail is not None:
            raise self.fail
        return 1

    @property
    def kinds(self) -> list[str]:
        return [k for k, _ in self.sent]


RULE: dict[str, Any] = {
    "name": "spend",
    "environment": "production",
    "type": "cost_threshold",
    "severity": "critical",
    "repeat_interval_minutes": 30,
    "conditions": [{"metric": "total_cost", "operator": "gt", "value": 10, "timeWindow": 60}],
    "actions": [{"type": "log"}],
}


def spend(store: PostgresStore, at: datetime, usd: str, environment: str = "production") -> None:
    store.usage_logs.insert(
        UsageLog(
            environment=environment,  # type: ignore[arg-type]
            provider="openai",
            model="m",
            estimated_cost=Decimal(usd),
            success=True,
            created_at=at,
        )
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def engine(store: PostgresStore, clock: Clock, recorder: Recorder) -> AlertEngine:
    return AlertEngine(store, notifiers={"log": recorder}, clock=clock)


def add(store: PostgresStore, **changes: Any) -> AlertRule:
    return AlertRuleManager(store).add({**RULE, **changes})


def events(store: PostgresStore) -> list[Any]:
    return store.alert_events.select(order_by=(("triggered_at", "ASC"),))


def test_breach_opens_one_event_and_no_duplicate(
    store: PostgresStore, engine: AlertEngine, clock: Clock, recorder: Recorder
) -> None:
    """A breach opens exactly one event (severity, details, last_triggered); later passes don't."""
    rule = add(store)
    spend(store, T0 - timedelta(minutes=5), "12.5")
    [outcome] = engine.evaluate_due()
    assert outcome.kind == "open" and outcome.metrics == {"total_cost": 12.5}
    clock.advance(1)
    assert [o.kind for o in engine.evaluate_due()] == ["none"]
    [event] = events(store)
    assert event.status == "active" and event.severity == "critical"
    assert event.details.metrics == {"total_cost": 12.5}
    assert event.details.environment == "production"
    assert event.details.conditions == rule.conditions
    assert store.alert_rules.get(rule.id).last_triggered == T0  # type: ignore[arg-type]
    assert recorder.kinds == ["firing"]
    assert event.details.model_dump()["deliveries"][0]["ok"] is True


def test_reminder_ack_resolve_and_new_event(
    store: PostgresStore, engine: AlertEngine, clock: Clock, recorder: Recorder
) -> None:
    """Reminder only after the interval; ack stops reminders; clearing resolves; re-breach reopens."""
    add(store)
    spend(store, T0 - timedelta(minutes=1), "20")
    engine.evaluate_due()
    clock.advance(29)
    engine.evaluate_due()
    assert recorder.kinds == ["firing"]
    clock.advance(1)
    engine.evaluate_due()
    assert recorder.kinds == ["firing", "reminder"]
    [event] = events(store)
    assert event.reminder_count == 1 and event.last_notified_at == clock.now

    engine.acknowledge(event.id)
    clock.advance(31)
    spend(store, clock.now - timedelta(minutes=1), "20")
    engine.evaluate_due()
    assert recorder.kinds == ["firing", "reminder"]  # acknowledged: no reminder
    clock.advance(120)  # every row is out of the window now
    [o] = engine.evaluate_due()
    assert o.kind == "resolve" and recorder.kinds[-1] == "resolved"
    [event] = events(store)
    assert event.status == "resolved" and event.resolved_at == clock.now

    spend(store, clock.now - timedelta(minutes=1), "11")
    clock.advance(1)
    [o] = engine.evaluate_due()
    assert o.kind == "open"
    assert [e.status for e in events(store)] == ["resolved", "active"]


def test_no_data_is_not_a_breach(
    store: PostgresStore, engine: AlertEngine, recorder: Recorder
) -> None:
    """An avg condition over an empty window raises nothing; lt on a sum sees 0 and fires."""
    add(store, conditions=[{**RULE["conditions"][0], "aggregation": "avg", "value": -1}])
    assert [o.kind for o in engine.evaluate_due()] == ["none"]
    add(store, name="quiet", conditions=[{**RULE["conditions"][0], "operator": "lt", "value": 1}])
    assert sorted(o.kind for o in engine.evaluate_due()) == ["none", "open"]
    assert [e.rule_name for e in events(store)] == ["quiet"]


def test_frequency_is_respected(store: PostgresStore, engine: AlertEngine, clock: Clock) -> None:
    """every_15min is evaluated once, then again only after 15 minutes; a disabled rule never."""
    rule = add(store, frequency="every_15min")
    assert [o.kind for o in engine.evaluate_due()] == ["none"]
    clock.advance(14)
    assert [o.kind for o in engine.evaluate_due()] == ["skipped"]
    clock.advance(1)
    assert [o.kind for o in engine.evaluate_due()] == ["none"]
    AlertRuleManager(store).disable(rule.id)  # type: ignore[arg-type]
    clock.advance(60)
    assert engine.evaluate_due() == []


def test_environment_filter(store: PostgresStore, engine: AlertEngine) -> None:
    """evaluate_due(environment=...) evaluates only that environment's rules."""
    add(store)
    add(store, name="staging spend", environment="staging")
    spend(store, T0 - timedelta(minutes=1), "50", environment="staging")
    outcomes = engine.evaluate_due(environment="staging")
    assert [(o.environment, o.kind) for o in outcomes] == [("staging", "open")]


def test_database_error_changes_no_alert_state(
    store: PostgresStore, engine: AlertEngine, recorder: Recorder
) -> None:
    """An insert failing inside the evaluation rolls back: no event, no last_triggered, nothing sent."""
    rule = add(store)
    spend(store, T0 - timedelta(minutes=1), "99")
    with store.connection() as conn:
        conn.execute(
            "CREATE FUNCTION fail_alert_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER fail_alert_insert BEFORE INSERT ON alert_events "
            "FOR EACH ROW EXECUTE FUNCTION fail_alert_insert()"
        )
    try:
        [outcome] = engine.evaluate_due()
        assert outcome.kind == "error" and "disk on fire" in outcome.reason
        assert events(store) == []
        assert store.alert_rules.get(rule.id).last_triggered is None  # type: ignore[arg-type]
        with store.connection() as conn:
            assert conn.execute("SELECT count(*) FROM alert_rule_evaluations").fetchone() == (0,)
        assert recorder.sent == []
    finally:
        with store.connection() as conn:
            conn.execute("DROP TRIGGER fail_alert_insert ON alert_events")
            conn.execute("DROP FUNCTION fail_alert_insert()")
    [outcome] = engine.evaluate_due()  # the next pass, with the database healthy, fires
    assert outcome.kind == "open" and recorder.kinds == ["firing"]


def test_failed_delivery_is_recorded_and_engine_goes_on(store: PostgresStore, clock: Clock) -> None:
    """A failing action is recorded in the event's details; the other actions still get it."""
    broken = Recorder(
        DeliveryFailed("HTTP 400 Bad Request (permanent)", attempts=1, permanent=True)
    )
    buggy = Recorder(RuntimeError("boom"))
    ok = Recorder()
    engine = AlertEngine(
        store, notifiers={"slack": broken, "webhook": buggy, "log": ok}, clock=clock
    )
    add(
        store,
        actions=[
            {"type": "slack", "config": {"webhookUrl": "env:SLACK_URL"}},
            {"type": "webhook", "config": {"url": "env:HOOK_URL"}},
            {"type": "log"},
            {"type": "email", "config": {"to": ["a@b.c"], "from": "x@y.z", "smtpHost": "h"}},
        ],
    )
    spend(store, T0 - timedelta(minutes=1), "99")
    [outcome] = engine.evaluate_due()
    assert outcome.kind == "open"
    assert [(d.type, d.ok) for d in outcome.deliveries] == [
        ("slack", False), ("webhook", False), ("log", True), ("email", False),
    ]  # fmt: skip
    [event] = events(store)
    recorded = event.details.model_dump()["deliveries"]
    assert recorded[0]["error"] == "HTTP 400 Bad Request (permanent)"
    assert recorded[1]["error"] == "RuntimeError"
    assert recorded[3]["error"] == "no notifier configured"
    assert ok.kinds == ["firing"]


def test_unset_secret_is_a_failed_delivery_naming_the_variable(
    store: PostgresStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook whose env: variable is unset fails that delivery with the variable's name."""
    monkeypatch.delenv("LLMOPS_TEST_UNSET_HOOK", raising=False)
    engine = AlertEngine(store, clock=clock)
    add(store, actions=[{"type": "webhook", "config": {"url": "env:LLMOPS_TEST_UNSET_HOOK"}}])
    spend(store, T0 - timedelta(minutes=1), "99")
    [outcome] = engine.evaluate_due()
    assert not outcome.deliveries[0].ok
    assert "LLMOPS_TEST_UNSET_HOOK" in (outcome.deliveries[0].error or "")


def test_manual_resolve_notifies_and_next_breach_is_new(
    store: PostgresStore, engine: AlertEngine, clock: Clock, recorder: Recorder
) -> None:
    """resolve(ID) resolves and sends resolved notices; the persisting breach opens a new event."""
    add(store)
    spend(store, T0 - timedelta(minutes=1), "99")
    engine.evaluate_due()
    [event] = events(store)
    clock.advance(1)
    resolved = engine.resolve(event.id)
    assert resolved.status == "resolved" and resolved.resolved_at == clock.now
    assert recorder.kinds == ["firing", "resolved"]
    [o] = engine.evaluate_due()
    assert o.kind == "open" and len(events(store)) == 2


def test_resolved_notice_only_to_actions_asking_for_it(store: PostgresStore, clock: Clock) -> None:
    """An action with notifyResolved false gets the firing but not the resolved notice."""
    quiet, loud = Recorder(), Recorder()
    engine = AlertEngine(store, notifiers={"log": quiet, "slack": loud}, clock=clock)
    add(
        store,
        actions=[
            {"type": "log", "notifyResolved": False},
            {"type": "slack", "config": {"webhookUrl": "env:X"}},
        ],
    )
    spend(store, T0 - timedelta(minutes=1), "99")
    engine.evaluate_due()
    clock.advance(61)
    engine.evaluate_due()
    assert quiet.kinds == ["firing"] and loud.kinds == ["firing", "resolved"]


def test_ack_and_resolve_refuse_bad_ids(store: PostgresStore, engine: AlertEngine) -> None:
    """Acknowledging an unknown event is NotFound; resolving a resolved one is refused."""
    from llmops.errors import ConfigError, NotFound

    with pytest.raises(NotFound):
        engine.acknowledge(uuid.uuid4())
    add(store)
    spend(store, T0 - timedelta(minutes=1), "99")
    engine.evaluate_due()
    [event] = events(store)
    engine.resolve(event.id, notify=False)
    with pytest.raises(ConfigError, match="already resolved"):
        engine.resolve(event.id)
    with pytest.raises(ConfigError, match="already resolved"):
        engine.acknowledge(event.id)


def test_concurrent_engines_in_threads_open_one_event(store: PostgresStore, clock: Clock) -> None:
    """Eight engines evaluating the same breach at once create exactly one event."""
    add(store)
    spend(store, T0 - timedelta(minutes=1), "99")
    recorder = Recorder()
    barrier = threading.Barrier(8)
    kinds: list[str] = []

    def run() -> None:
        engine = AlertEngine(store, notifiers={"log": recorder}, clock=clock)
        barrier.wait()
        kinds.extend(o.kind for o in engine.evaluate_due())

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(kinds) == ["none"] * 7 + ["open"]
    assert len(events(store)) == 1 and recorder.kinds == ["firing"]


def test_unique_index_refuses_a_second_open_event(store: PostgresStore) -> None:
    """Even a writer that skips the lock cannot store two open events for one rule."""
    rule = add(store)
    row = (rule.id, "spend", "high", "m", "{}", "production", T0)
    insert = (
        "INSERT INTO alert_events (rule_id, rule_name, severity, message, details, environment, "
        "triggered_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    with store.connection() as conn:
        conn.execute(insert, (*row, "acknowledged"))
        conn.execute(insert, (*row, "resolved"))
    with pytest.raises(psycopg.errors.UniqueViolation), store.connection() as conn:
        conn.execute(insert, (*row, "active"))


def test_immediate_alerts_evaluate_breaker_rules_off_the_callers_thread(
    store: PostgresStore,
) -> None:
    """A breaker change enqueues only; the worker evaluates breaker rules at once, deduplicated."""
    recorder = Recorder()
    engine = AlertEngine(store, notifiers={"log": recorder})
    add(
        store,
        name="breaker",
        type="circuit_breaker",
        frequency="daily",
        conditions=[
            {"metric": "breaker_openings", "operator": "gte", "value": 1, "timeWindow": 10}
        ],
    )
    add(store, name="spend")  # another type: not evaluated by the immediate path
    flushed: list[str] = []

    def write_breaker_row() -> None:  # what the router's writer flush does
        flushed.append(threading.current_thread().name)
        store.breaker_events.insert(
            __import__("llmops.models", fromlist=["BreakerEvent"]).BreakerEvent(
                environment="production", provider="openai", model="m",
                from_state="closed", to_state="open",
            )
        )  # fmt: skip

    immediate = ImmediateAlerts(engine, environment="production", flush=write_breaker_row)
    with immediate:
        caller = threading.current_thread().name
        immediate.on_breaker_change(BreakerTransition("openai", "m", "closed", "open", 5, 0.0))
        assert immediate.wait_idle(10)
        immediate.on_breaker_change(BreakerTransition("openai", "m", "open", "half_open", 5, 1.0))
        assert immediate.wait_idle(10)
    assert flushed and caller not in flushed
    assert [e.rule_name for e in events(store)] == ["breaker"]
    assert recorder.kinds == ["firing"]
    assert [o.kind for o in immediate.outcomes] == ["open", "none"]


def test_unreachable_database_is_one_clear_error(database_url: str, clock: Clock) -> None:
    """With the pool gone, a pass raises DatabaseUnavailable (what `alerts run` logs and survives)."""
    from llmops.errors import DatabaseUnavailable

    gone = PostgresStore.connect(database_url, max_size=1)
    gone.close()
    with pytest.raises(DatabaseUnavailable, match="cannot list rules"):
        AlertEngine(gone, notifiers={}, clock=clock).evaluate_due()


def test_a_rule_row_that_no_longer_validates_is_an_error_outcome(
    store: PostgresStore, engine: AlertEngine
) -> None:
    """A rule whose stored conditions were corrupted outside llmops fails alone, state unchanged."""
    good = add(store)
    bad = add(store, name="corrupted")
    spend(store, T0 - timedelta(minutes=1), "99")
    with store.connection() as conn:
        conn.execute(
            "UPDATE alert_rules SET conditions = %s, actions = %s WHERE id = %s",
            (
                Jsonb([{"metric": "nope"}]),
                Jsonb([{"type": "slack", "config": {"webhookUrl": "https://x/clear-secret"}}]),
                bad.id,
            ),
        )
    outcomes = {o.rule_id: o for o in engine.evaluate_due()}
    assert outcomes[good.id].kind == "open"
    assert outcomes[bad.id].kind == "error" and "ValidationError" in outcomes[bad.id].reason
    assert "clear-secret" not in outcomes[bad.id].reason
    assert [e.rule_id for e in events(store)] == [good.id]


FAILURE_POINTS = {
    # (table, operation, what the pass would have done, minutes to advance, new spend)
    "open: event insert fails": ("alert_events", "INSERT", "open", 0, "99"),
    "open: bookkeeping after the insert fails": (
        "alert_rule_evaluations",
        "INSERT",
        "open",
        0,
        "99",
    ),
    "open: last_triggered update fails": ("alert_rules", "UPDATE", "open", 0, "99"),
    "remind: event update fails": ("alert_events", "UPDATE", "remind", 30, "99"),
    "resolve: event update fails": ("alert_events", "UPDATE", "resolve", 61, None),
}


@pytest.mark.parametrize(
    ("table", "operation", "would", "advance", "usd"),
    list(FAILURE_POINTS.values()),
    ids=list(FAILURE_POINTS),
)
def test_database_error_at_any_step_leaves_state_unchanged(  # noqa: PLR0917
    store: PostgresStore,
    clock: Clock,
    table: str,
    operation: str,
    would: str,
    advance: float,
    usd: str | None,
) -> None:
    """Whichever write fails, the evaluation rolls back whole: rows as before, nothing sent."""
    recorder = Recorder()
    engine = AlertEngine(store, notifiers={"log": recorder}, clock=clock)
    rule = add(store)
    if would != "open":  # start from an open event
        spend(store, T0 - timedelta(minutes=1), "99")
        assert [o.kind for o in engine.evaluate_due()] == ["open"]
        recorder.sent.clear()
    clock.advance(advance)
    if usd is not None and would == "open":
        spend(store, clock.now - timedelta(minutes=1), usd)

    def snapshot() -> tuple[Any, ...]:
        with store.connection() as conn:
            return (
                conn.execute("SELECT * FROM alert_events ORDER BY triggered_at").fetchall(),
                conn.execute("SELECT last_triggered, updated_at FROM alert_rules").fetchall(),
                conn.execute("SELECT * FROM alert_rule_evaluations").fetchall(),
            )

    before = snapshot()
    with store.connection() as conn:
        conn.execute(
            "CREATE FUNCTION fail_now() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER fail_now BEFORE {operation} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fail_now()"
        )
    try:
        [outcome] = engine.evaluate_due()
        assert outcome.kind == "error" and "injected failure" in outcome.reason
        assert snapshot() == before
        assert recorder.sent == []
    finally:
        with store.connection() as conn:
            conn.execute(f"DROP TRIGGER fail_now ON {table}")
            conn.execute("DROP FUNCTION fail_now()")
    [outcome] = engine.evaluate_due()  # healthy again: the same step now happens
    assert outcome.kind == would and outcome.rule_id == rule.id
    assert recorder.kinds == [
        {"open": "firing", "remind": "reminder", "resolve": "resolved"}[would]
    ]
