"""FakeProvider: scripts, handlers, simulated latency and timeouts, sync and async."""

from __future__ import annotations

import asyncio

import pytest

from llmops.errors import ProviderTimeout, RateLimited
from llmops.providers import ChatMessage, CompletionRequest, Provider
from llmops.providers.fake import FakeProvider, FakeReply


def req(timeout: float | None = None) -> CompletionRequest:
    return CompletionRequest((ChatMessage("user", "hello"),), "m", {}, timeout)


def test_is_a_provider() -> None:
    """FakeProvider satisfies the Provider protocol."""
    assert isinstance(FakeProvider(), Provider)


def test_script_then_default() -> None:
    """Outcomes come in order; then the default reply forever."""
    fake = FakeProvider(["one", FakeReply("two", input_tokens=3, output_tokens=4)])
    assert fake.complete(req()).text == "one"
    second = fake.complete(req())
    assert (second.text, second.input_tokens, second.output_tokens) == ("two", 3, 4)
    assert fake.complete(req()).text == "ok"
    assert fake.calls == 3
    assert len(fake.requests) == 3


def test_errors_are_raised_fresh_each_time() -> None:
    """A scripted error is raised with its fields; the same outcome can be raised repeatedly."""
    fake = FakeProvider(default=RateLimited("slow down", retry_after=2))
    for _ in range(3):
        with pytest.raises(RateLimited) as info:
            fake.complete(req())
        assert info.value.retry_after == 2
        assert info.value.__traceback__ is not None


def test_exhausted_script_without_default_is_a_test_bug() -> None:
    """No default: running past the script says so."""
    fake = FakeProvider(["x"], default=None)
    fake.complete(req())
    with pytest.raises(RuntimeError, match="script exhausted after 1 call"):
        fake.complete(req())


def test_handler_sees_the_request() -> None:
    """A handler builds the answer from the request."""
    fake = FakeProvider(handler=lambda r: r.messages[-1].content.upper())
    assert fake.complete(req()).text == "HELLO"


def test_latency_uses_the_injected_sleep() -> None:
    """Latency is slept through the injected sleep, not real time."""
    slept: list[float] = []
    fake = FakeProvider([FakeReply("slow", latency=1.5)], sleep=slept.append)
    assert fake.complete(req()).text == "slow"
    assert slept == [1.5]


def test_latency_over_the_timeout_is_a_timeout() -> None:
    """An answer slower than request.timeout sleeps the timeout and raises ProviderTimeout."""
    slept: list[float] = []
    fake = FakeProvider([FakeReply("slow", latency=5)], sleep=slept.append)
    with pytest.raises(ProviderTimeout):
        fake.complete(req(timeout=0.5))
    assert slept == [0.5]


def test_async_with_injected_sleep_and_async_handler() -> None:
    """acomplete sleeps through asleep and awaits async handlers."""
    slept: list[float] = []

    async def asleep(s: float) -> None:
        slept.append(s)

    async def handler(r: CompletionRequest) -> FakeReply:
        return FakeReply("async", latency=0.25)

    fake = FakeProvider(handler=handler, asleep=asleep)
    assert asyncio.run(fake.acomplete(req())).text == "async"
    assert slept == [0.25]
    with pytest.raises(TypeError, match="async handler"):
        fake.complete(req())
