"""``run_demo``: llmops doing its job on simulated traffic, against a real PostgreSQL.

The real :class:`~llmops.router.LLMRouter` (watching its config), the real A/B assigner and
analysis, the real alert engine with log and webhook delivery, the real backup manager: only
the providers are :class:`~llmops.providers.fake.FakeProvider` and the clock is simulated
(see :mod:`llmops.demo.scenario`).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from psycopg import sql

from llmops.ab.analysis import ABReport, analyze
from llmops.ab.manager import ABTestManager
from llmops.alerts.engine import AlertEngine
from llmops.alerts.rules import AlertRuleManager
from llmops.backup.manager import BackupManager
from llmops.breaker import BreakerTransition
from llmops.configs.service import ConfigService
from llmops.demo.receiver import WebhookReceiver
from llmops.demo.scenario import BAD_PUSH_AT, RESTORE_AT, SimClock, Timeline, demo_providers
from llmops.errors import AllProvidersFailed, ConfigError, LLMOpsError, ProviderError
from llmops.models import AlertEvent, Environment, FallbackAttempt, FallbackConfig
from llmops.router import LLMRouter
from llmops.store import PostgresStore

__all__ = ["DEMO_RULE", "DEMO_TEST", "DemoResult", "run_demo"]

DEMO_TEST = "llmops demo: summary model"
DEMO_RULE = "llmops demo: error rate above 10%"
WEBHOOK_ENV = "LLMOPS_DEMO_WEBHOOK_URL"
SIMULATED_SECONDS = 20 * 60.0
ALERT_EVERY = 30.0  # simulated seconds between alert passes
AB_SHARE = 0.7  # share of calls that are "summaries" under the A/B test
QUALITY = {"gpt-4o-mini": 0.82, "gemini-1.5-flash": 0.79}
ACTOR = "llmops demo"


@dataclass
class DemoResult:
    """What the demo did, for the tables and for ``--json``."""

    environment: str
    calls: int
    seed: int
    simulated_minutes: float
    served: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    fallback_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    transitions: list[tuple[float, str, str, str, str]] = field(default_factory=list)
    config_events: list[tuple[float, str]] = field(default_factory=list)
    ab_report: ABReport | None = None
    alert_events: list[AlertEvent] = field(default_factory=list)
    webhook_statuses: list[str] = field(default_factory=list)
    backup_version: str = ""
    backup_hash: str = ""
    backup_verified: bool = False
    restore_status: str = ""
    restore_report: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    started_at: datetime | None = None
    """The simulated time at which the traffic started (timestamps are in simulated time)."""

    def minute(self, moment: datetime | None) -> str:
        """``moment`` as minutes into the simulated traffic."""
        if moment is None or self.started_at is None:
            return ""
        return f"{(moment - self.started_at).total_seconds() / 60:5.1f}"


def _config_document(environment: str, primary_model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "environment": environment,
        "primary_provider": "openai",
        "primary_model": primary_model,
        "fallback_providers": [
            {
                "provider": "google",
                "model": "gemini-1.5-flash",
                "priority": 1,
                "config": {"temperature": 0.7, "max_tokens": 1000},
            }
        ],
        "max_retries": 3,
        "retry_delay": 500,
        "circuit_breaker_threshold": 5,
        "circuit_breaker_reset_time": 30000,
        "is_active": True,
    }


def reset_demo_data(store: PostgresStore, environment: str) -> None:
    """Remove what an earlier demo run left in ``environment`` (its logs, test and rule)."""
    with store.transaction() as conn:
        for table in ("llm_fallback_logs", "llm_usage_logs", "llm_circuit_breaker_events"):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE environment = %s").format(sql.Identifier(table)),
                (environment,),
            )
        conn.execute(
            "DELETE FROM ab_result_quality WHERE test_id IN "
            "(SELECT id FROM ab_tests WHERE name = %s AND environment = %s)",
            (DEMO_TEST, environment),
        )
        conn.execute(
            "DELETE FROM ab_tests WHERE name = %s AND environment = %s", (DEMO_TEST, environment)
        )
        conn.execute(
            "DELETE FROM alert_rules WHERE name = %s AND environment = %s",
            (DEMO_RULE, environment),
        )


def _setup(
    store: PostgresStore, environment: str, seed: int, calls: int, start: datetime
) -> tuple[UUID, UUID]:
    ConfigService(store).apply(_config_document(environment), activate=True, actor=ACTOR)
    per_variant = max(30, int(calls * AB_SHARE / 2 * 0.8))
    test = ABTestManager(store).create(
        {
            "name": DEMO_TEST,
            "description": "Is gemini-1.5-flash as good as gpt-4o-mini for summaries, cheaper?",
            "environment": environment,
            "variants": [
                {
                    "id": "control",
                    "name": "gpt-4o-mini",
                    "config": {"provider": "openai", "model": "gpt-4o-mini"},
                    "weight": 50,
                },
                {
                    "id": "flash",
                    "name": "gemini-1.5-flash",
                    "config": {"provider": "google", "model": "gemini-1.5-flash"},
                    "weight": 50,
                },
            ],
            "traffic_split": {"coverage": 1.0, "unitKey": "session", "hashSeed": f"demo-{seed}"},
            "start_date": start - timedelta(minutes=1),
            "metrics": {
                "primaryMetric": "cost",
                "trackMetrics": ["cost", "speed", "success_rate", "quality"],
                "sampleSize": per_variant,
                "confidenceLevel": 95,
            },
        }
    )
    rule = AlertRuleManager(store).add(
        {
            "name": DEMO_RULE,
            "environment": environment,
            "type": "error_rate",
            "severity": "high",
            "conditions": [
                {
                    "metric": "error_rate",
                    "operator": "gt",
                    "value": 10,
                    "timeWindow": 2,
                    "aggregation": "avg",
                }
            ],
            "actions": [
                {"type": "log", "config": {"level": "warning"}},
                {"type": "webhook", "config": {"url": f"env:{WEBHOOK_ENV}"}},
            ],
            "frequency": "immediate",
        }
    )
    assert test.id is not None and rule.id is not None
    return test.id, rule.id


def _wait_for_config(router: LLMRouter, predicate: Callable[[FallbackConfig], bool]) -> None:
    """Wait (real time) until the watching router has picked up the change."""
    deadline = time.monotonic() + 10.0
    while not predicate(router.config):
        if time.monotonic() > deadline:
            raise LLMOpsError("the router did not pick up the configuration change within 10 s")
        time.sleep(0.01)


def run_demo(
    store: PostgresStore,
    *,
    calls: int = 2000,
    seed: int = 42,
    environment: Environment = "local",
    on_progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Drive ``calls`` calls of simulated traffic through the real router; see the module doc."""
    if calls < 100:
        raise ConfigError(f"calls: at least 100 are needed for the story to unfold, got {calls}")
    wall_started = time.monotonic()
    clock = SimClock(wall_start=time.time() - SIMULATED_SECONDS)
    timeline = Timeline(clock, SIMULATED_SECONDS)

    def sim_now() -> datetime:
        return datetime.fromtimestamp(clock.wall(), UTC)

    result = DemoResult(environment, calls, seed, SIMULATED_SECONDS / 60)
    result.started_at = sim_now()
    rng = random.Random(seed)

    store.migrate()
    reset_demo_data(store, environment)
    test_id, rule_id = _setup(store, environment, seed, calls, sim_now())
    backups = BackupManager(store, clock=sim_now)
    backup = backups.create(environment, ACTOR, "before the demo's traffic")
    assert backup.id is not None
    result.backup_version, result.backup_hash = backup.version, backup.hash

    with WebhookReceiver() as receiver:
        os.environ[WEBHOOK_ENV] = receiver.url
        engine = AlertEngine(store, clock=sim_now)
        router = LLMRouter.from_store(
            store,
            environment,
            demo_providers(timeline, seed),
            watch=True,
            recheck_interval=1.0,
            clock=clock,
            sleep=clock.sleep,
            wall_clock=clock.wall,
            rng=random.Random(seed),
            deadline=60.0,
        )

        def on_transition(t: BreakerTransition) -> None:
            result.transitions.append((clock() / 60, t.provider, t.model, t.from_state, t.to_state))

        router.add_breaker_listener(on_transition)
        quality: list[tuple[UUID, float]] = []
        sessions = [f"demo-session-{k}" for k in range(max(20, calls // 8))]
        interval = SIMULATED_SECONDS / calls
        next_alert_pass = ALERT_EVERY
        pushed = restored = False
        try:
            for i in range(calls):
                clock.advance_to(i * interval)
                fraction = timeline.fraction()
                if not pushed and fraction >= BAD_PUSH_AT:
                    bad = ConfigService(store).apply(
                        _config_document(environment, "gpt-4o-mini-2024-typo"),
                        activate=True,
                        actor="operator (bad push)",
                    )
                    _wait_for_config(router, partial(_has_id, bad.config.id))
                    result.config_events.append((clock() / 60, "pushed gpt-4o-mini-2024-typo"))
                    pushed = True
                if pushed and not restored and fraction >= RESTORE_AT:
                    restore = backups.restore(
                        backup.id, mode="replace", sections=["fallbackConfigs"], actor=ACTOR
                    )
                    _wait_for_config(router, lambda c: c.primary_model == "gpt-4o-mini")
                    result.restore_status = restore.status
                    result.restore_report = {
                        k: v.model_dump(mode="json", by_alias=True)
                        for k, v in restore.report.items()
                    }
                    result.config_events.append((clock() / 60, f"restored {backup.version}"))
                    restored = True
                summary = rng.random() < AB_SHARE
                session = rng.choice(sessions)
                try:
                    completion = router.complete(
                        [{"role": "user", "content": f"Summarise document {i}."}],
                        session_id=session,
                        ab_test=DEMO_TEST if summary else None,
                        max_tokens=300,
                    )
                except (AllProvidersFailed, ProviderError) as exc:
                    kind = getattr(exc, "kind", None) or "all_failed"
                    result.failed[kind] += 1
                    _count_attempts(result, getattr(exc, "attempts", ()))
                else:
                    result.served[(completion.provider, completion.model)] += 1
                    result.fallbacks += completion.fallback_used
                    _count_attempts(result, completion.attempts)
                    if completion.ab_result_id is not None:
                        mean = QUALITY.get(completion.model, 0.7)
                        score = min(1.0, max(0.0, rng.gauss(mean, 0.1)))
                        quality.append((completion.ab_result_id, round(score, 3)))
                if clock() >= next_alert_pass:
                    _alert_pass(router, engine, environment)
                    next_alert_pass += ALERT_EVERY
                if on_progress is not None:
                    on_progress(1)
            clock.advance_to(SIMULATED_SECONDS)
            _alert_pass(router, engine, environment)
        finally:
            router.close()
        manager = ABTestManager(store)
        for result_id, score in quality:
            manager.record_quality(result_id, score)
        result.ab_report = analyze(store, test_id)
        result.alert_events = store.alert_events.select(
            {"rule_id": rule_id}, order_by=(("triggered_at", "ASC"),)
        )
        result.webhook_statuses = receiver.statuses()
        os.environ.pop(WEBHOOK_ENV, None)
    result.backup_verified = backups.verify(backup.id).ok
    result.wall_seconds = time.monotonic() - wall_started
    return result


def _has_id(config_id: UUID | None, config: FallbackConfig) -> bool:
    return config.id == config_id


def _count_attempts(result: DemoResult, attempts: Any) -> None:
    for attempt in attempts:
        if isinstance(attempt, FallbackAttempt) and attempt.outcome != "success":
            result.fallback_reasons[(attempt.provider, attempt.error_kind or attempt.outcome)] += 1


def _alert_pass(router: LLMRouter, engine: AlertEngine, environment: str) -> None:
    if router.writer is not None:
        router.writer.flush(timeout=30)
    engine.evaluate_due(environment=environment)
