"""The router against local fault-injecting servers through the real SDKs: the real OpenAI
adapter (openai SDK) as the primary, the Gemini adapters (google-genai, google-generativeai) as
fallbacks. These take real seconds (Retry-After, backoff, timeouts, breaker reset); the
configured delays are as small as each scenario allows."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from llmops import (
    AllProvidersFailed,
    AsyncLLMRouter,
    ContentFiltered,
    FallbackConfig,
    FallbackTarget,
    LLMRouter,
)
from llmops.breaker import BreakerTransition
from llmops.providers import Provider
from llmops.providers.gemini import GeminiProvider
from llmops.providers.gemini_legacy import GeminiLegacyProvider
from llmops.providers.openai import OpenAIProvider
from tests.servers import (
    GeminiServer,
    Hang,
    OpenAIServer,
    RecordedRequest,
    Reply,
    Reset,
    ServerFactory,
)
from tests.servers import openai_server as oai

pytestmark = pytest.mark.slow

MESSAGES = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]
PRIMARY_MODEL = "gpt-4o-mini"
FALLBACK_MODEL = "gemini-2.0-flash"


def cfg(**overrides: Any) -> FallbackConfig:
    values: dict[str, Any] = {
        "environment": "local",
        "primary_provider": "openai",
        "primary_model": PRIMARY_MODEL,
        "fallback_providers": [FallbackTarget(provider="google", model=FALLBACK_MODEL, priority=1)],
        "max_retries": 3,
        "retry_delay": 200,
        "circuit_breaker_threshold": 10,
        "circuit_breaker_reset_time": 1000,
    }
    values.update(overrides)
    return FallbackConfig(**values)


def make_router(
    openai: OpenAIServer,
    gemini: GeminiServer,
    *,
    config: FallbackConfig | None = None,
    openai_timeout: float = 5.0,
    legacy: bool = False,
    **options: Any,
) -> LLMRouter:
    google: Provider = (GeminiLegacyProvider if legacy else GeminiProvider)(
        api_key="test-key", base_url=gemini.base_url, timeout=5.0
    )
    providers: dict[str, Provider] = {
        "openai": OpenAIProvider(
            api_key="test-key", base_url=openai.base_url, timeout=openai_timeout
        ),
        "google": google,
    }
    return LLMRouter(config or cfg(), providers, **options)


@pytest.fixture
def servers(server_factory: ServerFactory) -> tuple[OpenAIServer, GeminiServer]:
    return server_factory(OpenAIServer), server_factory(GeminiServer)


def test_429_with_retry_after_2_waits_then_succeeds(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """429 Retry-After: 2 once: the retry comes >= 2 s later, on the primary, and succeeds."""
    openai, gemini = servers
    openai.enqueue(oai.rate_limited(retry_after="2"), Reply("after the wait"))
    router = make_router(openai, gemini)
    started = time.monotonic()
    c = router.complete(MESSAGES)
    assert (c.text, c.provider) == ("after the wait", "openai")
    times = openai.times()
    assert len(times) == 2
    assert times[1] - times[0] >= 2.0, "never less than Retry-After"
    assert sum(t - started < 1.5 for t in times) <= 2
    assert c.attempts[0].retry_after == 2.0 and c.attempts[0].status_code == 429
    assert gemini.requests == []


def test_429_forever_backs_off_then_falls_over(servers: tuple[OpenAIServer, GeminiServer]) -> None:
    """429 forever, no Retry-After: jittered backoff, <= 6 primary attempts, <= 4 in any 3 s,
    then the fallback serves."""
    openai, gemini = servers
    openai.always(oai.rate_limited())
    gemini.always(Reply("gemini answers"))
    router = make_router(openai, gemini, config=cfg(max_retries=6, retry_delay=500), deadline=8.0)
    started = time.monotonic()
    c = router.complete(MESSAGES)
    elapsed = time.monotonic() - started
    assert (c.provider, c.model, c.text) == ("google", FALLBACK_MODEL, "gemini answers")
    times = openai.times()
    assert 2 <= len(times) <= 6
    for i in range(len(times) - 4):
        assert times[i + 4] - times[i] >= 3.0, f"5 attempts within 3 s: {times}"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g >= 0.25 for g in gaps), f"tight loop: {gaps}"
    assert elapsed < 8.0


def test_500_once_is_retried_on_the_same_target(servers: tuple[OpenAIServer, GeminiServer]) -> None:
    """500 once: a second attempt on the primary succeeds; the fallback is not touched."""
    openai, gemini = servers
    openai.enqueue(oai.server_error(500), Reply("second time lucky"))
    c = make_router(openai, gemini).complete(MESSAGES)
    assert (c.text, c.provider, c.fallback_used) == ("second time lucky", "openai", False)
    assert [a.status_code for a in c.attempts] == [500, None]
    assert len(openai.requests) == 2 and gemini.requests == []


@pytest.mark.parametrize("legacy", [False, True], ids=["google-genai", "google-generativeai"])
def test_503_forever_falls_over_with_fallback_usage_and_cost(
    servers: tuple[OpenAIServer, GeminiServer], legacy: bool
) -> None:
    """503 forever: after max_retries the Gemini fallback serves; the Completion names its
    model, its usage and its cost."""
    openai, gemini = servers
    openai.always(oai.server_error(503))
    gemini.always(Reply("from gemini", input_tokens=1000, output_tokens=400))
    c = make_router(openai, gemini, legacy=legacy).complete(MESSAGES)
    assert (c.provider, c.model, c.text, c.fallback_used) == (
        "google",
        FALLBACK_MODEL,
        "from gemini",
        True,
    )
    assert (c.usage.input_tokens, c.usage.output_tokens, c.usage.total_tokens) == (1000, 400, 1400)
    assert c.cost_usd == Decimal("0.00026")  # 1000 * 0.10/1M + 400 * 0.40/1M
    assert len(openai.requests) == 3
    assert [a.error_kind for a in c.attempts] == ["unavailable"] * 3 + [None]


def test_connection_reset_is_retried(servers: tuple[OpenAIServer, GeminiServer]) -> None:
    """A TCP reset before any response byte: retried on the same target, which then answers."""
    openai, gemini = servers
    openai.enqueue(Reset(), Reply("after reset"))
    c = make_router(openai, gemini).complete(MESSAGES)
    assert (c.text, c.provider) == ("after reset", "openai")
    assert c.attempts[0].error_kind == "unavailable"
    assert len(openai.requests) == 2


def test_silent_server_times_out_and_the_call_keeps_its_deadline(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """No answer at all: the attempt ends at the provider timeout, the silent target is not
    retried to the full budget, and the call ends within its deadline on the fallback."""
    openai, gemini = servers
    openai.always(Hang(max_seconds=10))
    router = make_router(openai, gemini, openai_timeout=0.5)
    started = time.monotonic()
    c = router.complete(MESSAGES, deadline=2.5)
    elapsed = time.monotonic() - started
    assert c.provider == "google"
    assert len(openai.requests) == 1
    first = c.attempts[0]
    assert first.error_kind == "timeout"
    assert first.latency_ms is not None and 450 <= first.latency_ms < 1500
    assert elapsed < 2.5


def test_silent_server_everywhere_fails_within_the_deadline(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """Both targets silent: the call gives up by its deadline instead of hanging."""
    openai, gemini = servers
    openai.always(Hang(max_seconds=10))
    gemini.always(Hang(max_seconds=10))
    router = make_router(openai, gemini, openai_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(AllProvidersFailed):
        router.complete(MESSAGES, deadline=1.5)
    assert time.monotonic() - started < 2.5


def test_context_length_exceeded_one_primary_attempt(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """context_length_exceeded: exactly one primary attempt, then the next target."""
    openai, gemini = servers
    openai.always(oai.context_length_exceeded())
    c = make_router(openai, gemini).complete(MESSAGES)
    assert c.provider == "google"
    assert len(openai.requests) == 1
    assert c.attempts[0].error_kind == "context_window_exceeded"


def test_content_policy_violation_reaches_the_caller(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """content_policy_violation: exactly one attempt; the provider's reason reaches the caller."""
    openai, gemini = servers
    openai.always(oai.content_policy_violation())
    with pytest.raises(ContentFiltered) as info:
        make_router(openai, gemini).complete(MESSAGES)
    assert info.value.reason == "content_policy_violation"
    assert "safety system" in str(info.value)
    assert len(openai.requests) == 1 and gemini.requests == []


def test_breaker_opens_fallback_serves_probe_closes_traffic_returns(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """A primary down for its first 2 s, across a sequence of calls: the breaker opens, the
    fallback serves while open (primary not called), a probe closes it, traffic returns."""
    openai, gemini = servers
    healthy_at = time.monotonic() + 2.0

    def primary(request: RecordedRequest) -> Any:
        return oai.server_error(503) if request.time < healthy_at else Reply("primary")

    openai.always(primary)
    gemini.always(Reply("fallback"))
    config = cfg(max_retries=1, circuit_breaker_threshold=2, circuit_breaker_reset_time=1000)
    router = make_router(openai, gemini, config=config)
    transitions: list[BreakerTransition] = []
    lock = threading.Lock()

    def listen(t: BreakerTransition) -> None:
        with lock:
            transitions.append(t)

    router.add_breaker_listener(listen)
    served: list[tuple[float, str, str]] = []
    end = time.monotonic() + 4.5
    while time.monotonic() < end:
        c = router.complete(MESSAGES)
        served.append((time.monotonic(), c.provider, c.attempts[0].outcome))
        time.sleep(0.1)
    kinds = [(t.from_state, t.to_state) for t in transitions if t.provider == "openai"]
    assert kinds[0] == ("closed", "open")
    assert ("open", "half_open") in kinds
    assert kinds[-1] == ("half_open", "closed")
    skipped = [s for s in served if s[2] == "skipped"]
    assert skipped and all(provider == "google" for _, provider, _ in skipped)
    assert served[-1][1] == "openai" and served[-3][1] == "openai"
    outage = [r for r in openai.requests if r.time < healthy_at]
    assert len(outage) <= 4, "an open breaker keeps the dead primary from being hammered"
    assert router.health().targets[0].state == "closed"


def test_async_router_over_http_retries_and_falls_over(
    servers: tuple[OpenAIServer, GeminiServer],
) -> None:
    """AsyncLLMRouter on the SDKs' async clients: a 500 is retried, 503 forever falls over."""
    openai, gemini = servers
    openai.enqueue(oai.server_error(500), Reply("async retry"))
    gemini.always(Reply("async gemini"))
    providers: dict[str, Provider] = {
        "openai": OpenAIProvider(api_key="k", base_url=openai.base_url, timeout=5),
        "google": GeminiProvider(api_key="k", base_url=gemini.base_url, timeout=5),
    }
    router = AsyncLLMRouter(cfg(), providers)

    async def go() -> tuple[Any, Any]:
        first = await router.complete(MESSAGES)
        openai.always(oai.server_error(503))
        second = await router.complete(MESSAGES)
        return first, second

    first, second = asyncio.run(go())
    assert (first.text, first.provider, len(first.attempts)) == ("async retry", "openai", 2)
    assert (second.text, second.model) == ("async gemini", FALLBACK_MODEL)
