"""FakeProvider: a real back-end whose answers are scripted (like httpx's MockTransport).

Tests, the demo and users' own tests use it::

    FakeProvider(["hello", RateLimited("slow down", retry_after=2), FakeReply("hi", latency=0.3)])
    FakeProvider(handler=lambda request: FakeReply(text=request.messages[-1].content.upper()))

Each call takes the next outcome of the script (then ``default``, a reply of "ok", forever): a
``str`` is a reply with that text, a :class:`FakeReply` sets text, token usage, latency and
finish reason, a :class:`~llmops.errors.ProviderError` instance is raised. A ``handler`` is
called with the :class:`CompletionRequest` instead and returns (or raises) an outcome.

Latency is simulated with ``sleep`` / ``asleep``: real ``time.sleep`` / ``asyncio.sleep`` by
default (the demo), an injected fake in tests. An attempt whose latency exceeds the request's
timeout (else the provider's own ``timeout``) sleeps for the timeout and raises :class:`~llmops.errors.ProviderTimeout`, as a real
adapter would.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from llmops.errors import ProviderError, ProviderTimeout
from llmops.providers.base import COMMON_PARAMS, CompletionRequest, ProviderResponse

__all__ = ["FakeOutcome", "FakeProvider", "FakeReply"]


@dataclass(frozen=True, slots=True)
class FakeReply:
    """A scripted successful answer."""

    text: str = "ok"
    input_tokens: int | None = 10
    output_tokens: int | None = 5
    latency: float = 0.0
    """Seconds the answer takes (simulated with the provider's sleep)."""
    finish_reason: str | None = "stop"
    model: str | None = None
    """The model name to report; the requested model when None."""


FakeOutcome = FakeReply | str | ProviderError
Handler = Callable[[CompletionRequest], "FakeOutcome | Awaitable[FakeOutcome]"]


class FakeProvider:
    """A scripted provider; thread-safe; records every request in :attr:`requests`."""

    def __init__(
        self,
        script: Iterable[FakeOutcome] = (),
        *,
        handler: Handler | None = None,
        default: FakeOutcome | None = FakeReply(),
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        accepted_params: frozenset[str] = COMMON_PARAMS,
        record: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.timeout = timeout
        """Seconds per attempt when the request sets none (None: wait as long as it takes)."""
        self._script: deque[FakeOutcome] = deque(script)
        self._handler = handler
        self._default = default
        self._sleep = sleep
        self._asleep = asleep
        self._accepted = frozenset(accepted_params)
        self._record = record
        self._lock = threading.Lock()
        self.requests: list[CompletionRequest] = []
        self.calls = 0

    @property
    def accepted_params(self) -> frozenset[str]:
        return self._accepted

    def push(self, *outcomes: FakeOutcome) -> None:
        """Append outcomes to the script."""
        with self._lock:
            self._script.extend(outcomes)

    # -- the Provider protocol --------------------------------------------------------------

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        outcome = self._next(request)
        if inspect.isawaitable(outcome):
            if inspect.iscoroutine(outcome):
                outcome.close()
            raise TypeError("FakeProvider: an async handler can only serve acomplete()")
        latency = self._latency(outcome)
        if latency:
            timeout = request.timeout if request.timeout is not None else self.timeout
            if timeout is not None and latency > timeout:
                self._sleep(timeout)
                raise self._timeout(request, timeout)
            self._sleep(latency)
        return self._answer(outcome, request)

    async def acomplete(self, request: CompletionRequest) -> ProviderResponse:
        outcome = self._next(request)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        latency = self._latency(outcome)
        if latency:
            timeout = request.timeout if request.timeout is not None else self.timeout
            if timeout is not None and latency > timeout:
                await self._asleep(timeout)
                raise self._timeout(request, timeout)
            await self._asleep(latency)
        return self._answer(outcome, request)

    # -- internals --------------------------------------------------------------------------

    def _next(self, request: CompletionRequest) -> FakeOutcome | Awaitable[FakeOutcome]:
        with self._lock:
            self.calls += 1
            if self._record:
                self.requests.append(request)
            if self._handler is None:
                if self._script:
                    return self._script.popleft()
                if self._default is None:
                    raise RuntimeError(
                        f"FakeProvider: script exhausted after {self.calls - 1} call(s) "
                        "and no default outcome"
                    )
                return self._default
        return self._handler(request)

    @staticmethod
    def _latency(outcome: FakeOutcome) -> float:
        return outcome.latency if isinstance(outcome, FakeReply) else 0.0

    @staticmethod
    def _timeout(request: CompletionRequest, timeout: float) -> ProviderTimeout:
        return ProviderTimeout(
            f"no answer within {timeout:g}s", provider="fake", model=request.model
        )

    @staticmethod
    def _answer(outcome: FakeOutcome, request: CompletionRequest) -> ProviderResponse:
        if isinstance(outcome, ProviderError):
            # a fresh copy each time: re-raising one instance would grow its traceback forever
            raise copy.copy(outcome).with_traceback(None)
        if isinstance(outcome, str):
            return ProviderResponse(outcome, 10, 5, "stop", request.model)
        if isinstance(outcome, FakeReply):
            return ProviderResponse(
                outcome.text,
                outcome.input_tokens,
                outcome.output_tokens,
                outcome.finish_reason,
                outcome.model or request.model,
            )
        raise TypeError(
            f"FakeProvider: an outcome must be a str, FakeReply or ProviderError, "
            f"got {type(outcome).__name__}"
        )
