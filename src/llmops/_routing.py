"""The planning core shared by LLMRouter and AsyncLLMRouter: no I/O, no sleeping.

A :class:`CallPlan` is one call's state machine. The shells in :mod:`llmops.router` loop::

    while (action := plan.next_action()) is not None:
        Wait     -> sleep(action.seconds)
        Attempt  -> call action.provider (sync or async), then tell the plan:
                    plan.succeeded(response, seconds) / plan.failed(error, seconds)
    return plan.finish()          # a Completion, or raises

The plan decides which target comes next, consults its breaker (an open one is skipped and
recorded as ``skipped``), asks the :class:`~llmops.retry.RetryPolicy` whether to retry, and keeps
the deadline. :meth:`CallPlan.finish` hands the call's log rows to the writer as one
:class:`~llmops._calllog.CallRecord`, which becomes rows only in the writer's thread.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llmops._calllog import ABRecord, CallRecord
from llmops._hooks import ABAssignerProtocol, Assignment
from llmops._requests import check_deadline, check_label, check_params, to_messages
from llmops.breaker import BreakerBoard, BreakerTransition, CircuitBreaker
from llmops.completion import Completion, Usage
from llmops.errors import (
    AllProvidersFailed,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    ProviderError,
)
from llmops.models import BreakerEvent, FallbackAttempt
from llmops.models.common import Environment
from llmops.models.fallback import AttemptOutcome
from llmops.pricing import PriceTable
from llmops.providers.base import (
    COMMON_PARAMS,
    ChatMessage,
    CompletionRequest,
    Provider,
    ProviderResponse,
)
from llmops.retry import RetryPolicy
from llmops.store.writer import LogWriter

__all__ = ["Attempt", "CallPlan", "FailureListener", "RoutingCore", "Target", "Wait"]

_log = logging.getLogger("llmops.router")

FailureListener = Callable[[str, str, str], None]
"""Called as ``listener(provider, model, error_kind)`` once per failed attempt of a call."""

_MESSAGE_CHARS = 500  # attempt messages in logs are cut here (providers may echo input)


@dataclass(frozen=True, slots=True)
class Target:
    """One provider/model of a chain, resolved against the router's providers."""

    provider_name: str
    model: str
    provider: Provider
    params: Mapping[str, Any]
    """The target's own generation params, merged over the call's."""
    accepted: frozenset[str]
    timeout: float | None
    breaker: CircuitBreaker


@dataclass(frozen=True, slots=True)
class Attempt:
    """Action: call ``provider`` with ``request``."""

    provider: Provider
    request: CompletionRequest


@dataclass(frozen=True, slots=True)
class Wait:
    """Action: sleep ``seconds`` before the next attempt."""

    seconds: float


class RoutingCore:
    """Everything a router knows that does not depend on sync or async: targets, breakers,
    retry policy, prices, deadline default, the writer and the A/B assigner."""

    def __init__(
        self,
        *,
        environment: Environment,
        chain: Sequence[tuple[str, str, Mapping[str, Any], float | None]],
        providers: Mapping[str, Provider],
        policy: RetryPolicy,
        board: BreakerBoard,
        prices: PriceTable,
        writer: LogWriter | None,
        ab_assigner: ABAssignerProtocol | None,
        deadline: float | None,
        clock: Callable[[], float],
        rng: random.Random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.environment = environment
        self.providers = providers
        self.policy = policy
        self.board = board
        self.prices = prices
        self.writer = writer
        self.ab_assigner = ab_assigner
        self.deadline = deadline
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = rng
        self.allowed_params = COMMON_PARAMS.union(*(p.accepted_params for p in providers.values()))
        self.targets = tuple(
            self.target(*spec, where=f"chain[{i}]") for i, spec in enumerate(chain)
        )
        self.failure_listeners: list[FailureListener] = []  # shared by copies of this core
        if writer is not None:
            board.add_listener(self._log_transition)

    def target(
        self,
        provider: str,
        model: str,
        params: Mapping[str, Any],
        timeout: float | None,
        *,
        where: str,
    ) -> Target:
        """Resolve one (provider, model, params) against ``providers``; ConfigError if it can't."""
        if provider not in self.providers:
            known = ", ".join(sorted(self.providers)) or "none"
            raise ConfigError(
                f"{where}.provider: {provider!r} is not a key of providers (known: {known})"
            )
        impl = self.providers[provider]
        accepted = frozenset(impl.accepted_params)
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ConfigError(
                f"{where}.config: provider {provider!r} does not accept {', '.join(unknown)}"
            )
        check_params(params, accepted)
        if timeout is None:  # the adapter's own per-attempt timeout, so a deadline only caps it
            own = getattr(impl, "timeout", None)
            if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
                timeout = float(own)
        return Target(
            provider, model, impl, dict(params), accepted, timeout, self.board.get(provider, model)
        )

    def start(
        self,
        messages: object,
        params: Mapping[str, Any],
        *,
        session_id: str | None,
        user_id: str | None,
        user_segment: str | None,
        title: str | None,
        ab_test: str | None,
        deadline: float | None,
    ) -> CallPlan:
        """Validate one call's arguments and plan it (raises ConfigError before any I/O)."""
        msgs = to_messages(messages)
        if params:
            check_params(params, self.allowed_params)
        if session_id is not None or user_id is not None or user_segment is not None:
            check_label("session_id", session_id, 100)
            check_label("user_id", user_id, 200)
            check_label("user_segment", user_segment, 100)
        budget = check_deadline(deadline) if deadline is not None else self.deadline
        targets = self.targets
        ab: ABRecord | None = None
        if ab_test is not None:
            check_label("ab_test", ab_test, 200)
            if title is not None and not isinstance(title, str):
                raise ConfigError(f"title: must be a string, got {type(title).__name__}")
            assignment = self._assign(ab_test, session_id, user_id)
            if assignment is not None:
                targets = self._ab_chain(assignment)
                ab = ABRecord(assignment, uuid.uuid4(), title, user_segment)
        return CallPlan(self, msgs, params, targets, budget=budget, session_id=session_id, ab=ab)

    def _assign(self, test: str, session_id: str | None, user_id: str | None) -> Assignment | None:
        if self.ab_assigner is None:
            raise ConfigError(
                "ab_test: this router has no A/B assigner (pass ab_assigner=..., or build the "
                "router with LLMRouter.from_store)"
            )
        return self.ab_assigner.assign(
            test,
            session_id=session_id,
            user_id=user_id,
            now=datetime.fromtimestamp(self.wall_clock(), UTC),
        )

    def _ab_chain(self, a: Assignment) -> tuple[Target, ...]:
        key = (a.provider, a.model)
        timeout = next((t.timeout for t in self.targets if (t.provider_name, t.model) == key), None)
        params = {k: v for k, v in a.params.items() if v is not None}
        variant = self.target(
            a.provider, a.model, params, timeout, where=f"ab variant {a.variant_id!r}"
        )
        rest = tuple(t for t in self.targets if (t.provider_name, t.model) != key)
        return (variant, *rest)

    def _log_transition(self, t: BreakerTransition) -> None:
        assert self.writer is not None
        self.writer.submit(
            BreakerEvent(
                environment=self.environment,
                provider=t.provider,
                model=t.model,
                from_state=t.from_state,
                to_state=t.to_state,
                consecutive_failures=t.consecutive_failures,
                created_at=datetime.fromtimestamp(self.wall_clock(), UTC),
            )
        )


class CallPlan:
    """One call's attempts: which target next, retry or move on, wait, deadline. No I/O."""

    __slots__ = (
        "_ab",
        "_attempt",
        "_core",
        "_deadline_at",
        "_done",
        "_final_error",
        "_index",
        "_messages",
        "_params",
        "_response",
        "_served",
        "_session_id",
        "_started",
        "_targets",
        "_timeouts",
        "_wait",
        "_wall",
        "attempts",
    )

    def __init__(
        self,
        core: RoutingCore,
        messages: tuple[ChatMessage, ...],
        params: Mapping[str, Any],
        targets: tuple[Target, ...],
        *,
        budget: float | None,
        session_id: str | None,
        ab: ABRecord | None,
    ) -> None:
        self._core = core
        self._messages = messages
        self._params = params
        self._targets = targets
        self._session_id = session_id
        self._ab = ab
        self._started = core.clock()
        self._wall = core.wall_clock()
        self._deadline_at = None if budget is None else self._started + budget
        self._index = 0
        self._attempt = 0
        self._timeouts = 0
        self._wait = 0.0
        self._done = False
        self._response: ProviderResponse | None = None
        self._served: Target | None = None
        self._final_error: BaseException | None = None
        self.attempts: list[FallbackAttempt] = []

    # -- what to do next --------------------------------------------------------------------

    def next_action(self) -> Attempt | Wait | None:
        """The next action, or None when the call is decided (then call :meth:`finish`)."""
        if self._done:
            return None
        if self._wait:
            wait, self._wait = self._wait, 0.0
            return Wait(wait)
        targets = self._targets
        while self._index < len(targets):
            target = targets[self._index]
            remaining = None
            if self._deadline_at is not None:
                remaining = self._deadline_at - self._core.clock()
                if remaining <= 0:
                    self._deadline_passed()
                    return None
            if not target.breaker.allow_request():
                retry_in = target.breaker.retry_in()
                self._record(target, "skipped", "circuit_open", message=_open_message(retry_in))
                self._next_target()
                continue
            timeout = target.timeout
            if remaining is not None and (timeout is None or remaining < timeout):
                timeout = remaining
            self._attempt += 1
            return Attempt(
                target.provider,
                CompletionRequest(self._messages, target.model, self._params_for(target), timeout),
            )
        self._done = True
        return None

    def succeeded(self, response: ProviderResponse, seconds: float) -> None:
        target = self._targets[self._index]
        target.breaker.record_success()
        self._record(target, "success", latency=seconds)
        self._response = response
        self._served = target
        self._done = True

    def failed(self, error: ProviderError, seconds: float) -> None:
        target = self._targets[self._index]
        if error.counts_for_breaker:
            target.breaker.record_failure()
        else:
            target.breaker.release()
        self._record(
            target,
            "error",
            error.kind,
            status=error.status_code,
            latency=seconds,
            retry_after=getattr(error, "retry_after", None),
            message=error.message,
        )
        if error.kind == "timeout":
            self._timeouts += 1
        remaining = None
        if self._deadline_at is not None:
            remaining = self._deadline_at - self._core.clock()
        decision = self._core.policy.decide(
            error, self._attempt, self._timeouts, remaining, self._core.rng
        )
        self._final_error = error
        if decision.action == "retry":
            self._wait = decision.delay
        elif decision.action == "next":
            self._next_target()
        else:
            self._done = True

    def aborted(self, exc: BaseException, seconds: float) -> None:
        """The call was interrupted (cancelled, or a provider broke its contract)."""
        target = self._targets[self._index]
        target.breaker.release()
        kind = "cancelled" if not isinstance(exc, Exception) else "internal_error"
        self._record(target, "error", kind, latency=seconds, message=type(exc).__name__)
        self._final_error = exc
        self._done = True
        self._submit(exc, None)

    def finish(self) -> Completion:
        """The Completion; raises the call's error when no target served."""
        response, served = self._response, self._served
        if response is None or served is None:
            error = self._error()
            self._submit(error, None)
            raise error
        cost = self._cost()
        self._submit(None, cost)
        in_tok, out_tok = response.input_tokens, response.output_tokens
        total = None if in_tok is None and out_tok is None else (in_tok or 0) + (out_tok or 0)
        return Completion(
            text=response.text,
            provider=served.provider_name,
            model=served.model,
            usage=Usage(in_tok, out_tok, total),
            cost_usd=cost,
            latency_ms=(self._core.clock() - self._started) * 1000.0,
            attempts=tuple(self.attempts),
            fallback_used=served is not self._targets[0],
            finish_reason=response.finish_reason,
            ab_result_id=self._ab.result_id if self._ab is not None else None,
        )

    # -- internals --------------------------------------------------------------------------

    def _params_for(self, target: Target) -> Mapping[str, Any]:
        params = self._params
        if not target.params:
            if not params or params.keys() <= target.accepted:
                return params
            return {k: v for k, v in params.items() if k in target.accepted}
        merged = {k: v for k, v in params.items() if k in target.accepted}
        merged.update(target.params)
        return merged

    def _next_target(self) -> None:
        self._index += 1
        self._attempt = 0
        self._timeouts = 0
        self._wait = 0.0

    def _deadline_passed(self) -> None:
        budget = self._deadline_at - self._started if self._deadline_at is not None else 0.0
        for target in self._targets[self._index :]:
            self._record(target, "skipped", "deadline_exceeded", message="no time left")
        self._final_error = DeadlineExceeded(
            f"the call's deadline of {budget:g}s ran out after {len(self.attempts)} attempt(s)"
        )
        self._done = True

    def _record(
        self,
        target: Target,
        outcome: AttemptOutcome,
        kind: str | None = None,
        *,
        status: int | None = None,
        latency: float | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        self.attempts.append(
            FallbackAttempt.model_construct(
                provider=target.provider_name,
                model=target.model,
                attempt=max(self._attempt, 1),
                outcome=outcome,
                error_kind=kind,
                status_code=status,
                latency_ms=None if latency is None else round(latency * 1000.0, 3),
                retry_after=retry_after,
                message=message[:_MESSAGE_CHARS] if message else None,
            )
        )

    def _cost(self) -> Decimal | None:
        r, s = self._response, self._served
        if r is None or s is None:
            return None
        return self._core.prices.cost(s.model, r.input_tokens, r.output_tokens)

    def _error(self) -> BaseException:
        err = self._final_error
        if isinstance(err, ProviderError) and not err.try_next_target:
            return err  # about the request itself (bad request, content filter): the caller's
        if err is not None and not isinstance(err, ProviderError | DeadlineExceeded):
            return err  # interrupted: re-raise what interrupted us
        if err is None and self.attempts:  # every target skipped: their breakers are open
            first = self.attempts[0]
            err = CircuitOpen(first.provider, first.model, self._targets[0].breaker.retry_in())
        return AllProvidersFailed(self.attempts, err)

    def _submit(self, error: BaseException | None, cost: Decimal | None) -> None:
        core = self._core
        writer = core.writer
        if writer is not None:
            served = self._served
            writer.submit(
                CallRecord(
                    environment=core.environment,
                    primary=(self._targets[0].provider_name, self._targets[0].model),
                    served=(served.provider_name, served.model) if served is not None else None,
                    fallback_used=served is not None and served is not self._targets[0],
                    attempts=self.attempts,
                    response=self._response,
                    error=error,
                    cost=cost,
                    elapsed_ms=int((core.clock() - self._started) * 1000.0),
                    wall=self._wall,
                    session_id=self._session_id,
                    messages=self._messages,
                    ab=self._ab,
                )
            )
        if core.failure_listeners:  # after the rows are queued: a listener may flush them
            self._notify_failures(core.failure_listeners)

    def _notify_failures(self, listeners: list[FailureListener]) -> None:
        for a in self.attempts:
            if a.outcome != "error" or a.error_kind == "cancelled":
                continue  # cancelled: the caller gave up, not the provider
            for listener in tuple(listeners):
                try:
                    listener(a.provider, a.model, a.error_kind or "unknown")
                except Exception:  # a listener's bug must not fail the call
                    _log.exception("failure listener %r failed", listener)


def _open_message(retry_in: float | None) -> str:
    return "circuit breaker open" + (f"; next probe in {retry_in:.1f}s" if retry_in else "")
