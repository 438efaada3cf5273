"""RetryPolicy decisions: what is retried, how long we wait, when we move on."""

from __future__ import annotations

import random

import pytest

from llmops.errors import (
    AuthenticationFailed,
    BadRequest,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from llmops.retry import RetryPolicy


def rng() -> random.Random:
    return random.Random(7)


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    """Delay n lies in [curve/2, curve] where curve = base * 2**(n-1), capped at max_delay."""
    policy = RetryPolicy(6, 0.5, max_delay=3.0, jitter=0.5)
    r = rng()
    for n, curve in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0)]:
        for _ in range(200):
            d = policy.backoff(n, r)
            assert curve / 2 <= d <= curve


def test_no_jitter_gives_the_exact_curve() -> None:
    """jitter=0 reproduces tenacity's wait_exponential."""
    policy = RetryPolicy(4, 0.1, jitter=0.0)
    assert [policy.backoff(n, rng()) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])


@pytest.mark.parametrize(
    "error",
    [ProviderUnavailable("503", status_code=503), MalformedResponse("empty"), RateLimited("429")],
)
def test_transient_errors_are_retried_until_max_attempts(error: Exception) -> None:
    """5xx, malformed and 429 without Retry-After retry with backoff, then move on."""
    policy = RetryPolicy(3, 1.0)
    assert policy.decide(error, 1, 0, None, rng()).action == "retry"  # type: ignore[arg-type]
    assert policy.decide(error, 2, 0, None, rng()).action == "retry"  # type: ignore[arg-type]
    assert policy.decide(error, 3, 0, None, rng()).action == "next"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (AuthenticationFailed("401", status_code=401), "next"),
        (ContextWindowExceeded("too long", status_code=400), "next"),
        (BadRequest("bad", status_code=400), "stop"),
        (ContentFiltered("policy", reason="SAFETY"), "stop"),
    ],
)
def test_non_retryable_errors_never_retry_the_same_target(error: Exception, action: str) -> None:
    """Auth and context-window move on at once; bad request and content filter stop the call."""
    d = RetryPolicy(5, 1.0).decide(error, 1, 0, None, rng())  # type: ignore[arg-type]
    assert d.action == action


def test_retry_after_is_honoured_exactly() -> None:
    """A Retry-After under the cap is the delay, never less."""
    d = RetryPolicy(3, 0.1).decide(RateLimited("429", retry_after=2.0), 1, 0, None, rng())
    assert (d.action, d.delay) == ("retry", 2.0)


def test_retry_after_above_cap_moves_on_at_once() -> None:
    """A provider asking for longer than max_retry_after sends us to the next target."""
    d = RetryPolicy(3, 0.1, max_retry_after=5).decide(
        RateLimited("429", retry_after=60), 1, 0, None, rng()
    )
    assert d.action == "next"
    assert "exceeds the cap" in d.reason


def test_timeouts_are_retried_only_max_timeouts_times() -> None:
    """A silent target is not retried to the full budget."""
    policy = RetryPolicy(5, 0.1, max_timeouts=2)
    err = ProviderTimeout("silent")
    assert policy.decide(err, 1, 1, None, rng()).action == "retry"
    assert policy.decide(err, 2, 2, None, rng()).action == "next"


def test_a_wait_that_does_not_fit_the_deadline_moves_on() -> None:
    """No retry is planned that would end after the deadline."""
    policy = RetryPolicy(5, 1.0, jitter=0.0)
    err = ProviderUnavailable("503")
    assert policy.decide(err, 1, 0, 0.5, rng()).action == "next"
    assert policy.decide(err, 1, 0, 5.0, rng()).action == "retry"
    assert policy.decide(RateLimited("429", retry_after=3), 1, 0, 2.0, rng()).action == "next"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"jitter": 2.0}, "jitter"),
        ({"max_retry_after": -5}, "max_retry_after"),
        ({"max_timeouts": 0}, "max_timeouts"),
    ],
)
def test_bad_policy_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    """Invalid retry settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=field):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
