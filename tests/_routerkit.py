"""Shared helpers of the router tests: a fake clock whose sleep advances it, a config builder."""

from __future__ import annotations

from typing import Any

from llmops.models import FallbackConfig, FallbackTarget, TargetConfig

MESSAGES = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]


class FakeClock:
    """monotonic() replacement; sleep() advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def config(
    *fallbacks: tuple[str, str] | tuple[str, str, dict[str, Any]], **overrides: Any
) -> FallbackConfig:
    """Primary 'primary'/gpt-4o-mini; fallbacks in priority order."""
    targets = []
    for i, fb in enumerate(fallbacks, 1):
        cfg = TargetConfig(**fb[2]) if len(fb) == 3 else TargetConfig()
        targets.append(FallbackTarget(provider=fb[0], model=fb[1], priority=i, config=cfg))
    values: dict[str, Any] = {
        "environment": "local",
        "primary_provider": "primary",
        "primary_model": "gpt-4o-mini",
        "fallback_providers": targets,
        "max_retries": 3,
        "retry_delay": 100,
        "circuit_breaker_threshold": 3,
        "circuit_breaker_reset_time": 10_000,
    }
    values.update(overrides)
    return FallbackConfig(**values)
