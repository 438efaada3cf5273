"""Circuit breakers: a pure state machine with an injected clock, and a thread-safe board of them.

::

               failure_threshold consecutive counted failures
      closed ───────────────────────────────────────────────▶ open
        ▲                                                      │  strictly after reset_timeout
        │ probe succeeds                                       ▼
        └──────────────────────────────────────────────── half_open
                         probe fails: back to open with a fresh timer

While open, :meth:`CircuitBreaker.allow_request` is False and the router skips the target
without calling it. In half_open at most ``half_open_max_calls`` probes are in flight at once.
An outcome that says nothing about the target's health (a bad request, a content filter, a
cancelled call) is reported with :meth:`CircuitBreaker.release`: it frees a probe slot without
closing or opening anything.

The breaker does no I/O and never sleeps; every state change is handed to its listeners.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmops.errors import ConfigError
from llmops.models.settings import BreakerState

__all__ = [
    "BreakerBoard",
    "BreakerListener",
    "BreakerTransition",
    "CircuitBreaker",
    "StateChange",
    "TargetHealth",
]

_log = logging.getLogger(__name__)

CLOSED: BreakerState = "closed"
OPEN: BreakerState = "open"
HALF_OPEN: BreakerState = "half_open"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One state change of one breaker; ``at`` is a reading of the breaker's clock."""

    from_state: BreakerState
    to_state: BreakerState
    consecutive_failures: int
    at: float


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A state change of the breaker guarding one (provider, model) target of a router."""

    provider: str
    model: str
    from_state: BreakerState
    to_state: BreakerState
    consecutive_failures: int
    at: float


BreakerListener = Callable[[BreakerTransition], None]


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """What :meth:`LLMRouter.health` reports about one target."""

    provider: str
    model: str
    state: BreakerState
    consecutive_failures: int
    retry_in: float | None
    """Seconds until an open breaker lets a probe through; None unless open."""


class CircuitBreaker:
    """Closed / open / half_open state machine; thread-safe; no I/O, no sleeping."""

    __slots__ = (
        "_clock",
        "_failures",
        "_in_flight",
        "_listeners",
        "_lock",
        "_opened_at",
        "_state",
        "failure_threshold",
        "half_open_max_calls",
        "reset_timeout",
    )

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise ConfigError(f"failure_threshold: must be an int, got {failure_threshold!r}")
        if failure_threshold < 1:
            raise ConfigError(f"failure_threshold: must be >= 1, got {failure_threshold}")
        if not reset_timeout > 0:
            raise ConfigError(f"reset_timeout: must be > 0 seconds, got {reset_timeout!r}")
        if isinstance(half_open_max_calls, bool) or half_open_max_calls < 1:
            raise ConfigError(f"half_open_max_calls: must be >= 1, got {half_open_max_calls!r}")
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._in_flight = 0
        self._listeners: list[Callable[[StateChange], None]] = []

    # -- observation ------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """ "closed", "open" or "half_open" (an open breaker past its timeout reads half_open)."""
        with self._lock:
            changes = self._refresh()
        self._emit(changes)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float | None:
        """Seconds until an open breaker lets a probe through; None when not open."""
        with self._lock:
            if self._state != OPEN:
                return None
            return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        """Call ``listener`` after every state change (outside the breaker's lock)."""
        self._listeners.append(listener)

    # -- the state machine ------------------------------------------------------------------

    def allow_request(self) -> bool:
        """May a call go through now? In half_open this takes one of the probe slots."""
        if self._state == CLOSED:  # fast path, no lock: closed admits everything
            return True
        with self._lock:
            changes = self._refresh()
            if self._state == CLOSED:
                allowed = True
            elif self._state == HALF_OPEN and self._in_flight < self.half_open_max_calls:
                self._in_flight += 1
                allowed = True
            else:
                allowed = False
        self._emit(changes)
        return allowed

    def record_success(self) -> None:
        """The target answered: reset the count; a successful probe closes the breaker."""
        if self._state == CLOSED and self._failures == 0:
            return
        with self._lock:
            changes: list[StateChange] = []
            if self._state == HALF_OPEN:
                self._in_flight = max(0, self._in_flight - 1)
                changes.append(self._move(CLOSED))
                self._failures = 0
            elif self._state == CLOSED:
                self._failures = 0
            # open: a late success of a call admitted before the breaker opened changes nothing
        self._emit(changes)

    def record_failure(self) -> None:
        """A counted failure: may open the breaker; a failed probe re-opens it afresh."""
        with self._lock:
            changes: list[StateChange] = []
            self._failures += 1
            if self._state == HALF_OPEN:
                self._in_flight = max(0, self._in_flight - 1)
                self._opened_at = self._clock()
                changes.append(self._move(OPEN))
            elif self._state == CLOSED and self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                changes.append(self._move(OPEN))
        self._emit(changes)

    def release(self) -> None:
        """The call ended without a verdict on the target's health: free its probe slot."""
        if self._state != HALF_OPEN:
            return
        with self._lock:
            if self._state == HALF_OPEN:
                self._in_flight = max(0, self._in_flight - 1)

    # -- internals (lock held) --------------------------------------------------------------

    def _refresh(self) -> list[StateChange]:
        if self._state == OPEN and self._clock() - self._opened_at > self.reset_timeout:
            self._in_flight = 0
            return [self._move(HALF_OPEN)]
        return []

    def _move(self, to: BreakerState) -> StateChange:
        change = StateChange(self._state, to, self._failures, self._clock())
        self._state = to
        return change

    def _emit(self, changes: list[StateChange]) -> None:
        for change in changes:
            for listener in tuple(self._listeners):
                try:
                    listener(change)
                except Exception:  # a listener's bug must not break the call that moved us
                    _log.exception("circuit breaker listener %r failed", listener)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state!r}, failures={self._failures}, "
            f"threshold={self.failure_threshold}, reset_timeout={self.reset_timeout})"
        )


class BreakerBoard:
    """One :class:`CircuitBreaker` per (provider, model), created on first use; thread-safe."""

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        *,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # validates the settings once, before any target needs a breaker
        CircuitBreaker(failure_threshold, reset_timeout, half_open_max_calls, clock)
        self._settings = (failure_threshold, reset_timeout, half_open_max_calls)
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._lock = threading.Lock()
        self._listeners: list[BreakerListener] = []

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                threshold, reset, half_open = self._settings
                breaker = CircuitBreaker(threshold, reset, half_open, self._clock)
                breaker.add_listener(self._forwarder(provider, model))
                self._breakers[key] = breaker
        return breaker

    def add_listener(self, listener: BreakerListener) -> None:
        self._listeners.append(listener)

    def reconfigure(self, failure_threshold: int, reset_timeout: float) -> None:
        """New thresholds for every breaker (a hot-reloaded config); each keeps its state."""
        half_open = self._settings[2]
        CircuitBreaker(failure_threshold, reset_timeout, half_open, self._clock)  # validates
        with self._lock:
            self._settings = (failure_threshold, reset_timeout, half_open)
            for breaker in self._breakers.values():
                breaker.failure_threshold = failure_threshold
                breaker.reset_timeout = float(reset_timeout)

    def health(self) -> list[TargetHealth]:
        with self._lock:
            items = list(self._breakers.items())
        return [
            TargetHealth(p, m, b.state, b.consecutive_failures, b.retry_in()) for (p, m), b in items
        ]

    def _forwarder(self, provider: str, model: str) -> Callable[[StateChange], None]:
        def forward(change: StateChange) -> None:
            transition = BreakerTransition(
                provider,
                model,
                change.from_state,
                change.to_state,
                change.consecutive_failures,
                change.at,
            )
            for listener in tuple(self._listeners):
                try:
                    listener(transition)
                except Exception:  # the alerts subscriber failing must not fail an LLM call
                    _log.exception("breaker listener %r failed", listener)

        return forward
