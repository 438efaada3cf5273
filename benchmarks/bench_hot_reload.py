"""Hot reload: how fast an activation reaches a watching router, and what watching costs a call.

    python benchmarks/bench_hot_reload.py [--activations 40] [--calls 5000] [--database-url URL]

Prints, on a throw-away database ($LLMOPS_BENCH_DATABASE_URL or $LLMOPS_TEST_DATABASE_URL):

1. propagation: time from `ConfigService.activate()` returning (committed) to the router's
   `config` changing, p50 / p95 / max over N activations (target: well under 1 s);
2. hot path: `router.complete()` p50 / p99 on FakeProvider with `watch=True` vs `watch=False`,
   and their ratio (target: ~1.0; the watcher adds no work to a call);
3. calls during reloads: one thread calling in a loop while activations flip the config;
   calls made, errors (target: 0) and p99.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings

from _db import bench_database, server_url
from llmops import LLMRouter, PostgresStore
from llmops.configs import ConfigService
from llmops.providers.fake import FakeProvider

ENV = "local"
MESSAGES = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]


def configs(service: ConfigService) -> list[object]:
    ids = []
    for primary, model in (("openai", "gpt-a"), ("google", "gem-b")):
        other = "google" if primary == "openai" else "openai"
        doc = {
            "environment": ENV,
            "primary_provider": primary,
            "primary_model": model,
            "fallback_providers": [{"provider": other, "model": "fallback", "priority": 1}],
        }
        ids.append(service.apply(doc).config.id)
    service.activate(ids[0])  # type: ignore[arg-type]
    return ids


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def providers() -> dict[str, FakeProvider]:
    return {"openai": FakeProvider(record=False), "google": FakeProvider(record=False)}


def propagation(store: PostgresStore, service: ConfigService, ids: list[object], n: int) -> None:
    router = LLMRouter.from_store(store, ENV, providers(), watch=True)
    assert router.watcher is not None and router.watcher.wait_connected(10)
    lags = []
    try:
        for i in range(n):
            target = ids[(i + 1) % 2]
            service.activate(target)  # type: ignore[arg-type]
            committed = time.perf_counter()
            while router.config.id != target:
                time.sleep(0.0002)
            lags.append((time.perf_counter() - committed) * 1000)
    finally:
        router.close()
    print(
        f"propagation over {n} activations: p50 {pct(lags, 0.5):.1f} ms, "
        f"p95 {pct(lags, 0.95):.1f} ms, max {max(lags):.1f} ms"
    )


def call_latency(store: PostgresStore, watch: bool, calls: int) -> list[float]:
    router = LLMRouter.from_store(store, ENV, providers(), watch=watch)
    try:
        for _ in range(500):
            router.complete(MESSAGES)
        out = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            router.complete(MESSAGES)
            out.append((time.perf_counter_ns() - t0) / 1000)
        return out
    finally:
        router.close()


def during_reloads(store: PostgresStore, service: ConfigService, ids: list[object], n: int) -> None:
    router = LLMRouter.from_store(store, ENV, providers(), watch=True)
    assert router.watcher is not None and router.watcher.wait_connected(10)
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[BaseException] = []

    def caller() -> None:
        while not stop.is_set():
            t0 = time.perf_counter_ns()
            try:
                router.complete(MESSAGES)
            except Exception as exc:  # counted and reported: the benchmark's point
                errors.append(exc)
            latencies.append((time.perf_counter_ns() - t0) / 1000)

    thread = threading.Thread(target=caller)
    thread.start()
    try:
        for i in range(n):
            service.activate(ids[(i + 1) % 2])  # type: ignore[arg-type]
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join()
        router.close()
    print(
        f"during {n} reloads: {len(latencies)} calls, {len(errors)} errors, "
        f"p50 {pct(latencies, 0.5):.0f} µs, p99 {pct(latencies, 0.99):.0f} µs, "
        f"switches seen {router.watcher.stats.changes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", type=int, default=40)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    server = server_url(args.database_url)
    if not server:
        raise SystemExit("set $LLMOPS_BENCH_DATABASE_URL or pass --database-url")
    warnings.simplefilter("ignore")  # unknown-price warnings for the fake models
    with bench_database(server) as url, PostgresStore.connect(url, max_size=4) as store:
        service = ConfigService(store, actor="bench")
        ids = configs(service)
        propagation(store, service, ids, args.activations)
        off = call_latency(store, False, args.calls)
        on = call_latency(store, True, args.calls)
        p50_off, p50_on = statistics.median(off), statistics.median(on)
        print(
            f"complete() watch=False p50 {p50_off:.1f} µs p99 {pct(off, 0.99):.1f} µs | "
            f"watch=True p50 {p50_on:.1f} µs p99 {pct(on, 0.99):.1f} µs | "
            f"ratio p50 {p50_on / p50_off:.2f}"
        )
        during_reloads(store, service, ids, args.activations)


if __name__ == "__main__":
    main()
