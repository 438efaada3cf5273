"""llm_fallback_configs and llm_fallback_logs rows, and their JSONB documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, model_validator

from llmops.models.common import (
    INT4_MAX,
    Document,
    Environment,
    Int4,
    Name50,
    Name100,
    Row,
    Str20,
    Str50,
    Str100,
)

__all__ = [
    "AttemptOutcome",
    "FallbackAttempt",
    "FallbackConfig",
    "FallbackLog",
    "FallbackTarget",
    "TargetConfig",
]


class TargetConfig(Document):
    """Per-target generation parameters (``fallback_providers[].config`` in the seed).

    Merged over the call's own parameters when the router uses that target.
    """

    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    max_tokens: Annotated[int, Field(gt=0, le=INT4_MAX)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    timeout: Annotated[float, Field(gt=0.0, le=3600.0)] | None = None
    """Seconds per attempt against this target; the provider's own timeout when None."""

    def params(self) -> dict[str, float | int]:
        """The parameters that are set, as keyword arguments for a provider."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k != "timeout"}


class FallbackTarget(Document):
    """One element of ``fallback_providers``: a provider/model to try, lowest priority first."""

    provider: Name50
    model: Name100
    priority: Annotated[int, Field(ge=0, le=INT4_MAX)] = 1
    config: TargetConfig = Field(default_factory=TargetConfig)


class FallbackConfig(Row):
    """A row of ``llm_fallback_configs``; also the router's configuration.

    Defaults and bounds are the seed's: ``max_retries`` 1..10 (attempts per target),
    ``retry_delay`` ms >= 0, ``circuit_breaker_threshold`` >= 1,
    ``circuit_breaker_reset_time`` ms >= 1000.
    """

    id: UUID | None = None
    environment: Environment
    primary_provider: Name50
    primary_model: Name100
    fallback_providers: list[FallbackTarget] = Field(default_factory=list)
    max_retries: Annotated[int, Field(ge=1, le=10)] = 3
    retry_delay: Annotated[int, Field(ge=0, le=INT4_MAX)] = 1000
    circuit_breaker_threshold: Annotated[int, Field(ge=1, le=INT4_MAX)] = 5
    circuit_breaker_reset_time: Annotated[int, Field(ge=1000, le=INT4_MAX)] = 60000
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="after")
    def _chain_is_routable(self) -> FallbackConfig:
        seen: dict[int, int] = {}
        for i, target in enumerate(self.fallback_providers):
            if target.priority in seen:
                raise ValueError(
                    f"fallback_providers.{i}.priority: {target.priority} is already used by "
                    f"fallback_providers.{seen[target.priority]}; priorities must be unique"
                )
            seen[target.priority] = i
            if (target.provider, target.model) == (self.primary_provider, self.primary_model):
                raise ValueError(
                    f"fallback_providers.{i}: {target.provider}/{target.model} is the primary "
                    "target; a fallback must differ from the primary"
                )
        return self

    def targets(self) -> list[FallbackTarget]:
        """The chain in the order the router tries it: primary, then fallbacks by priority."""
        primary = FallbackTarget(
            provider=self.primary_provider, model=self.primary_model, priority=0
        )
        return [primary, *sorted(self.fallback_providers, key=lambda t: t.priority)]


AttemptOutcome = Literal["success", "error", "skipped"]


class FallbackAttempt(Document):
    """One element of ``attempted_providers``: what happened on one attempt of one call.

    ``outcome`` is ``skipped`` when the target was not called (its breaker was open, or the
    deadline left no time); ``error_kind`` is the :class:`~llmops.errors.ProviderError` kind.
    """

    provider: str
    model: str
    attempt: Annotated[int, Field(ge=1)] = 1
    outcome: AttemptOutcome
    error_kind: str | None = Field(default=None, alias="errorKind")
    status_code: int | None = Field(default=None, alias="statusCode")
    latency_ms: float | None = Field(default=None, alias="latencyMs")
    retry_after: float | None = Field(default=None, alias="retryAfter")
    message: str | None = None


class FallbackLog(Row):
    """A row of ``llm_fallback_logs``: one per router call."""

    id: UUID | None = None
    primary_provider: Str50
    primary_model: Str100
    used_provider: Str50 | None = None
    used_model: Str100 | None = None
    attempted_providers: list[FallbackAttempt] = Field(default_factory=list)
    success: bool
    error_message: str | None = None
    environment: Str20
    processing_time_ms: Int4 | None = None
    created_at: datetime | None = None
