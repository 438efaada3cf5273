"""LLMRouter with FakeProvider: retries, fallbacks, breakers, deadline, cost, logs, A/B hook,
bad inputs. Time is a fake clock: nothing here sleeps for real."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from llmops import (
    ABTest,
    AllProvidersFailed,
    AsyncLLMRouter,
    BadRequest,
    CircuitOpen,
    Completion,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    DeadlineExceeded,
    FallbackConfig,
    LLMRouter,
    NotFound,
    PostgresStore,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)
from llmops.breaker import BreakerTransition
from llmops.models import FallbackTarget
from llmops.pricing import UnknownModelPriceWarning
from llmops.providers.fake import FakeProvider, FakeReply
from tests._routerkit import MESSAGES, FakeClock, config


def router(
    cfg: FallbackConfig, providers: Mapping[str, FakeProvider], clock: FakeClock, **kw: Any
) -> LLMRouter:
    return LLMRouter(cfg, providers, clock=clock, sleep=clock.sleep, rng=random.Random(1), **kw)


def fakes(clock: FakeClock, **scripts: list[Any]) -> dict[str, FakeProvider]:
    return {name: FakeProvider(script, sleep=clock.sleep) for name, script in scripts.items()}


# -- happy path and result ------------------------------------------------------------------


def test_primary_answers_with_usage_cost_and_latency() -> None:
    """One attempt; the Completion names the primary, its usage, its price and the latency."""
    clock = FakeClock()
    p = fakes(clock, primary=[FakeReply("hi", input_tokens=1000, output_tokens=500, latency=0.2)])
    c = router(config(), p, clock).complete(MESSAGES)
    assert isinstance(c, Completion)
    assert (c.text, c.provider, c.model) == ("hi", "primary", "gpt-4o-mini")
    assert (c.usage.input_tokens, c.usage.output_tokens, c.usage.total_tokens) == (1000, 500, 1500)
    assert c.cost_usd == Decimal("0.00045")  # 1000 * 0.15/1M + 500 * 0.60/1M
    assert c.latency_ms == pytest.approx(200.0)
    assert [a.outcome for a in c.attempts] == ["success"]
    assert c.fallback_used is False and c.ab_result_id is None


def test_params_and_target_config_reach_the_provider() -> None:
    """Call params pass through; a fallback's own config is merged over them."""
    clock = FakeClock()
    p = fakes(clock, primary=[ProviderUnavailable("503")] * 3, backup=[])
    cfg = config(("backup", "gemini-2.0-flash", {"temperature": 0.1, "timeout": 7}))
    router(cfg, p, clock).complete(MESSAGES, temperature=0.9, max_tokens=50)
    assert dict(p["primary"].requests[0].params) == {"temperature": 0.9, "max_tokens": 50}
    assert dict(p["backup"].requests[0].params) == {"temperature": 0.1, "max_tokens": 50}
    assert p["backup"].requests[0].timeout == 7


# -- retries and fallbacks ------------------------------------------------------------------


def test_unavailable_once_is_retried_on_the_same_target_after_backoff() -> None:
    """A 503 then success: two attempts on the primary, one backoff wait in [base/2, base]."""
    clock = FakeClock()
    p = fakes(clock, primary=[ProviderUnavailable("503", status_code=503), "ok"])
    c = router(config(), p, clock).complete(MESSAGES)
    assert c.provider == "primary" and not c.fallback_used
    assert [(a.attempt, a.outcome, a.error_kind) for a in c.attempts] == [
        (1, "error", "unavailable"),
        (2, "success", None),
    ]
    assert len(clock.sleeps) == 1 and 0.05 <= clock.sleeps[0] <= 0.1


def test_rate_limited_waits_retry_after_never_less() -> None:
    """429 with Retry-After: 2 waits exactly 2 s, then succeeds on the same target."""
    clock = FakeClock()
    p = fakes(clock, primary=[RateLimited("429", retry_after=2.0), "ok"])
    c = router(config(), p, clock).complete(MESSAGES)
    assert c.text == "ok"
    assert clock.sleeps == [2.0]
    assert c.attempts[0].retry_after == 2.0


def test_retry_after_over_the_cap_moves_to_the_fallback_at_once() -> None:
    """A Retry-After above max_retry_after: no waiting, next target."""
    clock = FakeClock()
    p = fakes(clock, primary=[RateLimited("429", retry_after=120)], backup=["from backup"])
    c = router(config(("backup", "gpt-4o")), p, clock, max_retry_after=10).complete(MESSAGES)
    assert (c.text, c.model, c.fallback_used) == ("from backup", "gpt-4o", True)
    assert clock.sleeps == []


def test_quota_exhausted_moves_to_the_fallback_without_retrying() -> None:
    """A spent quota is not a rate limit: one attempt, no wait, next target."""
    clock = FakeClock()
    p = fakes(clock, primary=[QuotaExhausted("insufficient_quota")], backup=["from backup"])
    c = router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES)
    assert (c.text, c.fallback_used, p["primary"].calls) == ("from backup", True, 1)
    assert c.attempts[0].error_kind == "quota_exhausted" and clock.sleeps == []


def test_exhausted_primary_falls_over_with_the_fallbacks_usage_and_cost() -> None:
    """503 forever: max_retries attempts, then the fallback serves; cost is the fallback's."""
    clock = FakeClock()
    p = fakes(
        clock,
        primary=[ProviderUnavailable("503", status_code=503)] * 3,
        backup=[FakeReply("b", input_tokens=2_000_000, output_tokens=0)],
    )
    c = router(config(("backup", "gemini-1.5-flash")), p, clock).complete(MESSAGES)
    assert (c.provider, c.model, c.fallback_used) == ("backup", "gemini-1.5-flash", True)
    assert c.cost_usd == Decimal("0.15")
    assert [a.provider for a in c.attempts] == ["primary"] * 3 + ["backup"]
    assert p["primary"].calls == 3


def test_context_window_exceeded_tries_the_primary_exactly_once() -> None:
    """Context length exceeded: one primary attempt, then the next target."""
    clock = FakeClock()
    p = fakes(clock, primary=[ContextWindowExceeded("too long", status_code=400)], big=["fits"])
    c = router(config(("big", "gpt-4.1")), p, clock).complete(MESSAGES)
    assert c.text == "fits" and p["primary"].calls == 1 and clock.sleeps == []


def test_content_filter_reaches_the_caller_after_one_attempt() -> None:
    """Content policy: one attempt, no fallback, the provider's reason reaches the caller."""
    clock = FakeClock()
    p = fakes(clock, primary=[ContentFiltered("blocked", reason="SAFETY")], backup=["never"])
    with pytest.raises(ContentFiltered) as info:
        router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES)
    assert info.value.reason == "SAFETY"
    assert p["primary"].calls == 1 and p["backup"].calls == 0


def test_bad_request_is_not_routed_around() -> None:
    """A request no provider will accept raises BadRequest at once."""
    clock = FakeClock()
    p = fakes(clock, primary=[BadRequest("bad", status_code=400)], backup=["never"])
    with pytest.raises(BadRequest):
        router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES)
    assert p["backup"].calls == 0


def test_all_failed_lists_every_attempt() -> None:
    """Every target failing raises AllProvidersFailed with each attempt in the message."""
    clock = FakeClock()
    p = fakes(
        clock,
        primary=[ProviderUnavailable("503", status_code=503)] * 3,
        backup=[RateLimited("429")] * 3,
    )
    with pytest.raises(AllProvidersFailed) as info:
        router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES)
    assert len(info.value.attempts) == 6
    assert "primary/gpt-4o-mini: error (unavailable)" in str(info.value)
    assert "backup/gpt-4o: error (rate_limited)" in str(info.value)
    assert isinstance(info.value.last_error, RateLimited)


def test_rate_limited_forever_never_loops_tightly() -> None:
    """429 forever without Retry-After: at most max_retries attempts, each after a real wait."""
    clock = FakeClock()
    p = fakes(clock, primary=[RateLimited("429")] * 6, backup=["b"])
    cfg = config(("backup", "gpt-4o"), max_retries=6, retry_delay=500, circuit_breaker_threshold=10)
    c = router(cfg, p, clock).complete(MESSAGES)
    assert p["primary"].calls == 6 and c.provider == "backup"
    assert len(clock.sleeps) == 5 and min(clock.sleeps) >= 0.25


# -- deadline and timeouts ------------------------------------------------------------------


def test_silent_target_times_out_and_the_call_ends_within_its_deadline() -> None:
    """A target that never answers: attempt timeout, not retried to the full budget."""
    clock = FakeClock()
    p = fakes(clock, primary=[FakeReply("late", latency=60)] * 3, backup=["b"])
    p["primary"].timeout = 1.0  # the adapter's own per-attempt timeout
    r = router(config(("backup", "gpt-4o")), p, clock, deadline=3.0)
    c = r.complete(MESSAGES)
    assert c.provider == "backup"
    assert p["primary"].calls == 1, "one timeout: the primary is not retried to the budget"
    assert c.attempts[0].error_kind == "timeout"
    assert c.attempts[0].latency_ms == pytest.approx(1000.0)
    assert clock.now - 100.0 <= 3.0


def test_deadline_bounds_the_whole_call() -> None:
    """When the deadline runs out, remaining targets are skipped and the call fails."""
    clock = FakeClock()
    p = fakes(clock, primary=[FakeReply("late", latency=60)], backup=["never"])
    with pytest.raises(AllProvidersFailed) as info:
        router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES, deadline=2.0)
    assert isinstance(info.value.last_error, DeadlineExceeded)
    assert clock.now - 100.0 == pytest.approx(2.0)
    assert info.value.attempts[-1].error_kind == "deadline_exceeded"
    assert p["backup"].calls == 0


def test_timeout_errors_from_the_provider_count() -> None:
    """A ProviderTimeout from the adapter is recorded as a timeout attempt."""
    clock = FakeClock()
    p = fakes(clock, primary=[ProviderTimeout("t")], backup=["b"])
    c = router(config(("backup", "gpt-4o")), p, clock).complete(MESSAGES)
    assert [a.error_kind for a in c.attempts] == ["timeout", None]


# -- breakers -------------------------------------------------------------------------------


def test_breaker_opens_skips_then_probe_closes_and_traffic_returns() -> None:
    """Primary down: breaker opens after threshold, skipped while open, a probe closes it."""
    clock = FakeClock()
    down = {"on": True}

    def primary(req: Any) -> Any:
        return ProviderUnavailable("503", status_code=503) if down["on"] else "primary back"

    p = {"primary": FakeProvider(handler=primary), "backup": FakeProvider(sleep=clock.sleep)}
    cfg = config(("backup", "gpt-4o"), max_retries=1, circuit_breaker_threshold=2)
    r = router(cfg, p, clock)
    seen: list[BreakerTransition] = []
    r.add_breaker_listener(seen.append)
    assert r.complete(MESSAGES).provider == "backup"
    assert r.complete(MESSAGES).provider == "backup"
    assert seen[-1].to_state == "open"
    calls = p["primary"].calls
    c = r.complete(MESSAGES)
    assert p["primary"].calls == calls, "an open breaker skips the target without a call"
    assert (c.attempts[0].outcome, c.attempts[0].error_kind) == ("skipped", "circuit_open")
    states = {(h.provider, h.model): h.state for h in r.health().targets}
    assert states["primary", "gpt-4o-mini"] == "open"
    down["on"] = False
    clock.now += 10.5
    c = r.complete(MESSAGES)
    assert c.provider == "primary"
    assert [(t.from_state, t.to_state) for t in seen] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert r.complete(MESSAGES).provider == "primary"


def test_every_breaker_open_fails_fast_without_calls() -> None:
    """All targets open: AllProvidersFailed at once, every attempt skipped, CircuitOpen cause."""
    clock = FakeClock()
    p = fakes(
        clock, primary=[ProviderUnavailable("x")] * 10, backup=[ProviderUnavailable("y")] * 10
    )
    cfg = config(("backup", "gpt-4o"), max_retries=1, circuit_breaker_threshold=1)
    r = router(cfg, p, clock)
    with pytest.raises(AllProvidersFailed):
        r.complete(MESSAGES)
    before = (p["primary"].calls, p["backup"].calls)
    with pytest.raises(AllProvidersFailed) as info:
        r.complete(MESSAGES)
    assert (p["primary"].calls, p["backup"].calls) == before
    assert {a.outcome for a in info.value.attempts} == {"skipped"}
    assert isinstance(info.value.last_error, CircuitOpen)
    assert "next probe in" in str(info.value)


def test_non_health_errors_do_not_trip_the_breaker() -> None:
    """Content filter and bad request never open a breaker."""
    clock = FakeClock()
    p = fakes(clock, primary=[ContentFiltered("no")] * 5)
    r = router(config(circuit_breaker_threshold=1), p, clock)
    for _ in range(5):
        with pytest.raises(ContentFiltered):
            r.complete(MESSAGES)
    assert r.health().targets[0].state == "closed"


# -- failure listeners ----------------------------------------------------------------------


def test_failure_listeners_see_every_failed_attempt_also_when_the_fallback_serves() -> None:
    """add_failure_listener gets (provider, model, kind) per failed attempt after the call,
    rescued calls included; skips are not failures; a raising listener does not fail calls."""
    clock = FakeClock()
    p = fakes(
        clock,
        primary=[ProviderUnavailable("503", status_code=503), RateLimited("slow")] * 5,
        backup=[],
    )
    cfg = config(("backup", "gpt-4o"), max_retries=2, circuit_breaker_threshold=4)
    r = router(cfg, p, clock)
    seen: list[tuple[str, str, str]] = []
    r.complete(MESSAGES)  # no listener yet: nothing to tell
    assert seen == []

    def broken(provider: str, model: str, kind: str) -> None:
        raise RuntimeError("listener bug")

    r.add_failure_listener(broken)
    r.add_failure_listener(lambda *failure: seen.append(failure))
    c = r.complete(MESSAGES)
    assert (c.provider, c.fallback_used) == ("backup", True)
    assert seen == [
        ("primary", "gpt-4o-mini", "unavailable"),
        ("primary", "gpt-4o-mini", "rate_limited"),
    ]
    seen.clear()
    # four consecutive failures opened the primary's breaker: skipped, backup serves, no failure
    assert [a.outcome for a in r.complete(MESSAGES).attempts] == ["skipped", "success"]
    assert seen == []

    async def async_call() -> None:
        ar = AsyncLLMRouter(
            config(("backup", "gpt-4o"), max_retries=1),
            {
                "primary": FakeProvider(default=ProviderUnavailable("down")),
                "backup": FakeProvider(),
            },
        )
        ar.add_failure_listener(lambda *failure: seen.append(failure))
        await ar.complete(MESSAGES)

    asyncio.run(async_call())
    assert seen == [("primary", "gpt-4o-mini", "unavailable")]


# -- cost -----------------------------------------------------------------------------------


def test_unknown_model_cost_is_none_with_one_warning() -> None:
    """A model without a price: cost None (not 0), warned once."""
    clock = FakeClock()
    p = fakes(clock, primary=[])
    r = router(config(primary_model="house-llm"), p, clock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert r.complete(MESSAGES).cost_usd is None
        assert r.complete(MESSAGES).cost_usd is None
    assert sum(w.category is UnknownModelPriceWarning for w in caught) == 1


def test_host_prices_override() -> None:
    """prices= sets the price of a model."""
    clock = FakeClock()
    p = fakes(clock, primary=[FakeReply(input_tokens=1_000_000, output_tokens=0)])
    r = router(config(primary_model="house-llm"), p, clock, prices={"house-llm": (3, 4)})
    assert r.complete(MESSAGES).cost_usd == Decimal(3)


# -- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "messages: must not be empty"),
        ("hello", "messages: expected a list"),
        ([{"role": "bot", "content": "x"}], r"messages\[0\].role"),
        ([{"role": "user", "content": 5}], r"messages\[0\].content"),
        ([42], r"messages\[0\]: expected a mapping"),
    ],
)
def test_bad_messages_are_named(messages: Any, match: str) -> None:
    """Empty or malformed messages: ConfigError naming the message and field, no call made."""
    clock = FakeClock()
    p = fakes(clock, primary=[])
    with pytest.raises(ConfigError, match=match):
        router(config(), p, clock).complete(messages)
    assert p["primary"].calls == 0


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temprature": 0.5}, "params.temprature: unknown parameter"),
        ({"temperature": 3}, "params.temperature: must be >= 0 and <= 2"),
        ({"temperature": "hot"}, "params.temperature: must be a number"),
        ({"max_tokens": 0}, "params.max_tokens: must be >= 1"),
        ({"max_tokens": 1.5}, "params.max_tokens: must be an integer"),
        ({"top_p": 0}, "params.top_p"),
        ({"stop": 5}, "params.stop"),
        ({"deadline": -1}, "deadline: must be a finite number of seconds > 0"),
        ({"session_id": "x" * 101}, "session_id: at most 100"),
    ],
)
def test_bad_params_are_named(params: dict[str, Any], match: str) -> None:
    """Unknown or out-of-range params raise ConfigError naming the parameter."""
    clock = FakeClock()
    with pytest.raises(ConfigError, match=match):
        router(config(), fakes(clock, primary=[]), clock).complete(MESSAGES, **params)


def test_provider_missing_from_providers_is_named() -> None:
    """A chain naming a provider that is not a key of providers fails at construction."""
    clock = FakeClock()
    with pytest.raises(ConfigError, match=r"'google' is not a key of providers \(known: primary\)"):
        router(config(("google", "gemini-2.0-flash")), fakes(clock, primary=[]), clock)


def test_fallback_equal_to_primary_is_refused() -> None:
    """A fallback identical to the primary is a validation error naming the fallback."""
    with pytest.raises(ValidationError, match=r"fallback_providers\.0"):
        config(("primary", "gpt-4o-mini"))
    with pytest.raises(
        ConfigError, match=r"config: fallback_providers\.0: primary/m is the primary"
    ):
        LLMRouter(
            {
                "environment": "local",
                "primary_provider": "primary",
                "primary_model": "m",
                "fallback_providers": [{"provider": "primary", "model": "m", "priority": 1}],
            },
            {"primary": FakeProvider()},
        )


def test_target_params_the_provider_does_not_accept_are_named() -> None:
    """A target config param its provider does not accept fails at construction."""
    p = {"primary": FakeProvider(accepted_params=frozenset({"max_tokens"}))}
    with pytest.raises(ConfigError, match="does not accept temperature"):
        LLMRouter(
            config(primary_provider="primary").model_copy(
                update={
                    "fallback_providers": [
                        FallbackTarget(
                            provider="primary", model="other", config={"temperature": 0.5}
                        )
                    ]
                }
            ),
            p,
        )


def test_bad_router_options_are_named() -> None:
    """A router-wide deadline or retry cap that makes no sense is refused by name."""
    with pytest.raises(ConfigError, match="deadline: must be a finite number of seconds > 0"):
        LLMRouter(config(), {"primary": FakeProvider()}, deadline=0)
    with pytest.raises(ConfigError, match="max_retry_after"):
        LLMRouter(config(), {"primary": FakeProvider()}, max_retry_after=-1)
    with pytest.raises(ConfigError, match="half_open_max_calls"):
        LLMRouter(config(), {"primary": FakeProvider()}, half_open_max_calls=0)


def test_providers_must_be_providers() -> None:
    """Something that is not a Provider is refused by name."""
    with pytest.raises(ConfigError, match=r"providers\['primary'\]"):
        LLMRouter(config(), {"primary": object()})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="providers: need a mapping"):
        LLMRouter(config(), {})


def test_unexpected_provider_exception_propagates_and_frees_the_probe() -> None:
    """A provider breaking its contract (non-ProviderError) is re-raised unchanged."""
    clock = FakeClock()

    def broken(req: Any) -> Any:
        raise KeyError("bug in handler")

    r = router(config(), {"primary": FakeProvider(handler=broken)}, clock)
    with pytest.raises(KeyError):
        r.complete(MESSAGES)


# -- A/B hook -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assignment:
    test_id: uuid.UUID
    variant_id: str
    provider: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)


class _Assigner:
    """A tiny in-test assigner: every session goes to variant B."""

    def __init__(self, provider: str = "backup", model: str = "gpt-4o") -> None:
        self.test_id = uuid.uuid4()
        self.provider, self.model = provider, model
        self.seen: list[tuple[str, str | None, str | None, datetime]] = []

    def assign(
        self, test: str, *, session_id: str | None, user_id: str | None, now: datetime
    ) -> _Assignment | None:
        self.seen.append((test, session_id, user_id, now))
        if test == "missing":
            raise NotFound("no A/B test named 'missing'")
        if test == "inactive":
            return None
        return _Assignment(self.test_id, "B", self.provider, self.model, {"temperature": 0.3})


def test_ab_assignment_puts_the_variant_first_with_the_chain_behind() -> None:
    """The variant's target is tried first with its params; the chain backs it up."""
    clock = FakeClock()
    p = fakes(clock, primary=[], backup=[ProviderUnavailable("x")] * 3)
    assigner = _Assigner()
    r = router(config(("backup", "gpt-4o")), p, clock, ab_assigner=assigner)
    c = r.complete(MESSAGES, ab_test="t1", session_id="s-1", user_id="u-1")
    assert c.ab_result_id is not None
    assert [a.provider for a in c.attempts] == ["backup"] * 3 + ["primary"]
    assert dict(p["backup"].requests[0].params) == {"temperature": 0.3}
    assert assigner.seen[0][:3] == ("t1", "s-1", "u-1")
    assert c.fallback_used


def test_ab_inactive_test_routes_normally_and_missing_test_raises() -> None:
    """None from the assigner: no A/B row, normal chain; NotFound reaches the caller."""
    clock = FakeClock()
    r = router(config(), fakes(clock, primary=[]), clock, ab_assigner=_Assigner("primary", "x"))
    c = r.complete(MESSAGES, ab_test="inactive")
    assert c.ab_result_id is None and c.provider == "primary"
    with pytest.raises(NotFound):
        r.complete(MESSAGES, ab_test="missing")


def test_ab_test_without_assigner_or_unknown_variant_provider() -> None:
    """ab_test needs an assigner; a variant naming an unknown provider is a ConfigError."""
    clock = FakeClock()
    with pytest.raises(ConfigError, match="no A/B assigner"):
        router(config(), fakes(clock, primary=[]), clock).complete(MESSAGES, ab_test="t")
    r = router(config(), fakes(clock, primary=[]), clock, ab_assigner=_Assigner("nope", "m"))
    with pytest.raises(ConfigError, match=r"ab variant 'B'\.provider: 'nope'"):
        r.complete(MESSAGES, ab_test="t")


# -- with a store: log rows -----------------------------------------------------------------


def test_one_fallback_log_and_one_usage_row_per_call(store: PostgresStore, tmp_path: Any) -> None:
    """Each call writes one llm_fallback_logs row (every attempt) and one llm_usage_logs row."""
    clock = FakeClock()
    p = fakes(
        clock,
        primary=[ProviderUnavailable("503", status_code=503)] * 3,
        backup=["b", *[ProviderUnavailable("down", status_code=502)] * 3],
    )
    r = router(config(("backup", "gpt-4o")), p, clock, store=store, spill_dir=tmp_path)
    r.complete(MESSAGES, session_id="s-9")
    with pytest.raises(AllProvidersFailed):  # primary's breaker is open now; backup fails
        r.complete(MESSAGES)
    r.close()
    logs = sorted(store.fallback_logs.select(), key=lambda row: row.success, reverse=True)
    usage = sorted(store.usage_logs.select(), key=lambda row: row.success, reverse=True)
    assert len(logs) == 2 and len(usage) == 2
    ok, failed = logs
    assert ok.success and ok.used_provider == "backup" and ok.used_model == "gpt-4o"
    assert [a.error_kind for a in ok.attempted_providers] == ["unavailable"] * 3 + [None]
    assert ok.attempted_providers[0].status_code == 503
    assert not failed.success and "all" in (failed.error_message or "")
    assert failed.attempted_providers[0].outcome == "skipped"
    u_ok, u_failed = usage
    assert u_ok.fallback_used and u_ok.session_id == "s-9" and u_ok.fallback_log_id == ok.id
    assert u_ok.estimated_cost == Decimal("0.000075")  # 10 * 2.5/1M + 5 * 10/1M
    assert not u_failed.success and u_failed.error_kind == "unavailable"
    assert u_failed.status_code == 502
    events = store.breaker_events.select()
    assert sorted((e.provider, e.from_state, e.to_state) for e in events) == [
        ("backup", "closed", "open"),
        ("primary", "closed", "open"),
    ]
    assert {e.consecutive_failures for e in events} == {3}


def test_log_timestamps_follow_the_injected_wall_clock(store: PostgresStore, tmp_path: Any) -> None:
    """created_at of log and breaker rows comes from wall_clock, so simulations can replay time."""
    clock = FakeClock()
    p = fakes(clock, primary=[ProviderUnavailable("503", status_code=503)] * 3, backup=["b"])
    moment = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    r = router(
        config(("backup", "gpt-4o")),
        p,
        clock,
        store=store,
        spill_dir=tmp_path,
        wall_clock=moment.timestamp,
    )
    r.complete(MESSAGES)
    r.close()
    stamps = {row.created_at for row in store.fallback_logs.select()}
    stamps |= {row.created_at for row in store.usage_logs.select()}
    stamps |= {row.created_at for row in store.breaker_events.select()}
    assert stamps == {moment}


def _ab_test_row(store: PostgresStore) -> uuid.UUID:
    variant = {"name": "v", "weight": 50}
    test = ABTest(
        name="summary-model",
        environment="local",
        variants=[
            {**variant, "id": "A", "config": {"provider": "primary", "model": "gpt-4o-mini"}},
            {**variant, "id": "B", "config": {"provider": "backup", "model": "gpt-4o"}},
        ],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        metrics={
            "primaryMetric": "cost",
            "trackMetrics": ["cost"],
            "sampleSize": 100,
            "confidenceLevel": 95,
        },
    )
    stored = store.ab_tests.insert(test)
    assert stored.id is not None
    return stored.id


def test_ab_result_row_is_written_also_for_failures(store: PostgresStore, tmp_path: Any) -> None:
    """An ab_test_results row per A/B call: hashes and lengths only, success and failure."""
    clock = FakeClock()
    p = fakes(clock, primary=[], backup=["summary!"])
    assigner = _Assigner()
    assigner.test_id = _ab_test_row(store)
    r = router(
        config(("backup", "gpt-4o"), max_retries=1),
        p,
        clock,
        store=store,
        ab_assigner=assigner,
        spill_dir=tmp_path,
    )
    c = r.complete(MESSAGES, ab_test="t", session_id="s", title="Cats", user_segment="pro")
    p["backup"].push(ContentFiltered("no", reason="SAFETY"))
    with pytest.raises(ContentFiltered):
        r.complete(MESSAGES, ab_test="t", session_id="s")
    r.close()
    rows = {row.success: row for row in store.ab_results.select()}
    ok = rows[True]
    assert ok.id == c.ab_result_id and ok.test_id == assigner.test_id and ok.variant_id == "B"
    assert ok.summary_length == len("summary!") and ok.provider == "backup"
    assert len(ok.content_hash) == 64 and len(ok.title_hash or "") == 64
    assert "cat sat" not in ok.content_hash and ok.user_segment == "pro"
    assert ok.estimated_cost == Decimal("0.000075")
    bad = rows[False]
    assert bad.variant_id == "B" and bad.error_message and "no" in bad.error_message
    assert bad.title_hash is None


def test_from_store_loads_the_active_config(store: PostgresStore, tmp_path: Any) -> None:
    """from_store uses the environment's active config; NotFound names a missing one."""
    store.fallback_configs.create(config(("backup", "gpt-4o"), environment="staging"))
    p = {"primary": FakeProvider(), "backup": FakeProvider()}
    with LLMRouter.from_store(store, "staging", p, spill_dir=tmp_path) as r:
        assert r.config.environment == "staging"
        assert r.complete(MESSAGES).provider == "primary"
    assert store.usage_logs.select()[0].environment == "staging"
    with pytest.raises(NotFound, match="production"):
        LLMRouter.from_store(store, "production", p)
    assert (
        AsyncLLMRouter.from_store(store, "staging", p, spill_dir=tmp_path).config.max_retries == 3
    )


def test_32_threads_one_router_log_counts_match(store: PostgresStore, tmp_path: Any) -> None:
    """32 threads share one router: every call answered or failed cleanly, one row each."""

    def flaky(req: Any) -> Any:
        return ProviderUnavailable("x", status_code=503) if random.random() < 0.2 else "ok"

    p = {"primary": FakeProvider(handler=flaky, record=False), "backup": FakeProvider(record=False)}
    cfg = config(("backup", "gpt-4o"), retry_delay=0, circuit_breaker_threshold=1000)
    r = LLMRouter(cfg, p, store=store, spill_dir=tmp_path)
    errors: list[BaseException] = []
    per_thread = 60

    def work() -> None:
        for _ in range(per_thread):
            try:
                r.complete(MESSAGES)
            except AllProvidersFailed:
                pass
            except BaseException as exc:  # anything else is a router bug
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.close()
    assert errors == []
    n = 32 * per_thread
    with store.connection() as conn:
        assert conn.execute("SELECT count(*) FROM llm_fallback_logs").fetchone() == (n,)
        assert conn.execute("SELECT count(*) FROM llm_usage_logs").fetchone() == (n,)
