"""Router overhead per call: LLMRouter/AsyncLLMRouter vs calling FakeProvider directly.

    python benchmarks/bench_router.py [--calls 20000] [--database-url postgresql://...]

Prints p50/p99 of each in µs and the overhead (router minus direct, same percentile) with the
ratio router/direct, sync and async, without a store and with one (the background writer
running). Targets: overhead p50 <= 20 µs, p99 <= 100 µs without store; p50 <= 50 µs with one.
The store runs need a PostgreSQL server ($LLMOPS_BENCH_DATABASE_URL or
$LLMOPS_TEST_DATABASE_URL); a throw-away database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _db import bench_database, server_url
from llmops import AsyncLLMRouter, FallbackConfig, FallbackTarget, LLMRouter, PostgresStore
from llmops.providers import ChatMessage, CompletionRequest
from llmops.providers.fake import FakeProvider

MESSAGES = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]
CONFIG = FallbackConfig(
    environment="local",
    primary_provider="openai",
    primary_model="gpt-4o-mini",
    fallback_providers=[FallbackTarget(provider="google", model="gemini-2.0-flash", priority=1)],
)


def pct(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0  # ns -> µs


def time_sync(fn: Callable[[], Any], n: int) -> list[int]:
    clock = time.perf_counter_ns
    for _ in range(min(2000, n)):
        fn()
    out = []
    gc.collect()
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


async def time_async(fn: Callable[[], Any], n: int) -> list[int]:
    clock = time.perf_counter_ns
    for _ in range(min(2000, n)):
        await fn()
    out = []
    gc.collect()
    for _ in range(n):
        t0 = clock()
        await fn()
        out.append(clock() - t0)
    return out


def report(label: str, router: list[int], direct: list[int]) -> None:
    r50, r99 = pct(router, 0.50), pct(router, 0.99)
    d50, d99 = pct(direct, 0.50), pct(direct, 0.99)
    print(
        f"{label:<22} router p50 {r50:7.1f} µs  p99 {r99:7.1f} µs | direct p50 {d50:6.1f} µs  "
        f"p99 {d99:6.1f} µs | overhead p50 {r50 - d50:6.1f} µs  p99 {r99 - d99:6.1f} µs | "
        f"ratio p50 {r50 / d50:5.1f}x  mean {statistics.fmean(router) / statistics.fmean(direct):5.1f}x"
    )


def providers() -> dict[str, FakeProvider]:
    return {"openai": FakeProvider(record=False), "google": FakeProvider(record=False)}


def run(n: int, store: PostgresStore | None, label: str) -> None:
    p = providers()
    request = CompletionRequest((ChatMessage("user", MESSAGES[0]["content"]),), "gpt-4o-mini")
    direct = time_sync(lambda: p["openai"].complete(request), n)
    spill = tempfile.mkdtemp(prefix="llmops-bench-")
    router = LLMRouter(CONFIG, p, store, spill_dir=spill)
    timed = time_sync(lambda: router.complete(MESSAGES), n)
    router.close()
    report(f"sync  {label}", timed, direct)

    async def go() -> None:
        ap = providers()
        adirect = await time_async(lambda: ap["openai"].acomplete(request), n)
        arouter = AsyncLLMRouter(CONFIG, ap, store, spill_dir=spill)
        atimed = await time_async(lambda: arouter.complete(MESSAGES), n)
        await arouter.aclose()
        report(f"async {label}", atimed, adirect)

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(f"{args.calls} calls per measurement, FakeProvider with no latency\n")
    run(args.calls, None, "no store")
    server = server_url(args.database_url)
    if server is None:
        print("\n(no database URL: the with-store runs were skipped)")
        return
    with bench_database(server) as url, PostgresStore.connect(url) as store:
        run(args.calls, store, "with store")
        with store.connection() as conn:
            rows = conn.execute("SELECT count(*) FROM llm_usage_logs").fetchone()
        print(f"\nusage rows written by the with-store runs: {rows[0] if rows else 0}")


if __name__ == "__main__":
    main()
