"""The value a router call returns."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from llmops.models import FallbackAttempt

__all__ = ["Completion", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the serving provider reported them (None where it did not say)."""

    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None


@dataclass(frozen=True, slots=True)
class Completion:
    """The answer of one router call, and how it was obtained."""

    text: str
    provider: str
    """The key in ``providers`` of the provider that served the answer."""
    model: str
    """The model that served the answer, as configured."""
    usage: Usage
    cost_usd: Decimal | None
    """USD at the serving model's price; None when the model has no price (never a guess)."""
    latency_ms: float
    """The whole call: every attempt and every wait."""
    attempts: tuple[FallbackAttempt, ...]
    """Every attempt of the call, in order, including skipped targets; the last one served."""
    fallback_used: bool
    """True when a target other than the first of the chain served."""
    finish_reason: str | None = None
    ab_result_id: UUID | None = None
    """The id of the ab_test_results row written for this call; None without an A/B test."""
