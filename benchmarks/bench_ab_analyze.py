"""Benchmark: ``llmops.ab.analyze`` over 1,000,000 A/B results (target <= 500 ms).

Creates a scratch database on the server of ``--server-url`` (default
``$LLMOPS_TEST_DATABASE_URL`` or ``$LLMOPS_DATABASE_URL``), migrates it, COPYs the results
(3 variants, 50/30/20, 10 % of results with a quality score), runs ``analyze`` several times and
prints the median, next to the time a naive analysis takes to merely fetch every row into
Python (the ratio shows what aggregating in SQL saves), and times the results statement as it
is (covering index of sql/007, numeric moments) and as it was, printing both plans and the load
average. The scratch database is dropped.

    python benchmarks/bench_ab_analyze.py [--rows 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import psycopg
from psycopg import conninfo, sql

from llmops.ab import ABTestManager, analyze
from llmops.ab.analysis import _PLANNER_SQL, _RESULTS_SQL
from llmops.store import PostgresStore

# The results statement as it was before sql/007 and numeric aggregation: estimated_cost
# converted to float8 on every row, planned with the server's defaults (random_page_cost 4: the
# planner keeps the seq scan and hash aggregate it used before; the printed plan shows it).
# Timed in the same run to give the change's ratio.
_BEFORE_SQL = _RESULTS_SQL.replace(
    "avg(estimated_cost)::float8 AS cost_mean", "avg(estimated_cost::float8) AS cost_mean"
).replace(
    "var_pop(estimated_cost)::float8 AS cost_var", "var_pop(estimated_cost::float8) AS cost_var"
)
assert _BEFORE_SQL.count("::float8) AS cost_") == 2


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def _copy_results(store: PostgresStore, test_id: uuid.UUID, rows: int, seed: int = 1) -> float:
    rng = np.random.default_rng(seed)
    variant = rng.choice(np.array(["control", "cheaper", "faster"]), rows, p=[0.5, 0.3, 0.2])
    cost = np.round(rng.gamma(4.0, 0.0005, rows), 6)
    latency = np.round(rng.lognormal(6.5, 0.4, rows)).astype(np.int64)
    success = rng.random(rows) < 0.97
    scored = rng.random(rows) < 0.10
    quality = np.round(rng.beta(8, 2, rows), 3)
    ids = [uuid.uuid4() for _ in range(rows)]
    content = "0" * 64
    tid = str(test_id)
    started = time.perf_counter()
    chunk = 100_000
    with store.transaction() as conn, conn.cursor() as cur:
        # scores first, as a host that scores before the writer flushes: the insert trigger
        # of sql/003 links them to the test while the results are copied
        with cur.copy("COPY ab_result_quality (result_id, score) FROM STDIN") as copy:
            buf = io.StringIO()
            for k in np.flatnonzero(scored):
                buf.write(f"{ids[k]}\t{quality[k]:.3f}\n")
            copy.write(buf.getvalue())
        with cur.copy(
            "COPY ab_test_results (id, test_id, variant_id, content_hash, input_tokens, "
            "output_tokens, total_tokens, estimated_cost, processing_time, provider, model, "
            "success) FROM STDIN"
        ) as copy:
            for lo in range(0, rows, chunk):
                buf = io.StringIO()
                for i in range(lo, min(rows, lo + chunk)):
                    buf.write(
                        f"{ids[i]}\t{tid}\t{variant[i]}\t{content}\t400\t100\t500\t"
                        f"{cost[i]:.6f}\t{latency[i]}\tfake\tfake-1\t{'t' if success[i] else 'f'}\n"
                    )
                copy.write(buf.getvalue())
        linked = cur.execute(
            "SELECT count(*) FROM ab_result_quality WHERE test_id = %s", (test_id,)
        ).fetchone()
        assert linked is not None and linked[0] == int(scored.sum()), linked
    elapsed = time.perf_counter() - started
    with store.direct_connection() as conn:  # what autovacuum does to a table at rest
        conn.execute("VACUUM (ANALYZE) ab_test_results")
        conn.execute("VACUUM (ANALYZE) ab_result_quality")
    return elapsed


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _timed(
    store: PostgresStore, statements: list[str], params: dict[str, object], n: int
) -> list[float]:
    """Wall times of running ``statements`` in one transaction, ``n`` times."""
    times = []
    with store.connection() as conn:
        for _ in range(n):
            t0 = time.perf_counter()
            with conn.transaction():
                for stmt in statements:
                    conn.execute(stmt, params).fetchall()
            times.append(time.perf_counter() - t0)
    return times


def _plan(store: PostgresStore, statements: list[str], params: dict[str, object]) -> str:
    """The scan and aggregate nodes of the last statement's plan, after the others ran."""
    with store.connection() as conn, conn.transaction():
        for stmt in statements[:-1]:
            conn.execute(stmt, params)
        lines = [
            str(r[0]).strip().removeprefix("->  ")
            for r in conn.execute("EXPLAIN " + statements[-1], params).fetchall()
        ]
    keep = [ln.split("  (")[0] for ln in lines if "Scan" in ln or "Aggregate" in ln]
    return "; ".join(k for k in keep if not k.startswith("CTE Scan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("LLMOPS_TEST_DATABASE_URL") or os.environ.get("LLMOPS_DATABASE_URL"),
    )
    args = parser.parse_args()
    if not args.server_url:
        print("set LLMOPS_TEST_DATABASE_URL or pass --server-url", file=sys.stderr)
        return 2
    name = f"llmops_bench_ab_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with PostgresStore.connect(_with_dbname(args.server_url, name), migrate=True) as store:
            test = ABTestManager(store).create(
                {
                    "name": "bench",
                    "environment": "production",
                    "variants": [
                        {
                            "id": vid,
                            "name": vid,
                            "config": {"provider": "fake", "model": vid},
                            "weight": w,
                        }
                        for vid, w in (("control", 50), ("cheaper", 30), ("faster", 20))
                    ],
                    "start_date": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
                    "metrics": {
                        "primaryMetric": "cost",
                        "trackMetrics": ["cost", "speed", "success_rate", "quality"],
                        "sampleSize": 1000,
                        "confidenceLevel": 95,
                    },
                }
            )
            assert test.id is not None
            load_s = _copy_results(store, test.id, args.rows)
            print(f"loaded {args.rows:,} results (and scores for 10 %) with COPY in {load_s:.1f} s")

            load_before = _loadavg()
            analyze(store, test.id)  # warm the cache, as a repeated report would
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                report = analyze(store, test.id)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            assert sum(v.n for v in report.variants) == args.rows

            # the floor: one plain aggregate over the same heap rows, measured in this run
            floor = []
            with store.connection() as conn:
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    conn.execute(
                        "SELECT variant_id, count(*), sum(processing_time) FROM ab_test_results "
                        "WHERE test_id = %s GROUP BY variant_id",
                        (test.id,),
                    ).fetchall()
                    floor.append(time.perf_counter() - t0)
            floor_median = statistics.median(floor)

            # the results statement alone, now and as it was before (same run, same rows)
            params: dict[str, object] = {"test_id": test.id}
            now_plan = _plan(store, [_PLANNER_SQL, _RESULTS_SQL], params)
            before_plan = _plan(store, [_BEFORE_SQL], params)
            _timed(store, [_BEFORE_SQL], params, 1)
            now_s = statistics.median(
                _timed(store, [_PLANNER_SQL, _RESULTS_SQL], params, args.repeat)
            )
            before_s = statistics.median(_timed(store, [_BEFORE_SQL], params, args.repeat))

            t0 = time.perf_counter()
            with store.connection() as conn:
                fetched = conn.execute(
                    "SELECT variant_id, estimated_cost, processing_time, success "
                    "FROM ab_test_results WHERE test_id = %s",
                    (test.id,),
                ).fetchall()
            fetch_s = time.perf_counter() - t0
            assert len(fetched) == args.rows

            print(
                f"analyze over {args.rows:,} results: median {median * 1000:.0f} ms "
                f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={args.repeat}); "
                f"target <= 500 ms: {'met' if median <= 0.5 else 'NOT met'}"
            )
            print(
                f"floor, count + sum(processing_time) per variant over the same rows: median {floor_median * 1000:.0f} ms "
                f"-> analyze costs {median / floor_median:.1f}x that"
            )
            print(
                f"naive baseline, fetching every row into Python (no statistics yet): "
                f"{fetch_s * 1000:.0f} ms -> SQL aggregation is {fetch_s / median:.1f}x faster"
            )
            print(
                f"results statement: median {now_s * 1000:.0f} ms [{now_plan}]; before sql/007 and "
                f"numeric aggregation: median {before_s * 1000:.0f} ms [{before_plan}] "
                f"-> {before_s / now_s:.2f}x"
            )
            print(
                f"recommendation: {report.recommendation.status} ({report.recommendation.reason})"
            )
            print(
                f"load average (1/5/15 min) on {os.cpu_count()} CPUs: {load_before} before the "
                f"timings, {_loadavg()} after"
            )
    finally:
        with psycopg.connect(args.server_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
