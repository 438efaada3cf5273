"""One alert pass over all eight rule types on 1,000,000 usage-log rows (target: <= 100 ms).

Creates a scratch database on $LLMOPS_TEST_DATABASE_URL's server (or --server), migrates it,
fills llm_usage_logs with 1,000,000 rows spread over 7 days (80% production), as many
llm_fallback_logs rows (the router writes one per call) whose ``attempted_providers`` mix
first-try successes (85%), retried 503s, 429s and timeouts rescued by the fallback, open-breaker
skips and whole-chain failures (1%), and 10,000 breaker events, then times ``AlertEngine.evaluate_due()`` over
eight immediate rules (one per type, one-hour windows) and, for context, the same rules with
24-hour windows. The database is dropped afterwards.

    python benchmarks/bench_alerts.py [--rows 1000000] [--passes 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import conninfo, sql

from llmops.alerts import AlertEngine, AlertRuleManager
from llmops.alerts.metrics import metric_queries
from llmops.models.alerts import AlertRule
from llmops.store import PostgresStore

TARGET_MS = 100.0


def rules(window: int) -> list[dict[str, Any]]:
    def c(metric: str, op: str, value: float, agg: str | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"metric": metric, "operator": op, "value": value, "timeWindow": window}
        if agg:
            d["aggregation"] = agg
        return d

    base = {"environment": "production", "frequency": "immediate", "actions": []}
    return [
        {**base, "name": "cost", "type": "cost_threshold", "conditions": [c("total_cost", "gt", 1e9)]},
        {**base, "name": "tokens", "type": "token_usage", "conditions": [c("total_tokens", "gt", 1e12)]},
        {**base, "name": "errors", "type": "error_rate",
         "conditions": [c("error_rate", "gt", 50), c("request_count", "gte", 100)]},
        {**base, "name": "success", "type": "success_rate", "conditions": [c("success_rate", "lt", 1)]},
        {**base, "name": "latency p95", "type": "response_time",
         "conditions": [c("response_time", "gt", 1e9, "p95")]},
        {**base, "name": "providers", "type": "provider_failure",
         "conditions": [c("provider_failures", "gt", 1e9), c("provider_error_rate", "gt", 101),
                        c("fallback_failures", "gt", 1e9)]},
        {**base, "name": "breakers", "type": "circuit_breaker",
         "conditions": [c("breaker_openings", "gt", 1e9)]},
        {**base, "name": "quota", "type": "quota_exceeded", "conditions": [c("rate_limited", "gt", 1e9)]},
    ]  # fmt: skip


FILL = """
INSERT INTO llm_usage_logs (environment, provider, model, input_tokens, output_tokens,
    total_tokens, estimated_cost, processing_time_ms, success, error_kind, status_code, created_at)
SELECT CASE WHEN g %% 10 < 8 THEN 'production' WHEN g %% 10 = 8 THEN 'staging' ELSE 'local' END,
       (ARRAY['openai','google','anthropic'])[1 + g %% 3], 'model-' || (g %% 4),
       100 + g %% 900, 50 + g %% 400, 150 + g %% 1300, (g %% 997) / 100000.0,
       50 + (g::bigint * 7919) %% 4000, g %% 23 <> 0,
       CASE WHEN g %% 23 = 0 THEN (CASE WHEN g %% 2 = 0 THEN 'rate_limited' ELSE 'timeout' END) END,
       CASE WHEN g %% 23 = 0 AND g %% 2 = 0 THEN 429 END,
       %(now)s - make_interval(secs => (g::float8 / %(rows)s) * 7 * 86400)
FROM generate_series(1, %(rows)s) g
"""
FILL_FALLBACK = """
WITH calls AS (
    SELECT g, g %% 100 AS k,
           (ARRAY['openai','google','anthropic'])[1 + g %% 3] AS p,
           (ARRAY['google','anthropic','openai'])[1 + g %% 3] AS f,
           %(now)s - make_interval(secs => (g::float8 / %(rows)s) * 7 * 86400) AS at
    FROM generate_series(1, %(rows)s) g
)
INSERT INTO llm_fallback_logs (primary_provider, primary_model, used_provider, used_model,
    attempted_providers, success, environment, created_at)
SELECT p, 'model-1', CASE WHEN k < 90 THEN p WHEN k < 99 THEN f END,
       CASE WHEN k < 99 THEN 'model-1' END,
       CASE
         WHEN k < 85 THEN jsonb_build_array(jsonb_build_object('provider', p, 'model', 'model-1',
             'attempt', 1, 'outcome', 'success', 'latencyMs', 300 + g %% 900))
         WHEN k < 90 THEN jsonb_build_array(  -- 503, retried on the primary
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'error', 'errorKind', 'unavailable', 'statusCode', 503),
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 2,
                 'outcome', 'success', 'latencyMs', 400))
         WHEN k < 94 THEN jsonb_build_array(  -- 429 with a long Retry-After: the fallback serves
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'error', 'errorKind', 'rate_limited', 'statusCode', 429,
                 'retryAfter', 30),
             jsonb_build_object('provider', f, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'success', 'latencyMs', 500))
         WHEN k < 97 THEN jsonb_build_array(  -- two timeouts, then the fallback
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'error', 'errorKind', 'timeout'),
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 2,
                 'outcome', 'error', 'errorKind', 'timeout'),
             jsonb_build_object('provider', f, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'success', 'latencyMs', 700))
         WHEN k < 99 THEN jsonb_build_array(  -- primary's breaker open
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'skipped', 'errorKind', 'circuit_open'),
             jsonb_build_object('provider', f, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'success', 'latencyMs', 450))
         ELSE jsonb_build_array(  -- the whole chain failed
             jsonb_build_object('provider', p, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'error', 'errorKind', 'unavailable', 'statusCode', 503),
             jsonb_build_object('provider', f, 'model', 'model-1', 'attempt', 1,
                 'outcome', 'error', 'errorKind', 'unavailable', 'statusCode', 502))
       END,
       k < 99, CASE WHEN g %% 10 < 8 THEN 'production' WHEN g %% 10 = 8 THEN 'staging'
                    ELSE 'local' END, at
FROM calls
"""
FILL_BREAKER = """
INSERT INTO llm_circuit_breaker_events (environment, provider, model, from_state, to_state,
    created_at)
SELECT 'production', 'openai', 'm', 'closed', CASE WHEN g %% 2 = 0 THEN 'open' ELSE 'closed' END,
       %(now)s - make_interval(secs => (g::float8 / 10000) * 7 * 86400)
FROM generate_series(1, 10000) g
"""


def report_plans(store: PostgresStore, label: str, window_rules: list[Any]) -> None:
    """Print which indexes the metric statements of ``window_rules`` use (EXPLAIN)."""
    plans = []
    with store.connection() as conn:
        for data in window_rules:
            rule = (
                data
                if isinstance(data, AlertRule)
                else AlertRule.model_validate({**data, "id": uuid.uuid4()})
            )
            for mq in metric_queries(rule, datetime.now(UTC)):
                plan = conn.execute(b"EXPLAIN " + mq.query.as_bytes(conn), mq.params)
                plans.append("\n".join(row[0] for row in plan))
    seq = sum("Seq Scan" in p for p in plans)
    used = sorted({w.strip(",") for p in plans for w in p.split() if w.startswith("idx_")})
    print(f"{label} windows: {len(plans)} metric statements, {seq} with a sequential scan; "
          f"indexes used: {', '.join(used)}")  # fmt: skip


def timed_passes(engine: AlertEngine, passes: int) -> list[float]:
    engine.evaluate_due()  # warm the pool, the plans and the caches
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        outcomes = engine.evaluate_due()
        times.append((time.perf_counter() - start) * 1000)
        assert len(outcomes) == 8 and all(o.kind in ("none", "open") for o in outcomes), outcomes
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default=os.environ.get("LLMOPS_TEST_DATABASE_URL"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=30)
    args = parser.parse_args()
    if not args.server:
        sys.exit("set LLMOPS_TEST_DATABASE_URL or pass --server postgresql://...")
    name = f"llmops_bench_alerts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(args.server)
    params["dbname"] = name
    url = conninfo.make_conninfo("", **params)
    try:
        with PostgresStore.connect(url, max_size=2, migrate=True) as store:
            now = datetime.now(UTC)
            t = time.perf_counter()
            with store.connection() as conn:
                conn.execute(FILL, {"now": now, "rows": args.rows})
                conn.execute(FILL_FALLBACK, {"now": now, "rows": args.rows})
                conn.execute(FILL_BREAKER, {"now": now})
            with store.direct_connection() as conn:
                conn.execute("VACUUM ANALYZE llm_usage_logs")
                conn.execute("VACUUM ANALYZE llm_fallback_logs")
                conn.execute("VACUUM ANALYZE llm_circuit_breaker_events")
            print(f"filled {args.rows:,} usage rows, {args.rows:,} fallback rows, 10,000 breaker events "
                  f"in {time.perf_counter() - t:.1f}s")  # fmt: skip

            manager = AlertRuleManager(store)
            hour = manager.add_many(rules(60))
            with store.connection() as conn:
                in_window = conn.execute(
                    "SELECT count(*) FROM llm_usage_logs WHERE environment = 'production' "
                    "AND created_at > %s",
                    (datetime.now(UTC) - timedelta(hours=1),),
                ).fetchone()
                attempts = conn.execute(
                    "SELECT count(*) FROM llm_fallback_logs, "
                    "jsonb_array_elements(attempted_providers) "
                    "WHERE environment = 'production' AND created_at > %s",
                    (datetime.now(UTC) - timedelta(hours=1),),
                ).fetchone()
            print(f"production rows in a 1-hour window: {in_window[0] if in_window else 0:,} "
                  f"usage, {attempts[0] if attempts else 0:,} attempts")  # fmt: skip
            for label, window_rules in (("1-hour", hour), ("24-hour", rules(24 * 60))):
                report_plans(store, label, window_rules)

            engine = AlertEngine(store, notifiers={})
            one_hour = timed_passes(engine, args.passes)
            for r in hour:
                manager.delete(r.id)  # type: ignore[arg-type]
            manager.add_many(rules(24 * 60))
            one_day = timed_passes(engine, max(5, args.passes // 3))

        med_h, med_d = statistics.median(one_hour), statistics.median(one_day)
        p95_h = sorted(one_hour)[int(0.95 * (len(one_hour) - 1))]
        print(
            f"one pass, 8 rule types, 1-hour windows : median {med_h:.1f} ms, "
            f"p95 {p95_h:.1f} ms, min {min(one_hour):.1f} ms ({len(one_hour)} passes)"
        )
        print(
            f"one pass, 8 rule types, 24-hour windows: median {med_d:.1f} ms "
            f"({med_d / med_h:.1f}x the 1-hour pass)"
        )
        print(
            f"target <= {TARGET_MS:.0f} ms per pass: "
            f"{'met' if med_h <= TARGET_MS else 'MISSED'} ({med_h / TARGET_MS:.2f} of target)"
        )
        return 0 if med_h <= TARGET_MS else 1  # fmt: skip
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
