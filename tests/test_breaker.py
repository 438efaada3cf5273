"""CircuitBreaker state machine and BreakerBoard, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import threading

import pytest

from llmops.breaker import BreakerBoard, BreakerTransition, CircuitBreaker, StateChange
from llmops.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    threshold: int = 3, reset: float = 10.0, half_open: int = 1
) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(threshold, reset, half_open, clock=clock), clock


def test_opens_after_threshold_consecutive_failures() -> None:
    """Exactly failure_threshold consecutive counted failures open the breaker."""
    b, _ = make(threshold=3)
    b.record_failure()
    b.record_failure()
    assert b.state == "closed" and b.allow_request()
    b.record_failure()
    assert b.state == "open"
    assert not b.allow_request()


def test_success_resets_the_consecutive_count() -> None:
    """A success in between means the failures are not consecutive."""
    b, _ = make(threshold=3)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    assert b.consecutive_failures == 2


def test_half_open_only_strictly_after_reset_timeout() -> None:
    """At exactly reset_timeout the breaker is still open; just after, one probe passes."""
    b, clock = make(threshold=1, reset=10.0)
    b.record_failure()
    clock.now += 10.0
    assert not b.allow_request()
    assert b.state == "open"
    clock.now += 0.001
    assert b.state == "half_open"
    assert b.allow_request()
    assert not b.allow_request(), "only half_open_max_calls probes may be in flight"


def test_probe_success_closes() -> None:
    """A successful probe closes the breaker and clears the count."""
    b, clock = make(threshold=2, reset=5.0)
    b.record_failure()
    b.record_failure()
    clock.now += 6
    assert b.allow_request()
    b.record_success()
    assert b.state == "closed"
    assert b.consecutive_failures == 0
    assert b.allow_request() and b.allow_request()


def test_probe_failure_reopens_with_fresh_timer() -> None:
    """A failed probe re-opens the breaker and the reset timeout starts again from then."""
    b, clock = make(threshold=1, reset=5.0)
    b.record_failure()
    clock.now += 6
    assert b.allow_request()
    clock.now += 3  # the probe takes 3 s and fails
    b.record_failure()
    assert b.state == "open"
    clock.now += 4.9  # 7.9 s after the first opening, 4.9 s after the re-opening
    assert not b.allow_request()
    clock.now += 0.2
    assert b.allow_request()


def test_half_open_max_calls_limits_concurrent_probes() -> None:
    """half_open_max_calls probes pass; a released probe frees its slot."""
    b, clock = make(threshold=1, reset=1.0, half_open=2)
    b.record_failure()
    clock.now += 2
    assert b.allow_request() and b.allow_request()
    assert not b.allow_request()
    b.release()
    assert b.state == "half_open"
    assert b.allow_request()


def test_listeners_see_every_transition_in_order() -> None:
    """closed->open->half_open->open->half_open->closed, each reported once with its count."""
    b, clock = make(threshold=2, reset=1.0)
    seen: list[StateChange] = []
    b.add_listener(seen.append)
    b.record_failure()
    b.record_failure()
    clock.now += 2
    b.allow_request()
    b.record_failure()
    clock.now += 2
    b.allow_request()
    b.record_success()
    assert [(c.from_state, c.to_state) for c in seen] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert seen[0].consecutive_failures == 2
    assert seen[0].at == 1000.0


def test_failing_listener_does_not_break_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    """A listener that raises is logged; the state change still happens."""
    b, _ = make(threshold=1)

    def bad(change: StateChange) -> None:
        raise RuntimeError("listener bug")

    b.add_listener(bad)
    b.record_failure()
    assert b.state == "open"
    assert "listener" in caplog.text


def test_retry_in_counts_down() -> None:
    """retry_in is the time left until a probe may pass; None unless open."""
    b, clock = make(threshold=1, reset=10.0)
    assert b.retry_in() is None
    b.record_failure()
    clock.now += 4
    assert b.retry_in() == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 1.0), "failure_threshold"),
        ((1.5, 1.0), "failure_threshold"),
        ((1, 0), "reset_timeout"),
        ((1, -1.0), "reset_timeout"),
        ((1, 1.0, 0), "half_open_max_calls"),
    ],
)
def test_bad_settings_name_the_field(args: tuple[float, ...], field: str) -> None:
    """Invalid breaker settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=field):
        CircuitBreaker(*args)  # type: ignore[arg-type]


def test_board_keeps_one_breaker_per_target_and_forwards_transitions() -> None:
    """The board returns the same breaker for a target and tags transitions with it."""
    clock = Clock()
    board = BreakerBoard(1, 5.0, clock=clock)
    seen: list[BreakerTransition] = []
    board.add_listener(seen.append)
    a = board.get("openai", "gpt-4o")
    assert board.get("openai", "gpt-4o") is a
    assert board.get("openai", "gpt-4o-mini") is not a
    a.record_failure()
    assert seen == [BreakerTransition("openai", "gpt-4o", "closed", "open", 1, 1000.0)]
    health = {(h.provider, h.model): h for h in board.health()}
    assert health["openai", "gpt-4o"].state == "open"
    assert health["openai", "gpt-4o"].retry_in == pytest.approx(5.0)
    assert health["openai", "gpt-4o-mini"].state == "closed"


def test_concurrent_failures_open_exactly_once() -> None:
    """Many threads failing at once produce a single closed->open transition."""
    b, _ = make(threshold=5)
    seen: list[StateChange] = []
    b.add_listener(seen.append)
    barrier = threading.Barrier(16)

    def hammer() -> None:
        barrier.wait()
        for _ in range(100):
            b.record_failure()

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(c.from_state, c.to_state) for c in seen] == [("closed", "open")]
    assert b.consecutive_failures == 1600
