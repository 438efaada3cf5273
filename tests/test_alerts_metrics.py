"""Alert metrics in SQL (llmops.alerts.metrics): values, windows, no data, and index use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from llmops.alerts.metrics import METRIC_SOURCES, measure, metric_queries
from llmops.models import BreakerEvent, FallbackLog, UsageLog
from llmops.models.alerts import ALERT_TYPE_METRICS, METRICS, AlertRule
from llmops.store import PostgresStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def usage(minutes_ago: float, **fields: Any) -> UsageLog:
    data: dict[str, Any] = {
        "environment": "production",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "success": True,
        "created_at": ago(minutes_ago),
    }
    data.update(fields)
    return UsageLog.model_validate(data)


def rule(type_: str, *conditions: dict[str, Any]) -> AlertRule:
    return AlertRule.model_validate(
        {
            "id": uuid.uuid4(),
            "name": "r",
            "environment": "production",
            "type": type_,
            "conditions": list(conditions),
        }
    )


def cond(metric: str, window: int = 60, aggregation: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"metric": metric, "operator": "gt", "value": 0, "timeWindow": window}
    if aggregation:
        c["aggregation"] = aggregation
    return c


def values(store: PostgresStore, r: AlertRule) -> list[float | None]:
    with store.connection() as conn:
        return [m.value for m in measure(conn, r, NOW)]


COSTS = [0.5, 1.25, 2.0, 0.125, 3.5, 0.75]


@pytest.fixture
def cost_rows(store: PostgresStore) -> PostgresStore:
    rows = [
        usage(i * 5 + 1, estimated_cost=Decimal(str(c)), total_tokens=100 * (i + 1),
              input_tokens=60 * (i + 1), output_tokens=40 * (i + 1), processing_time_ms=200 + 100 * i)
        for i, c in enumerate(COSTS)
    ]  # fmt: skip
    rows += [
        usage(90, estimated_cost=Decimal("100")),  # outside a 60-minute window
        usage(-1, estimated_cost=Decimal("100")),  # after now
        usage(2, estimated_cost=Decimal("100"), environment="staging"),  # another environment
    ]
    store.usage_logs.copy_many(rows)
    return store


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("sum", sum(COSTS)),
        ("avg", sum(COSTS) / len(COSTS)),
        ("min", min(COSTS)),
        ("max", max(COSTS)),
        ("count", len(COSTS)),
        ("p95", float(np.percentile(COSTS, 95))),
    ],
)
def test_cost_aggregations(cost_rows: PostgresStore, aggregation: str, expected: float) -> None:
    """Each aggregation of total_cost equals the same aggregation computed in Python."""
    r = rule("cost_threshold", cond("total_cost", 60, aggregation))
    assert values(cost_rows, r) == [pytest.approx(expected)]


def test_window_environment_and_now_bound_the_rows(cost_rows: PostgresStore) -> None:
    """Rows older than the window, in the future or of another environment are not counted."""
    r = rule(
        "cost_threshold",
        cond("total_cost", 60),
        cond("total_cost", 12),
        cond("total_cost", 120),
        cond("request_count", 60),
    )
    assert values(cost_rows, r) == [
        pytest.approx(sum(COSTS)),
        pytest.approx(COSTS[0] + COSTS[1] + COSTS[2]),  # rows 1, 6 and 11 minutes ago
        pytest.approx(sum(COSTS) + 100),
        len(COSTS),
    ]


def test_tokens_and_response_time(cost_rows: PostgresStore) -> None:
    """Token metrics sum per call values; response_time averages processing_time_ms."""
    r = rule("token_usage", cond("total_tokens"), cond("input_tokens"), cond("output_tokens"))
    assert values(cost_rows, r) == [2100, 1260, 840]
    r = rule("response_time", cond("response_time"), cond("response_time", 60, "p95"))
    times = [200 + 100 * i for i in range(6)]
    assert values(cost_rows, r) == [
        pytest.approx(sum(times) / 6),
        pytest.approx(float(np.percentile(times, 95))),
    ]


@pytest.mark.parametrize(
    ("metric", "aggregation", "expected"),
    [
        ("total_cost", "sum", 0.0),
        ("total_cost", "count", 0.0),
        ("total_cost", "avg", None),
        ("total_cost", "min", None),
        ("total_cost", "max", None),
        ("total_cost", "p95", None),
        ("error_rate", None, None),
        ("request_count", None, 0.0),
    ],
)
def test_empty_window_is_no_data(
    store: PostgresStore, metric: str, aggregation: str | None, expected: float | None
) -> None:
    """An empty window gives 0 for sum/count and None (no data) for avg/min/max/p95/rates."""
    store.usage_logs.copy_many([usage(500, estimated_cost=Decimal(1), success=False)])
    type_ = "error_rate" if metric == "error_rate" else "cost_threshold"
    assert values(store, rule(type_, cond(metric, 60, aggregation))) == [expected]


def test_error_success_rates_and_counts(store: PostgresStore) -> None:
    """error_rate and success_rate are percentages of calls; error_count counts failures."""
    rows = [usage(i + 1, success=i % 4 != 0) for i in range(20)]
    store.usage_logs.copy_many(rows)
    r = rule("error_rate", cond("error_rate"), cond("error_count"), cond("request_count"))
    assert values(store, r) == [pytest.approx(25.0), 5, 20]
    assert values(store, rule("success_rate", cond("success_rate"))) == [pytest.approx(75.0)]


def call(minutes_ago: float, *attempts: tuple[str, str, str | None, int | None]) -> FallbackLog:
    """A llm_fallback_logs row whose attempts are (provider, outcome, errorKind, statusCode)."""
    return FallbackLog.model_validate(
        {
            "primary_provider": attempts[0][0] if attempts else "openai",
            "primary_model": "m",
            "environment": "production",
            "success": any(a[1] == "success" for a in attempts),
            "created_at": ago(minutes_ago),
            "attempted_providers": [
                {"provider": p, "model": "m", "attempt": i + 1, "outcome": o, "errorKind": k,
                 "statusCode": c}
                for i, (p, o, k, c) in enumerate(attempts)
            ],
        }
    )  # fmt: skip


OK = ("google", "success", None, None)


def test_rate_limited_counts_rate_limited_attempts(store: PostgresStore) -> None:
    """quota_exceeded's rate_limited counts attempts of kind rate_limited or HTTP 429, retried
    and fallback-rescued ones included; other errors, skips and other windows do not count."""
    store.fallback_logs.copy_many(
        [
            call(1, ("openai", "error", "rate_limited", 429), OK),  # rescued by the fallback
            call(2, ("openai", "error", "rate_limited", None), ("openai", "success", None, None)),
            call(3, ("openai", "error", None, 429), ("google", "error", "rate_limited", 429)),
            call(4, ("openai", "error", "timeout", None), OK),
            call(5, ("openai", "skipped", "circuit_open", None), OK),
            call(6, ("openai", "success", None, 200)),
            call(90, ("openai", "error", "rate_limited", 429)),  # outside the window
        ]
    )
    store.usage_logs.copy_many([usage(1, success=False, error_kind="rate_limited")])  # not read
    assert values(store, rule("quota_exceeded", cond("rate_limited"))) == [4]


def test_provider_metrics_count_attempts_per_provider(store: PostgresStore) -> None:
    """provider_failures/provider_error_rate count failed attempts per provider, including
    calls a fallback rescued; skipped and cancelled attempts are not attempts; worst decides."""
    rows = [call(1, ("openai", "error", "unavailable", 503), OK) for _ in range(3)]  # rescued
    rows += [call(1, ("openai", "error", "timeout", None), ("openai", "success", None, None))]
    rows += [call(2, ("openai", "success", None, None)) for _ in range(4)]
    rows += [call(2, ("openai", "skipped", "circuit_open", None), OK) for _ in range(5)]
    rows += [call(2, ("openai", "error", "cancelled", None))]
    rows += [call(3, ("google", "error", "timeout", None), ("google", "error", "timeout", None))]
    rows += [call(200, ("anthropic", "error", "unavailable", 503))]  # outside the window
    store.fallback_logs.copy_many(rows)
    store.usage_logs.copy_many([usage(1, provider="openai", success=True) for _ in range(20)])
    r = rule("provider_failure", cond("provider_failures"), cond("provider_error_rate"))
    with store.connection() as conn:
        failures, rate = measure(conn, r, NOW)
    # openai: 4 failed of 9 attempts (3 rescued + 1 retried + 1 retry success + 4 successes)
    assert failures.by_provider == {"openai": 4, "google": 2} and failures.value == 4
    # google: 8 successes (3 + 5 rescues), 2 failures -> 20%
    assert rate.by_provider == pytest.approx({"openai": 4 / 9 * 100, "google": 20.0})
    assert rate.value == pytest.approx(4 / 9 * 100)
    low = rule("provider_failure", {**cond("provider_error_rate"), "operator": "lt"})
    with store.connection() as conn:
        assert measure(conn, low, NOW)[0].value == pytest.approx(20.0)


def test_a_down_primary_rescued_by_its_fallback_breaches(store: PostgresStore) -> None:
    """Every call succeeds on the fallback: the usage log shows no failure, the primary's
    failures still give 100% provider_error_rate (the case operators need to hear about)."""
    store.fallback_logs.copy_many(
        [call(i + 1, ("openai", "error", "unavailable", 503), OK) for i in range(10)]
    )
    store.usage_logs.copy_many([usage(i + 1, provider="google") for i in range(10)])
    r = rule(
        "provider_failure",
        {**cond("provider_error_rate"), "operator": "gte", "value": 50},
        cond("request_count"),
    )
    with store.connection() as conn:
        rate, calls = measure(conn, r, NOW)
    assert rate.by_provider == {"openai": 100.0, "google": 0.0} and rate.value == 100.0
    assert calls.value == 10
    assert values(store, rule("error_rate", cond("error_count"))) == [0]


def test_fallback_failures_and_breaker_openings(store: PostgresStore) -> None:
    """fallback_failures reads llm_fallback_logs; breaker_openings counts transitions to open."""
    fl = {"primary_provider": "openai", "primary_model": "m", "environment": "production"}
    store.fallback_logs.copy_many(
        [
            FallbackLog.model_validate({**fl, "success": False, "created_at": ago(1)}),
            FallbackLog.model_validate({**fl, "success": False, "created_at": ago(2)}),
            FallbackLog.model_validate({**fl, "success": True, "created_at": ago(2)}),
            FallbackLog.model_validate({**fl, "success": False, "created_at": ago(200)}),
        ]
    )
    be = {"environment": "production", "provider": "openai", "model": "m"}
    store.breaker_events.copy_many(
        [
            BreakerEvent.model_validate(
                {**be, "from_state": "closed", "to_state": "open", "created_at": ago(3)}
            ),
            BreakerEvent.model_validate(
                {**be, "from_state": "open", "to_state": "half_open", "created_at": ago(2)}
            ),
            BreakerEvent.model_validate(
                {**be, "from_state": "half_open", "to_state": "open", "created_at": ago(1)}
            ),
        ]
    )
    assert values(store, rule("provider_failure", cond("fallback_failures"))) == [2]
    assert values(store, rule("circuit_breaker", cond("breaker_openings"))) == [2]


def test_catalog_and_sql_name_the_same_metrics() -> None:
    """Every catalogued metric has SQL, and every alert type's metrics are catalogued."""
    assert set(METRIC_SOURCES) == set(METRICS)
    assert set(ALERT_TYPE_METRICS) == {
        "cost_threshold", "error_rate", "response_time", "success_rate", "token_usage",
        "provider_failure", "circuit_breaker", "quota_exceeded",
    }  # fmt: skip
    for metrics in ALERT_TYPE_METRICS.values():
        assert set(metrics) <= set(METRICS)


def test_conditions_on_one_table_share_one_query() -> None:
    """A rule's conditions are computed by one statement per table (and per-provider-ness)."""
    r = rule("error_rate", cond("error_rate", 5), cond("request_count", 60), cond("error_count"))
    queries = metric_queries(r, NOW)
    assert len(queries) == 1 and queries[0].indexes == (0, 1, 2)
    r = rule(
        "provider_failure",
        cond("provider_failures"),
        cond("provider_error_rate", 5),
        cond("fallback_failures"),
        cond("request_count"),
    )
    queries = metric_queries(r, NOW)
    # attempts (per provider), fallback rows, usage rows: three statements
    assert sorted((q.table, q.indexes) for q in queries) == [
        ("llm_fallback_logs", (0, 1)),
        ("llm_fallback_logs", (2,)),
        ("llm_usage_logs", (3,)),
    ]
    assert "jsonb_array_elements" in queries[0].query.as_string(None)


EVERY_TYPE_RULES = [
    rule("cost_threshold", cond("total_cost", 60, "p95")),
    rule("token_usage", cond("total_tokens")),
    rule("error_rate", cond("error_rate"), cond("request_count")),
    rule("success_rate", cond("success_rate")),
    rule("response_time", cond("response_time")),
    rule(
        "provider_failure",
        cond("provider_failures"),
        cond("provider_error_rate"),
        cond("fallback_failures"),
    ),
    rule("circuit_breaker", cond("breaker_openings")),
    rule("quota_exceeded", cond("rate_limited")),
]


def test_metric_queries_use_the_indexes(store: PostgresStore) -> None:
    """EXPLAIN of every type's statements shows an index range scan, never a sequential scan."""
    with store.connection() as conn:
        # 40,000 usage rows over 28 days in three environments, plus fallback and breaker rows
        conn.execute(
            """
            INSERT INTO llm_usage_logs (environment, provider, model, total_tokens,
                estimated_cost, processing_time_ms, success, error_kind, created_at)
            SELECT (ARRAY['local','staging','production'])[1 + g %% 3], 'openai', 'm', g %% 900,
                   (g %% 97) / 1000.0, g %% 3000, g %% 10 <> 0,
                   CASE WHEN g %% 50 = 0 THEN 'rate_limited' END,
                   %s - make_interval(secs => g * 60.0)
            FROM generate_series(1, 40000) g
            """,
            (NOW,),
        )
        conn.execute(
            """
            INSERT INTO llm_fallback_logs (primary_provider, primary_model, success, environment,
                attempted_providers, created_at)
            SELECT 'openai', 'm', g %% 7 <> 0, (ARRAY['local','staging','production'])[1 + g %% 3],
                   CASE WHEN g %% 5 = 0
                        THEN '[{"provider": "openai", "model": "m", "attempt": 1,
                                "outcome": "error", "errorKind": "rate_limited",
                                "statusCode": 429},
                               {"provider": "google", "model": "m", "attempt": 1,
                                "outcome": "success"}]'::jsonb
                        ELSE '[{"provider": "openai", "model": "m", "attempt": 1,
                                "outcome": "success"}]'::jsonb END,
                   %s - make_interval(secs => g * 60.0)
            FROM generate_series(1, 20000) g
            """,
            (NOW,),
        )
        conn.execute(
            """
            INSERT INTO llm_circuit_breaker_events (environment, provider, model, from_state,
                to_state, created_at)
            SELECT (ARRAY['local','staging','production'])[1 + g %% 3], 'openai', 'm', 'closed',
                   'open', %s - make_interval(secs => g * 60.0)
            FROM generate_series(1, 20000) g
            """,
            (NOW,),
        )
        conn.execute("ANALYZE llm_usage_logs, llm_fallback_logs, llm_circuit_breaker_events")
        for r in EVERY_TYPE_RULES:
            for mq in metric_queries(r, NOW):
                plan = "\n".join(
                    row[0] for row in conn.execute(b"EXPLAIN " + mq.query.as_bytes(conn), mq.params)
                )
                assert "Seq Scan" not in plan, plan
                assert "Index" in plan and "idx_" in plan, plan
