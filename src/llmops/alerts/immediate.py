"""Immediate alerts from the router: breaker state changes evaluate the breaker and provider
rules at once, off the router's thread, through the engine's usual locking and deduplication.

::

    router hot path                       ImmediateAlerts worker thread
    breaker opens -> on_breaker_change -> queue.put_nowait   (no I/O, never blocks, never raises)
                                          drain the queue (coalesce a burst into one pass)
                                          flush the router's log writer (if it has one), so the
                                          llm_circuit_breaker_events row is in the database
                                          engine.evaluate_now(environment, circuit_breaker +
                                                              provider_failure rules)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, Self

from llmops.alerts.engine import AlertEngine, EvaluationOutcome
from llmops.breaker import BreakerTransition
from llmops.errors import ConfigError

__all__ = ["IMMEDIATE_TYPES", "ImmediateAlerts", "SupportsBreakerListeners"]

logger = logging.getLogger("llmops.alerts")

IMMEDIATE_TYPES: tuple[str, ...] = ("circuit_breaker", "provider_failure")
"""The rule types a breaker state change evaluates at once."""


class SupportsBreakerListeners(Protocol):
    """What :meth:`ImmediateAlerts.attach` needs from a router."""

    def add_breaker_listener(self, listener: Callable[[BreakerTransition], None]) -> None: ...


class ImmediateAlerts:
    """Subscribes an :class:`AlertEngine` to a router's breaker state changes.

    ``flush`` is called on the worker thread before each evaluation so that log rows the
    router queued (its breaker-event row among them) are committed first; :meth:`attach` uses
    the router's log writer's ``flush()`` (``router.writer.flush``) when it has one.
    """

    def __init__(
        self,
        engine: AlertEngine,
        *,
        environment: str | None = None,
        types: Sequence[str] = IMMEDIATE_TYPES,
        flush: Callable[[], None] | None = None,
        max_pending: int = 1000,
    ) -> None:
        self.engine = engine
        self.environment = environment
        self.types = tuple(types)
        self.flush = flush
        self.outcomes: list[EvaluationOutcome] = []
        self._queue: queue.Queue[BreakerTransition | None] = queue.Queue(maxsize=max_pending)
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def attach(self, router: SupportsBreakerListeners) -> Self:
        """Listen to ``router``'s breaker changes; environment and flush come from the router
        unless given to the constructor."""
        if self.environment is None:
            self.environment = _router_environment(router)
        if self.flush is None:
            writer = getattr(router, "writer", None)
            flush = getattr(writer, "flush", None) or getattr(router, "flush", None)
            if callable(flush):
                self.flush = flush
        router.add_breaker_listener(self.on_breaker_change)
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

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued change has been evaluated (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Evaluate what is queued, then stop the worker."""
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
        while True:
            items = [self._queue.get()]
            while True:  # coalesce a burst of changes into one evaluation
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if any(i is not None for i in items):
                self._evaluate()
            stop = any(i is None for i in items)
            if stop or self._queue.empty():
                self._idle.set()
            if stop:
                return

    def _evaluate(self) -> None:
        if self.flush is not None:
            try:
                self.flush()
            except Exception:  # flushing is best effort; evaluation still runs
                logger.exception("immediate alerts: flushing the router's log writer failed")
        try:
            self.outcomes.extend(
                self.engine.evaluate_now(environment=self.environment, types=self.types)
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
