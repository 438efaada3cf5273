"""The demo's world: a simulated clock and two scripted providers with a seeded fault model.

Everything here is deterministic for a given seed. Time is simulated: ``SimClock.sleep``
advances the clock instead of waiting, so twenty minutes of traffic (retry waits, breaker
reset timeouts, alert windows) run in seconds, and log rows carry simulated timestamps.

The story, as fractions of the run:

* ``0.00-0.25`` healthy: a few 429s with Retry-After, 5xx and slow answers on the primary;
* ``0.25-0.50`` the primary (openai) is down (503s and hangs); the traffic moves to google,
  whose quota then refuses a quarter of the requests (429, Retry-After 60 s, over the cap);
* ``0.50-0.65`` recovered;
* ``0.65``      an operator pushes a config with a typo in the primary model (404s);
* ``0.70``      the backup taken at the start is restored; healthy until the end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmops.errors import BadRequest, ProviderUnavailable, RateLimited
from llmops.providers.base import CompletionRequest
from llmops.providers.fake import FakeOutcome, FakeProvider, FakeReply

__all__ = [
    "OUTAGE",
    "Phase",
    "SimClock",
    "Timeline",
    "demo_providers",
]

KNOWN_MODELS = frozenset({"gpt-4o-mini", "gemini-1.5-flash"})
OUTAGE = (0.25, 0.50)
BAD_PUSH_AT = 0.65
RESTORE_AT = 0.70


class SimClock:
    """A monotonic clock whose ``sleep`` advances it; ``wall()`` is epoch seconds."""

    def __init__(self, wall_start: float) -> None:
        self.elapsed = 0.0
        self.wall_start = wall_start

    def __call__(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def wall(self) -> float:
        return self.wall_start + self.elapsed

    def advance_to(self, elapsed: float) -> None:
        self.elapsed = max(self.elapsed, elapsed)


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where the run is: the fraction of the simulated duration that has passed."""

    clock: SimClock
    duration: float

    def fraction(self) -> float:
        return min(1.0, self.clock() / self.duration)

    def primary_down(self) -> bool:
        return OUTAGE[0] <= self.fraction() < OUTAGE[1]


def _reply(
    rng: random.Random, latency: tuple[float, float], tokens_out: tuple[int, int]
) -> FakeReply:
    return FakeReply(
        text="summary",
        input_tokens=rng.randint(300, 900),
        output_tokens=rng.randint(*tokens_out),
        latency=rng.uniform(*latency),
    )


def demo_providers(timeline: Timeline, seed: int) -> dict[str, FakeProvider]:
    """The two providers of the demo, keyed as the fallback config names them."""
    rng_openai = random.Random(f"{seed}-openai")
    rng_google = random.Random(f"{seed}-google")

    def openai(request: CompletionRequest) -> FakeOutcome:
        if request.model not in KNOWN_MODELS:
            return BadRequest(f"model {request.model!r} does not exist", status_code=404)
        roll = rng_openai.random()
        if timeline.primary_down():
            if roll < 0.2:
                return FakeReply(latency=30.0)  # hangs until the attempt times out
            return ProviderUnavailable("503 Service Unavailable", status_code=503)
        if roll < 0.015:
            return RateLimited("429 Too Many Requests", retry_after=1.0)
        if roll < 0.035:
            return ProviderUnavailable("502 Bad Gateway", status_code=502)
        if roll < 0.045:
            return FakeReply(latency=30.0)
        return _reply(rng_openai, (0.6, 1.6), (120, 260))

    def google(request: CompletionRequest) -> FakeOutcome:
        if request.model not in KNOWN_MODELS:
            return BadRequest(f"model {request.model!r} is not found", status_code=404)
        roll = rng_google.random()
        if timeline.primary_down() and roll < 0.25:
            return RateLimited("quota exceeded for the minute", retry_after=60.0)
        if roll < 0.01:
            return ProviderUnavailable("500 Internal", status_code=500)
        return _reply(rng_google, (0.4, 1.1), (110, 240))

    return {
        name: FakeProvider(handler=handler, sleep=timeline.clock.sleep, timeout=8.0, record=False)
        for name, handler in (("openai", openai), ("google", google))
    }
