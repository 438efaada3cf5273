"""LLMRouter and AsyncLLMRouter: thin shells around one planning core.

Both share :class:`_BaseRouter` (construction, validation, breakers, health, logging, close)
and the pure :class:`~llmops._routing.CallPlan`; they differ only in how an attempt is called
and how a wait is slept (like stamina's ``BaseRetryingCaller`` or httpx's ``BaseClient``)::

    router = LLMRouter(config=FallbackConfig(...), providers={"openai": OpenAIProvider()},
                       store=store)
    result = router.complete([{"role": "user", "content": "Hi"}], session_id="s-1")
    router.close()                          # flushes the log rows
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from llmops._hooks import ABAssignerProtocol, Assignment
from llmops._requests import check_deadline
from llmops._routing import Attempt, FailureListener, RoutingCore, Wait
from llmops.breaker import BreakerBoard, BreakerListener, TargetHealth
from llmops.completion import Completion
from llmops.errors import ConfigError, NotFound, ProviderError, ProviderTimeout
from llmops.models import FallbackConfig
from llmops.pricing import ModelPrice, PriceTable
from llmops.providers.base import Provider
from llmops.retry import RetryPolicy
from llmops.store.writer import LogWriter, WriterStats
from llmops.watch import ConfigWatcher

if TYPE_CHECKING:
    from datetime import datetime

    from llmops.store.postgres import PostgresStore

__all__ = ["AsyncLLMRouter", "LLMRouter", "RouterHealth"]


@dataclass(frozen=True, slots=True)
class RouterHealth:
    """What :meth:`LLMRouter.health` reports."""

    environment: str
    targets: tuple[TargetHealth, ...]
    """Every (provider, model) the router has a breaker for, the chain's first."""
    log_writer: WriterStats | None


class _LazyAssigner:
    """``llmops.ab.assignment.ABAssigner(store, environment)``, built on first use."""

    def __init__(self, store: PostgresStore, environment: str) -> None:
        self._store = store
        self._environment = environment
        self._impl: ABAssignerProtocol | None = None

    def assign(
        self, test: str, *, session_id: str | None, user_id: str | None, now: datetime
    ) -> Assignment | None:
        if self._impl is None:
            try:
                from llmops.ab.assignment import ABAssigner  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
            except ImportError as exc:
                raise ConfigError(
                    "ab_test: A/B testing is not available in this installation"
                ) from exc
            self._impl = ABAssigner(self._store, self._environment)
        assert self._impl is not None
        return self._impl.assign(test, session_id=session_id, user_id=user_id, now=now)

    def close(self) -> None:
        """Let the assigner finish a background refresh, if it was ever built."""
        closer = getattr(self._impl, "close", None)
        if callable(closer):
            closer()


class _BaseRouter:
    """Construction and everything that is neither calling nor sleeping."""

    def __init__(
        self,
        config: FallbackConfig | Mapping[str, Any],
        providers: Mapping[str, Provider],
        store: PostgresStore | None = None,
        *,
        prices: PriceTable | Mapping[str, ModelPrice | tuple[object, object]] | None = None,
        deadline: float | None = None,
        max_retry_after: float = 30.0,
        max_delay: float = 30.0,
        max_timeouts: int = 1,
        half_open_max_calls: int = 1,
        ab_assigner: ABAssignerProtocol | None = None,
        writer: LogWriter | None = None,
        spill_dir: Path | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        config = _as_config(config)
        deadline = check_deadline(deadline)
        if not isinstance(providers, Mapping) or not providers:
            raise ConfigError("providers: need a mapping of at least one name -> provider")
        for name, provider in providers.items():
            if not isinstance(name, str) or not isinstance(provider, Provider):
                raise ConfigError(
                    f"providers[{name!r}]: {type(provider).__name__} does not implement the "
                    "Provider protocol (accepted_params, complete, acomplete)"
                )
        if ab_assigner is not None and not isinstance(ab_assigner, ABAssignerProtocol):
            raise ConfigError("ab_assigner: needs an assign(test, *, session_id, user_id, now)")
        price_table = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        policy = RetryPolicy(
            config.max_retries,
            config.retry_delay / 1000.0,
            max_delay=max_delay,
            max_retry_after=max_retry_after,
            max_timeouts=max_timeouts,
        )
        board = BreakerBoard(
            config.circuit_breaker_threshold,
            config.circuit_breaker_reset_time / 1000.0,
            half_open_max_calls=half_open_max_calls,
            clock=clock,
        )
        chain = [
            (t.provider, t.model, t.config.params(), t.config.timeout) for t in config.targets()
        ]
        self.config = config
        self._owns_writer = writer is None and store is not None
        if writer is None and store is not None:
            writer = LogWriter(store, spill_dir=spill_dir)
        try:
            self._core = RoutingCore(
                environment=config.environment,
                chain=chain,
                providers=dict(providers),
                policy=policy,
                board=board,
                prices=price_table,
                writer=writer,
                ab_assigner=ab_assigner,
                deadline=deadline,
                clock=clock,
                wall_clock=wall_clock,
                rng=rng or random.Random(),
            )
        except BaseException:
            if self._owns_writer and writer is not None:
                writer.close()
            raise
        self._writer = writer
        self._watcher: ConfigWatcher | None = None

    @classmethod
    def from_store(
        cls,
        store: PostgresStore,
        environment: str,
        providers: Mapping[str, Provider],
        *,
        watch: bool = False,
        recheck_interval: float = 30.0,
        **options: Any,
    ) -> Self:
        """A router on the active fallback config of ``environment``, logging to ``store``.

        With ``watch=True`` the router follows that environment's active config while it runs
        (:class:`~llmops.watch.ConfigWatcher`: LISTEN/NOTIFY, plus a re-check every
        ``recheck_interval`` seconds); :meth:`close` stops following.

        Raises :class:`NotFound` when the environment has no active config.
        """
        config = store.fallback_configs.get_active(environment)
        if config is None:
            raise NotFound(
                f"no active fallback config for environment {environment!r}; create one first"
            )
        options.setdefault("ab_assigner", _LazyAssigner(store, environment))
        router = cls(config, providers, store, **options)
        if watch:
            try:
                router._watcher = ConfigWatcher(
                    store,
                    environment,
                    router._replace_config,
                    current=config,
                    recheck_interval=recheck_interval,
                ).start()
            except BaseException:
                router.close()
                raise
        return router

    def _replace_config(self, config: FallbackConfig) -> None:
        """Route new calls on ``config``; calls in flight finish on the core they started with.

        The new core shares the breaker board, so targets that stay in the chain keep their
        breaker state. Raises :class:`ConfigError` (and changes nothing) when this router's
        providers cannot serve ``config``.
        """
        old = self._core
        if config.environment != old.environment:
            raise ConfigError(
                f"environment: this router serves {old.environment}, not {config.environment}"
            )
        core = copy.copy(old)  # same providers, board, writer, listeners; new plan inputs
        core.policy = RetryPolicy(
            config.max_retries,
            config.retry_delay / 1000.0,
            max_delay=old.policy.max_delay,
            jitter=old.policy.jitter,
            max_retry_after=old.policy.max_retry_after,
            max_timeouts=old.policy.max_timeouts,
            min_attempt_time=old.policy.min_attempt_time,
        )
        core.targets = tuple(
            core.target(
                t.provider, t.model, t.config.params(), t.config.timeout, where=f"chain[{i}]"
            )
            for i, t in enumerate(config.targets())
        )
        old.board.reconfigure(
            config.circuit_breaker_threshold, config.circuit_breaker_reset_time / 1000.0
        )
        self._core, self.config = core, config  # one reference swap each: atomic for readers

    @property
    def watcher(self) -> ConfigWatcher | None:
        """The watcher following the active config (``from_store(watch=True)``), else None."""
        return self._watcher

    def add_breaker_listener(self, listener: BreakerListener) -> None:
        """Call ``listener(BreakerTransition)`` on every state change of every breaker."""
        self._core.board.add_listener(listener)

    def add_failure_listener(self, listener: FailureListener) -> None:
        """Call ``listener(provider, model, error_kind)`` for each failed attempt of every call
        (fallback-rescued calls included; cancelled attempts and open-breaker skips are not
        failures). It runs on the caller's thread when the call ends, after the call's log rows
        were handed to the writer: it must be quick and must not block. With no listener the
        call pays one empty-list check."""
        self._core.failure_listeners.append(listener)

    def health(self) -> RouterHealth:
        """Breaker state of every target and the log writer's counters."""
        return RouterHealth(
            environment=self._core.environment,
            targets=tuple(self._core.board.health()),
            log_writer=self._writer.stats() if self._writer is not None else None,
        )

    @property
    def writer(self) -> LogWriter | None:
        return self._writer

    def close(self) -> None:
        """Stop following the config (if watching); flush and stop the log writer (if owned)."""
        if self._watcher is not None:
            self._watcher.stop()
        if isinstance(self._core.ab_assigner, _LazyAssigner):  # ours: from_store built it
            self._core.ab_assigner.close()
        if self._owns_writer and self._writer is not None:
            self._writer.close()


class LLMRouter(_BaseRouter):
    """Blocking router. Safe to share between threads."""

    def __init__(
        self,
        config: FallbackConfig | Mapping[str, Any],
        providers: Mapping[str, Provider],
        store: PostgresStore | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        super().__init__(config, providers, store, **options)
        self._sleep = sleep

    def complete(
        self,
        messages: object,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        user_segment: str | None = None,
        title: str | None = None,
        ab_test: str | None = None,
        deadline: float | None = None,
        **params: Any,
    ) -> Completion:
        """Answer ``messages`` through the chain; see the module and README for the rules."""
        plan = self._core.start(
            messages,
            params,
            session_id=session_id,
            user_id=user_id,
            user_segment=user_segment,
            title=title,
            ab_test=ab_test,
            deadline=deadline,
        )
        clock = self._core.clock
        while (action := plan.next_action()) is not None:
            if type(action) is Wait:
                self._sleep(action.seconds)
                continue
            assert type(action) is Attempt
            start = clock()
            try:
                response = action.provider.complete(action.request)
            except ProviderError as exc:
                plan.failed(exc, clock() - start)
            except BaseException as exc:
                plan.aborted(exc, clock() - start)
                raise
            else:
                plan.succeeded(response, clock() - start)
        return plan.finish()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncLLMRouter(_BaseRouter):
    """Asyncio router; the same core as :class:`LLMRouter`."""

    def __init__(
        self,
        config: FallbackConfig | Mapping[str, Any],
        providers: Mapping[str, Provider],
        store: PostgresStore | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **options: Any,
    ) -> None:
        super().__init__(config, providers, store, **options)
        self._sleep = sleep

    async def complete(
        self,
        messages: object,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        user_segment: str | None = None,
        title: str | None = None,
        ab_test: str | None = None,
        deadline: float | None = None,
        **params: Any,
    ) -> Completion:
        """Answer ``messages`` through the chain; see the module and README for the rules."""
        plan = self._core.start(
            messages,
            params,
            session_id=session_id,
            user_id=user_id,
            user_segment=user_segment,
            title=title,
            ab_test=ab_test,
            deadline=deadline,
        )
        clock = self._core.clock
        while (action := plan.next_action()) is not None:
            if type(action) is Wait:
                await self._sleep(action.seconds)
                continue
            assert type(action) is Attempt
            start = clock()
            try:
                response = await self._attempt(action)
            except ProviderError as exc:
                plan.failed(exc, clock() - start)
            except BaseException as exc:
                plan.aborted(exc, clock() - start)
                raise
            else:
                plan.succeeded(response, clock() - start)
        return plan.finish()

    @staticmethod
    async def _attempt(action: Attempt) -> Any:
        timeout = action.request.timeout
        if timeout is None:
            return await action.provider.acomplete(action.request)
        try:  # the adapter should stop at the timeout; this bounds one that does not
            async with asyncio.timeout(timeout + 0.25):
                return await action.provider.acomplete(action.request)
        except TimeoutError:
            raise ProviderTimeout(
                f"no answer within {timeout:g}s", model=action.request.model
            ) from None

    async def aclose(self) -> None:
        """Flush and stop the log writer without blocking the event loop."""
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _as_config(config: FallbackConfig | Mapping[str, Any]) -> FallbackConfig:
    if isinstance(config, FallbackConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"config: expected a FallbackConfig, got {type(config).__name__}")
    try:
        return FallbackConfig.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["config", *(str(p) for p in first["loc"])])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None
