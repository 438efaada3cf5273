"""ImmediateAlerts with a real LLMRouter: a breaker opening raises its alert at once, once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from llmops import AllProvidersFailed, LLMRouter, ProviderUnavailable
from llmops.alerts import AlertEngine, AlertRuleManager, ImmediateAlerts, Notification
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
