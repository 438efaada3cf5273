"""AsyncLLMRouter: the same plan as LLMRouter behind an async shell (fake clock, no real sleeps
except where a real timeout is the point)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from llmops import (
    AllProvidersFailed,
    AsyncLLMRouter,
    ConfigError,
    ContentFiltered,
    PostgresStore,
    ProviderUnavailable,
    RateLimited,
)
from llmops.providers import CompletionRequest, ProviderResponse
from llmops.providers.base import COMMON_PARAMS
from llmops.providers.fake import FakeProvider, FakeReply
from tests._routerkit import MESSAGES, FakeClock, config


def arouter(providers: dict[str, Any], clock: FakeClock, **kw: Any) -> AsyncLLMRouter:
    cfg = kw.pop("cfg", config(("backup", "gpt-4o")))
    return AsyncLLMRouter(
        cfg, providers, clock=clock, sleep=clock.asleep, rng=random.Random(1), **kw
    )


def afakes(clock: FakeClock, **scripts: list[Any]) -> dict[str, FakeProvider]:
    return {n: FakeProvider(s, asleep=clock.asleep) for n, s in scripts.items()}


def test_async_retry_after_then_success() -> None:
    """429 Retry-After 2 then success: the async shell awaits exactly 2 s (fake)."""
    clock = FakeClock()
    p = afakes(clock, primary=[RateLimited("429", retry_after=2), "ok"], backup=[])
    c = asyncio.run(arouter(p, clock).complete(MESSAGES))
    assert (c.text, c.provider, clock.sleeps) == ("ok", "primary", [2.0])


def test_async_fallback_usage_and_cost() -> None:
    """503 forever on the primary: the fallback serves, with its own usage and price."""
    clock = FakeClock()
    p = afakes(
        clock,
        primary=[ProviderUnavailable("503")] * 3,
        backup=[FakeReply("b", input_tokens=100, output_tokens=100, latency=0.5)],
    )
    c = asyncio.run(arouter(p, clock).complete(MESSAGES))
    assert (c.provider, c.model, c.fallback_used) == ("backup", "gpt-4o", True)
    assert c.usage.total_tokens == 200
    assert str(c.cost_usd) == "0.00125"
    assert len(c.attempts) == 4


def test_async_content_filter_reaches_caller() -> None:
    """Content filter: one attempt, reason preserved, no fallback."""
    clock = FakeClock()
    p = afakes(clock, primary=[ContentFiltered("no", reason="RECITATION")], backup=[])
    with pytest.raises(ContentFiltered) as info:
        asyncio.run(arouter(p, clock).complete(MESSAGES))
    assert info.value.reason == "RECITATION" and p["backup"].calls == 0


def test_async_bad_input_before_any_call() -> None:
    """Bad messages raise ConfigError before the provider is touched."""
    clock = FakeClock()
    p = afakes(clock, primary=[], backup=[])
    with pytest.raises(ConfigError, match="messages: must not be empty"):
        asyncio.run(arouter(p, clock).complete([]))
    assert p["primary"].calls == 0


class _Hangs:
    """An adapter that ignores its timeout: only the router's guard can stop it."""

    accepted_params = COMMON_PARAMS

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        raise NotImplementedError

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def test_async_guard_bounds_an_adapter_that_ignores_its_timeout() -> None:
    """A hung async adapter is cut at the deadline (+0.25 s guard) and the fallback serves."""
    p = {"primary": _Hangs(), "backup": FakeProvider()}
    cfg = config(("backup", "gpt-4o", {"timeout": 5}))
    r = AsyncLLMRouter(cfg, p)

    async def go() -> Any:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(AllProvidersFailed):
            await r.complete(MESSAGES, deadline=0.3)
        return loop.time() - t0

    elapsed = asyncio.run(go())
    assert elapsed < 1.5


def test_async_cancellation_propagates_and_frees_the_probe() -> None:
    """Cancelling a call mid-attempt re-raises CancelledError; a half-open probe slot is freed."""
    clock = FakeClock()
    p = {"primary": _Hangs(), "backup": FakeProvider()}
    r = AsyncLLMRouter(config(("backup", "gpt-4o"), circuit_breaker_threshold=1), p, clock=clock)
    breaker = r._core.board.get("primary", "gpt-4o-mini")
    breaker.record_failure()
    clock.now += 11  # past reset: the next call is the probe

    async def go() -> None:
        task = asyncio.create_task(r.complete(MESSAGES))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert breaker.state == "half_open"
    assert breaker.allow_request(), "the cancelled probe gave its slot back"


def test_async_logs_through_the_writer(store: PostgresStore, tmp_path: Any) -> None:
    """Async calls log one row per call per table; aclose flushes."""
    clock = FakeClock()
    p = afakes(clock, primary=[ProviderUnavailable("x")] * 3, backup=[])

    async def go() -> None:
        async with arouter(p, clock, store=store, spill_dir=tmp_path) as r:
            await asyncio.gather(*(r.complete(MESSAGES) for _ in range(20)))

    asyncio.run(go())
    assert len(store.fallback_logs.select()) == 20
    assert len(store.usage_logs.select()) == 20
