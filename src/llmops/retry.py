"""When to retry the same target, when to move on, and how long to wait: pure decisions.

tenacity supplies the backoff curve (``wait_exponential``: ``retry_delay * 2**(n-1)``, capped at
``max_delay``); jitter is applied here with an injected random source, so tests are exact.
tenacity's own ``Retrying`` loop retries one callable; ours spans a chain of targets, their
breakers and a per-call deadline, and must serve a sync and an async shell, so the loop is the
router's plan (:mod:`llmops._routing`) and this module only decides (the way tenacity's
``BaseRetrying.iter()`` decides without doing I/O).

Rules, in order, after a failed attempt number ``n`` on a target:

1. an error that is not worth retrying on the same target (``retry_same_target`` False:
   authentication, bad request, context window, content filter), or ``n`` = ``max_attempts``:
   move on if ``try_next_target``, else stop;
2. a timeout when ``max_timeouts`` attempts of this target already timed out: move on (a silent
   target is not retried to the full budget);
3. ``RateLimited`` with ``retry_after``: wait exactly that long (never less), unless it exceeds
   ``max_retry_after``: then move on at once;
4. otherwise wait ``backoff(n)``: exponential with jitter, never below half the curve;
5. a wait (plus a minimal attempt) that would not fit before the deadline: move on instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import tenacity

from llmops.errors import ConfigError, ProviderError, ProviderTimeout, RateLimited

__all__ = ["Decision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failed attempt: ``retry`` after ``delay`` s, ``next`` target, ``stop``."""

    action: Literal["retry", "next", "stop"]
    delay: float = 0.0
    reason: str = ""


_NEXT = Decision("next")
_STOP = Decision("stop")


class _AttemptNumber:
    """The one attribute of tenacity's RetryCallState that its wait strategies read."""

    __slots__ = ("attempt_number",)

    def __init__(self, n: int) -> None:
        self.attempt_number = n


class RetryPolicy:
    """Per-target retry rules; immutable after construction, shared by every call of a router."""

    def __init__(
        self,
        max_attempts: int = 3,
        base_delay: float = 1.0,
        *,
        max_delay: float = 30.0,
        jitter: float = 0.5,
        max_retry_after: float = 30.0,
        max_timeouts: int = 1,
        min_attempt_time: float = 0.05,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"max_attempts: must be an int >= 1, got {max_attempts!r}")
        for name, value in (
            ("base_delay", base_delay),
            ("max_delay", max_delay),
            ("max_retry_after", max_retry_after),
            ("min_attempt_time", min_attempt_time),
        ):
            if not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"{name}: must be a number >= 0 seconds, got {value!r}")
        if not 0.0 <= jitter <= 1.0:
            raise ConfigError(f"jitter: must be between 0 and 1, got {jitter!r}")
        if max_timeouts < 1:
            raise ConfigError(f"max_timeouts: must be >= 1, got {max_timeouts!r}")
        self.max_attempts = max_attempts
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.jitter = jitter
        self.max_retry_after = float(max_retry_after)
        self.max_timeouts = max_timeouts
        self.min_attempt_time = float(min_attempt_time)
        wait = tenacity.wait_exponential(multiplier=self.base_delay, max=self.max_delay, min=0)
        # the deterministic curve, once: backoff() only applies jitter to it
        self._curve = tuple(
            float(wait(_AttemptNumber(n)))  # type: ignore[arg-type]
            for n in range(1, max_attempts + 1)
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): curve * [1 - jitter, 1]."""
        base = self._curve[min(attempt, len(self._curve)) - 1]
        return base * (1.0 - self.jitter * rng.random())

    def decide(
        self,
        error: ProviderError,
        attempt: int,
        timeouts: int,
        remaining: float | None,
        rng: random.Random,
    ) -> Decision:
        """The decision after failed attempt ``attempt`` (1-based) of one target.

        ``timeouts``: how many attempts of this target timed out so far (this one included);
        ``remaining``: seconds left before the call's deadline, None without a deadline.
        """
        move_on = _NEXT if error.try_next_target else _STOP
        if not error.retry_same_target:
            return move_on
        if attempt >= self.max_attempts:
            return Decision(move_on.action, reason=f"{attempt} attempt(s) used")
        if isinstance(error, ProviderTimeout) and timeouts >= self.max_timeouts:
            return Decision(move_on.action, reason=f"{timeouts} timeout(s)")
        if isinstance(error, RateLimited) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return Decision(
                    move_on.action,
                    reason=f"Retry-After {error.retry_after:g}s exceeds the cap "
                    f"{self.max_retry_after:g}s",
                )
            delay = max(0.0, float(error.retry_after))
        else:
            delay = self.backoff(attempt, rng)
        if remaining is not None and delay + self.min_attempt_time > remaining:
            return Decision(move_on.action, reason="no time left before the deadline to retry")
        return Decision("retry", delay)
