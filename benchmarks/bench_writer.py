"""LogWriter throughput vs a raw COPY of the same rows, in the same run.

    python benchmarks/bench_writer.py [--rows 50000] [--database-url postgresql://...]

The same pre-built llm_usage_logs and llm_fallback_logs rows are written three ways into a
throw-away database: one raw COPY per table on one connection (the ceiling), and through
LogWriter (submit every row, then flush) with its default batch size. Target: writer >= 80 % of
raw COPY rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal

from _db import bench_database, server_url
from llmops import FallbackAttempt, FallbackLog, PostgresStore, UsageLog
from llmops.store.writer import LogWriter


def make_rows(n: int) -> list[UsageLog | FallbackLog]:
    now = datetime.now(UTC)
    attempt = FallbackAttempt(provider="openai", model="gpt-4o-mini", outcome="success")
    rows: list[UsageLog | FallbackLog] = []
    for i in range(n // 2):
        rows.append(
            FallbackLog(
                primary_provider="openai",
                primary_model="gpt-4o-mini",
                used_provider="openai",
                used_model="gpt-4o-mini",
                attempted_providers=[attempt],
                success=True,
                environment="production",
                processing_time_ms=i % 900,
                created_at=now,
            )
        )
        rows.append(
            UsageLog(
                environment="production",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=100,
                output_tokens=50,
                total_tokens=150,
                estimated_cost=Decimal("0.000045"),
                processing_time_ms=i % 900,
                success=True,
                session_id=f"s{i % 1000}",
                created_at=now,
            )
        )
    return rows


def truncate(store: PostgresStore) -> None:
    with store.connection() as conn:
        conn.execute("TRUNCATE llm_usage_logs, llm_fallback_logs")


def raw_copy(store: PostgresStore, rows: list[UsageLog | FallbackLog]) -> float:
    fallback = [r for r in rows if isinstance(r, FallbackLog)]
    usage = [r for r in rows if isinstance(r, UsageLog)]
    t0 = time.perf_counter()
    with store.transaction() as conn:
        store.fallback_logs.copy_many(fallback, conn=conn)
        store.usage_logs.copy_many(usage, conn=conn)
    return time.perf_counter() - t0


def through_writer(
    store: PostgresStore, rows: list[UsageLog | FallbackLog], batch_size: int
) -> float:
    with LogWriter(
        store, max_queue=len(rows) + 1, batch_size=batch_size, spill_dir=tempfile.mkdtemp()
    ) as writer:
        t0 = time.perf_counter()
        for row in rows:
            writer.submit(row)
        writer.flush()
        elapsed = time.perf_counter() - t0
        assert writer.stats().written_rows == len(rows), writer.stats()
    return elapsed


def count(store: PostgresStore) -> int:
    with store.connection() as conn:
        a = conn.execute("SELECT count(*) FROM llm_usage_logs").fetchone()
        b = conn.execute("SELECT count(*) FROM llm_fallback_logs").fetchone()
    return (a[0] if a else 0) + (b[0] if b else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=LogWriter.DEFAULT_BATCH_SIZE)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    server = server_url(args.database_url)
    if server is None:
        raise SystemExit("set LLMOPS_BENCH_DATABASE_URL or pass --database-url")
    rows = make_rows(args.rows)
    raw_times: list[float] = []
    writer_times: list[float] = []
    with bench_database(server) as url, PostgresStore.connect(url) as store:
        for r in range(args.rounds):  # interleaved rounds: the machine may be shared
            for which in ("raw", "writer") if r % 2 else ("writer", "raw"):  # alternate order
                truncate(store)
                if which == "raw":
                    raw_times.append(raw_copy(store, rows))
                else:
                    writer_times.append(through_writer(store, rows, args.batch_size))
                assert count(store) == len(rows)
            print(
                f"round {r + 1}: raw COPY {raw_times[-1]:.3f}s  LogWriter {writer_times[-1]:.3f}s"
            )
    n = len(rows)
    ratios = [raw / writer for raw, writer in zip(raw_times, writer_times, strict=True)]
    print(f"\n{n} rows (half llm_fallback_logs, half llm_usage_logs), {args.rounds} rounds")
    for label, pick in (("best", min), ("median", statistics.median)):
        raw_rate, writer_rate = n / pick(raw_times), n / pick(writer_times)
        print(
            f"{label:<6}  raw COPY {raw_rate:9,.0f} rows/s   LogWriter {writer_rate:9,.0f} rows/s"
        )
    print(
        f"LogWriter / raw COPY, median of the per-round ratios: {100 * statistics.median(ratios):.0f} %"
        f" (rounds: {', '.join(f'{100 * r:.0f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
