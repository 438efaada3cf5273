"""ImmediateAlerts with a real LLMRouter: a breaker opening or a failing provider (even one
a fallback covers) raises its alert at once, once; failure bursts are debounced."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from llmops import AllProvidersFailed, LLMRouter, ProviderUnavailable
from llmops.alerts import AlertEngine, AlertRuleManager, ImmediateAlerts, Notification
from llmops.alerts.immediate import debounce_delay
from llmops.breaker import BreakerTransition
from llmops.errors import ConfigError
from llmops.models.alerts import AlertAction
from llmops.providers.fake import FakeProvider
from llmops.store import PostgresStore

MESSAGES = [{"role": "user", "content": "hello"}]


class Recorder:
    """A notifier keeping what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, action: AlertAction, notification: Notification) -> int:
        self.sent.append(notification.kind)
        return 1


def _rules(store: PostgresStore) -> None:
    manager = AlertRuleManager(store)
    manager.add(
        {
            "name": "breaker open",
            "environment": "staging",
            "type": "circuit_breaker",
            "frequency": "hourly",  # a scheduled pass would wait an hour: this must not
            "severity": "critical",
            "conditions": [
                {"metric": "breaker_openings", "operator": "gte", "value": 1, "timeWindow": 10}
            ],
            "actions": [{"type": "log"}],
        }
    )
    manager.add(
        {
            "name": "provider down",
            "environment": "staging",
            "type": "provider_failure",
            "frequency": "daily",
            "conditions": [
                # >= 1: the failed call logged before the one that opens the breaker (the
                # opening call's own row may still be on its way when the listener fires)
                {"metric": "provider_failures", "operator": "gte", "value": 1, "timeWindow": 10}
            ],
            "actions": [{"type": "log"}],
        }
    )


def test_breaker_opening_in_a_router_raises_events_at_once(store: PostgresStore) -> None:
    """Failures open the router's breaker; breaker and provider alerts fire once, off-thread."""
    _rules(store)
    recorder = Recorder()
    engine = AlertEngine(store, notifiers={"log": recorder})
    provider = FakeProvider([ProviderUnavailable("down", status_code=503)] * 10)
    router = LLMRouter(
        {
            "environment": "staging",
            "primary_provider": "primary",
            "primary_model": "m",
            "max_retries": 1,
            "retry_delay": 0,
            "circuit_breaker_threshold": 2,
        },
        {"primary": provider},
        store,
    )
    seen_threads: list[str] = []
    original = engine.evaluate_now

    def spy(**kwargs: Any) -> Any:
        seen_threads.append(threading.current_thread().name)
        return original(**kwargs)

    engine.evaluate_now = spy  # type: ignore[method-assign]
    immediate = ImmediateAlerts(engine).attach(router)
    try:
        assert immediate.environment == "staging"
        for _ in range(2):
            started = time.perf_counter()
            with pytest.raises(AllProvidersFailed):
                router.complete(MESSAGES)
            # the call did not wait for the alert evaluation (which talks to the database)
            assert time.perf_counter() - started < 5
        assert immediate.wait_idle(30)
        events = store.alert_events.select(order_by=(("triggered_at", "ASC"),))
        assert sorted(e.rule_name for e in events) == ["breaker open", "provider down"]
        assert recorder.sent == ["firing", "firing"]
        assert seen_threads and threading.current_thread().name not in seen_threads
        # another change of the same breaker: same rules, same open events, nothing new
        immediate.on_breaker_change(BreakerTransition("primary", "m", "open", "half_open", 2, 0))
        assert immediate.wait_idle(30)
        assert len(store.alert_events.select(order_by=())) == 2
        assert recorder.sent == ["firing", "firing"]
    finally:
        immediate.close()
        router.close()


def test_attach_needs_an_environment() -> None:
    """A router-like object without an environment is refused, naming the parameter."""

    class Bare:
        def add_breaker_listener(self, listener: Any) -> None:
            raise AssertionError("must not subscribe")

    with pytest.raises(ConfigError, match="environment"):
        ImmediateAlerts(AlertEngine.__new__(AlertEngine)).attach(Bare())


@pytest.mark.parametrize(
    ("last", "now", "interval", "expected"),
    [
        (None, 100.0, 5.0, 0.0),  # never evaluated: at once
        (100.0, 100.0, 5.0, 5.0),  # just evaluated: wait the whole interval
        (100.0, 103.5, 5.0, 1.5),
        (100.0, 105.0, 5.0, 0.0),
        (100.0, 900.0, 5.0, 0.0),  # a quiet spell: at once
        (100.0, 100.0, 0.0, 0.0),  # no debounce
    ],
)
def test_debounce_delay(last: float | None, now: float, interval: float, expected: float) -> None:
    """Failure-triggered evaluations: leading edge at once, then at most one per interval."""
    assert debounce_delay(last, now, interval) == pytest.approx(expected)


def test_negative_debounce_is_refused() -> None:
    """debounce < 0 is a ConfigError naming the parameter."""
    with pytest.raises(ConfigError, match="debounce"):
        ImmediateAlerts(AlertEngine.__new__(AlertEngine), debounce=-1)


def test_primary_down_behind_a_serving_fallback_alerts_at_once_debounced(
    store: PostgresStore,
) -> None:
    """Every call succeeds on the fallback; the primary's failed attempts raise one
    provider_failure event at once; a burst is coalesced into one debounced evaluation."""
    AlertRuleManager(store).add(
        {
            "name": "primary failing",
            "environment": "staging",
            "type": "provider_failure",
            "frequency": "daily",  # a scheduled pass would wait a day: this must not
            "conditions": [
                {"metric": "provider_error_rate", "operator": "gte", "value": 50, "timeWindow": 10}
            ],
            "actions": [{"type": "log"}],
        }
    )
    recorder = Recorder()
    engine = AlertEngine(store, notifiers={"log": recorder})
    router = LLMRouter(
        {
            "environment": "staging",
            "primary_provider": "primary",
            "primary_model": "m",
            "fallback_providers": [{"provider": "backup", "model": "gpt-4o", "priority": 1}],
            "max_retries": 1,
            "retry_delay": 0,
            "circuit_breaker_threshold": 1000,  # the breaker stays closed: only failures signal
        },
        {
            "primary": FakeProvider(default=ProviderUnavailable("down", status_code=503)),
            "backup": FakeProvider(),
        },
        store,
    )
    immediate = ImmediateAlerts(engine, debounce=3600).attach(router)
    try:
        assert router.complete(MESSAGES).fallback_used
        assert immediate.wait_idle(30)  # the leading evaluation: at once
        assert immediate.evaluations == 1
        events = store.alert_events.select(order_by=())
        assert [e.rule_name for e in events] == ["primary failing"]
        assert (events[0].details.model_extra or {})["providers"]["provider_error_rate"] == {
            "primary": 100.0,
            "backup": 0.0,
        }
        assert recorder.sent == ["firing"]
        with store.connection() as conn:
            failed = conn.execute("SELECT count(*) FROM llm_usage_logs WHERE NOT success")
            assert failed.fetchone() == (0,)  # the usage log alone would never have told
        for _ in range(30):  # a burst within the debounce interval: one signal, no evaluation
            assert router.complete(MESSAGES).fallback_used
        assert not immediate.wait_idle(0.3)
        assert immediate.evaluations == 1
    finally:
        immediate.close()  # evaluates the pending burst once, without waiting the hour out
        router.close()
    assert immediate.evaluations == 2
    assert len(store.alert_events.select(order_by=())) == 1  # still the same active event
    assert recorder.sent == ["firing"]
