"""Immediate alerts from the router: breaker state changes and failed provider attempts
evaluate the breaker and provider rules at once, off the router's thread, through the engine's
usual locking and deduplication.

::

    router hot path                          ImmediateAlerts worker thread
    breaker opens  -> on_breaker_change  -> queue.put_nowait   (no I/O, never blocks)
    attempt failed -> on_provider_failure -> one flag check; the first failure since the last
                      (at call end, after       evaluation enqueues a signal, the rest return
                       its rows are queued)     drain the queue (coalesce a burst into one pass)
                                             provider failures: wait out the debounce interval
                                             flush the router's log writer (if it has one), so
                                             the breaker-event / fallback-log rows are visible
                                             engine.evaluate_now(environment, types)

A breaker change evaluates ``types`` (circuit_breaker and provider_failure rules) at once.
Failed attempts evaluate the provider_failure rules, at most once per ``debounce`` seconds: the
first failure after a quiet interval is evaluated at once, a burst within the interval is
coalesced into one trailing evaluation at its end (:func:`debounce_delay`). A provider that is
down while its fallback serves therefore raises its alert within seconds, and costs the hot
path one attribute check per failed call.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, Self

from llmops.alerts.engine import AlertEngine, EvaluationOutcome
from llmops.breaker import BreakerTransition
from llmops.errors import ConfigError

__all__ = [
    "FAILURE_TYPES",
    "IMMEDIATE_TYPES",
    "ImmediateAlerts",
    "SupportsBreakerListeners",
    "debounce_delay",
]

logger = logging.getLogger("llmops.alerts")

IMMEDIATE_TYPES: tuple[str, ...] = ("circuit_breaker", "provider_failure")
"""The rule types a breaker state change evaluates at once."""

FAILURE_TYPES: tuple[str, ...] = ("provider_failure",)
"""The rule types a failed provider attempt evaluates (debounced)."""

_FAILURE: Final = "failure"  # queue signal: provider failures are pending


def debounce_delay(last: float | None, now: float, interval: float) -> float:
    """Seconds to wait before the next failure-triggered evaluation (0.0: evaluate now), when
    the previous one of the same rules started at ``last`` (None: never)."""
    if last is None:
        return 0.0
    return max(0.0, last + interval - now)


class SupportsBreakerListeners(Protocol):
    """What :meth:`ImmediateAlerts.attach` needs from a router (``add_failure_listener`` is
    used too when the router has it)."""

    def add_breaker_listener(self, listener: Callable[[BreakerTransition], None]) -> None: ...


class ImmediateAlerts:
    """Subscribes an :class:`AlertEngine` to a router's breaker changes and failed attempts.

    ``flush`` is called on the worker thread before each evaluation so that log rows the
    router queued (its breaker-event and fallback-log rows among them) are committed first;
    :meth:`attach` uses the router's log writer's ``flush()`` (``router.writer.flush``) when it
    has one. ``debounce`` (seconds) bounds failure-triggered evaluations; ``clock`` is the
    monotonic clock it is measured with.
    """

    def __init__(
        self,
        engine: AlertEngine,
        *,
        environment: str | None = None,
        types: Sequence[str] = IMMEDIATE_TYPES,
        flush: Callable[[], None] | None = None,
        max_pending: int = 1000,
        debounce: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if debounce < 0:
            raise ConfigError(f"debounce: must be >= 0 seconds, got {debounce}")
        self.engine = engine
        self.environment = environment
        self.types = tuple(types)
        self.flush = flush
        self.debounce = debounce
        self.clock = clock
        self.outcomes: list[EvaluationOutcome] = []
        self.evaluations = 0
        """Evaluation passes run so far (each covers every matching rule)."""
        self._failure_types = tuple(t for t in self.types if t in FAILURE_TYPES)
        self._queue: queue.Queue[BreakerTransition | str | None] = queue.Queue(maxsize=max_pending)
        self._failure_signalled = False  # a failure signal is queued or pending evaluation
        self._last_failure_evaluation: float | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def attach(self, router: SupportsBreakerListeners) -> Self:
        """Listen to ``router``'s breaker changes and (if it offers ``add_failure_listener``
        and provider_failure is among ``types``) its failed attempts; environment and flush
        come from the router unless given to the constructor."""
        if self.environment is None:
            self.environment = _router_environment(router)
        if self.flush is None:
            writer = getattr(router, "writer", None)
            flush = getattr(writer, "flush", None) or getattr(router, "flush", None)
            if callable(flush):
                self.flush = flush
        router.add_breaker_listener(self.on_breaker_change)
        add_failure_listener = getattr(router, "add_failure_listener", None)
        if self._failure_types and callable(add_failure_listener):
            add_failure_listener(self.on_provider_failure)
        self.start()
        return self

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llmops-immediate-alerts", daemon=True
                )
                self._thread.start()

    def on_breaker_change(self, transition: BreakerTransition) -> None:
        """The router's listener: enqueue and return (no I/O; a full queue drops the signal,
        the next scheduled pass still sees the logged rows)."""
        self._idle.clear()
        try:
            self._queue.put_nowait(transition)
        except queue.Full:
            logger.warning(
                "immediate alerts: queue full, %s/%s change left to the next pass",
                transition.provider,
                transition.model,
            )

    def on_provider_failure(self, provider: str, model: str, error_kind: str) -> None:
        """The router's failure listener: while a failure-triggered evaluation is pending this
        is one flag check; otherwise it enqueues one signal (no I/O, never blocks)."""
        if self._failure_signalled or not self._failure_types:
            return
        self._failure_signalled = True
        self._idle.clear()
        try:
            self._queue.put_nowait(_FAILURE)
        except queue.Full:
            self._failure_signalled = False
            logger.warning(
                "immediate alerts: queue full, %s/%s %s failure left to the next pass",
                provider,
                model,
                error_kind,
            )

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued signal has been evaluated, a debounced failure evaluation
        included (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Evaluate what is queued or pending (without waiting out the debounce), then stop
        the worker."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        breaker = failure = stop = False
        while True:
            wait: float | None = None
            if failure:
                wait = debounce_delay(self._last_failure_evaluation, self.clock(), self.debounce)
            items: list[BreakerTransition | str | None] = []
            if wait is None or wait > 0:
                with contextlib.suppress(queue.Empty):  # Empty: the debounce interval is over
                    items.append(self._queue.get(timeout=wait))
            while True:  # coalesce a burst of signals into one evaluation
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                if item is None:
                    stop = True
                elif isinstance(item, str):  # _FAILURE
                    failure = True
                else:
                    breaker = True
            if breaker:
                self._evaluate(self.types)
                breaker = False
                failure = failure and not self._failure_types
            elif failure and (
                stop
                or debounce_delay(self._last_failure_evaluation, self.clock(), self.debounce) == 0
            ):
                self._evaluate(self._failure_types)
                failure = False
            if stop or (not failure and self._queue.empty()):
                self._idle.set()
            if stop:
                return

    def _evaluate(self, types: tuple[str, ...]) -> None:
        if self._failure_types and set(self._failure_types) <= set(types):
            # failures signalled from here on are after the flush below: they need a new pass
            self._failure_signalled = False
            self._last_failure_evaluation = self.clock()
        if self.flush is not None:
            try:
                self.flush()
            except Exception:  # flushing is best effort; evaluation still runs
                logger.exception("immediate alerts: flushing the router's log writer failed")
        self.evaluations += 1
        try:
            self.outcomes.extend(
                self.engine.evaluate_now(environment=self.environment, types=types)
            )
        except Exception:  # the worker must survive (e.g. the database is down)
            logger.exception("immediate alerts: evaluation failed")
        del self.outcomes[:-100]


def _router_environment(router: Any) -> str:
    for path in (("environment",), ("config", "environment")):
        value: Any = router
        for attr in path:
            value = getattr(value, attr, None)
        if isinstance(value, str):
            return value
    raise ConfigError("environment: cannot tell the router's environment; pass environment=")
