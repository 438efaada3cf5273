"""Retention over a million log rows: exact counts, batch size and time.

Creates a throw-away database on the server of ``--database-url`` (default
``$LLMOPS_TEST_DATABASE_URL``), fills llm_fallback_logs and llm_usage_logs with ``--rows`` rows in
all (half each, one row a minute going back from a fixed ``now``), plus A/B results and resolved
alert events, runs retention with each ``--batch-size`` and checks that exactly the rows past
each cut-off went. Prints rows/s per batch size and the ratio to the first one.

    python benchmarks/bench_retention.py --rows 1000000 --batch-size 1000 5000 20000
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import conninfo, sql

from llmops.retention import RetentionPolicy, cutoffs, run_retention
from llmops.store import PostgresStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TABLES = ("llm_fallback_logs", "llm_usage_logs", "ab_test_results", "alert_events")


def fill(url: str, rows: int) -> None:
    half = rows // 2
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO llm_fallback_logs (primary_provider, primary_model, success, "
            "environment, created_at) SELECT 'openai', 'm', true, 'local', "
            "%(now)s - i * interval '1 minute' FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": half},
        )
        conn.execute(
            "INSERT INTO llm_usage_logs (environment, provider, model, success, created_at) "
            "SELECT 'local', 'openai', 'm', true, %(now)s - i * interval '1 minute' "
            "FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": rows - half},
        )
        test = conn.execute(
            "INSERT INTO ab_tests (name, environment, variants, traffic_split, start_date, "
            "end_date, is_active, metrics) VALUES ('t', 'local', '[]', '{}', %s, %s, false, '{}') "
            "RETURNING id",
            (NOW.replace(year=2024), NOW.replace(year=2025, month=1)),
        ).fetchone()
        assert test is not None
        conn.execute(
            "INSERT INTO ab_test_results (test_id, variant_id, content_hash, success, created_at) "
            "SELECT %(t)s, 'a', 'h', true, %(now)s - i * interval '1 hour' "
            "FROM generate_series(1, 10000) i",
            {"t": test[0], "now": NOW},
        )
        rule = conn.execute(
            "INSERT INTO alert_rules (name, environment, type, conditions, actions) "
            "VALUES ('r', 'local', 'error_rate', '[]', '[]') RETURNING id"
        ).fetchone()
        assert rule is not None
        conn.execute(
            "INSERT INTO alert_events (rule_id, rule_name, severity, message, details, "
            "environment, triggered_at, resolved_at, status) SELECT %(r)s, 'r', 'low', 'm', "
            "'{}', 'local', %(now)s - i * interval '1 hour', %(now)s - i * interval '1 hour', "
            "'resolved' FROM generate_series(1, 10000) i",
            {"r": rule[0], "now": NOW},
        )
        conn.execute("VACUUM ANALYZE")


def expected(url: str, policy: RetentionPolicy) -> dict[str, int]:
    """Rows past each cut-off, counted independently of the retention module's SQL."""
    cut = cutoffs(policy, NOW)
    with psycopg.connect(url) as conn:
        out = {}
        for table, column in (
            ("llm_fallback_logs", "created_at"),
            ("llm_usage_logs", "created_at"),
            ("ab_test_results", "created_at"),
            ("alert_events", "resolved_at"),
        ):
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(
                    sql.Identifier(table), sql.Identifier(column)
                ),
                (cut[table],),
            ).fetchone()
            assert row is not None
            out[table] = int(row[0])
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("LLMOPS_TEST_DATABASE_URL"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[5000])
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or $LLMOPS_TEST_DATABASE_URL is required")
    name = f"llmops_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(args.database_url)
    params["dbname"] = name
    url = conninfo.make_conninfo("", **params)
    try:
        with PostgresStore.connect(url, max_size=2) as store:
            store.migrate()
        base_rate = None
        for batch in args.batch_size:
            with psycopg.connect(url, autocommit=True) as conn:
                for table in (*TABLES, "ab_tests", "alert_rules"):
                    conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))
            t0 = time.perf_counter()
            fill(url, args.rows)
            fill_s = time.perf_counter() - t0
            policy = RetentionPolicy(batch_size=batch)
            want = expected(url, policy)
            with PostgresStore.connect(url, max_size=2) as store:
                t0 = time.perf_counter()
                report = run_retention(store, policy, now=NOW)
                run_s = time.perf_counter() - t0
            got = {t.table: t.deleted for t in report.tables if t.table in want}
            after = expected(url, policy)
            exact = got == want and all(v == 0 for v in after.values())
            rate = report.total / run_s
            base_rate = base_rate or rate
            batches = sum(t.batches for t in report.tables)
            print(
                f"rows={args.rows + 20000:,} batch={batch:,} filled in {fill_s:.1f}s; "
                f"deleted {report.total:,} in {batches} batches, {run_s:.2f}s "
                f"({rate:,.0f} rows/s, x{rate / base_rate:.2f} vs first batch size); "
                f"exact={exact} per table={got}"
            )
            if not exact:
                raise SystemExit(f"MISMATCH: expected {want}, deleted {got}, left {after}")
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
