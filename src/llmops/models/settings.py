"""Rows of the tables llmops adds beside the seed's: llm_settings, llm_usage_logs and
llm_circuit_breaker_events (``sql/002_llmops_core.sql``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from llmops.models.common import (
    Environment,
    Int4,
    Name50,
    Name100,
    NonNegInt4,
    Numeric12_6,
    Row,
    Str50,
    Str100,
)
from llmops.models.fallback import TargetConfig

__all__ = ["BreakerEvent", "BreakerState", "LLMSettings", "SecretRef", "UsageLog"]

SecretRef = Annotated[str, Field(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
"""A reference to a secret, never the secret: ``env:NAME`` reads environment variable NAME."""

BreakerState = Literal["closed", "open", "half_open"]


class LLMSettings(Row):
    """A row of ``llm_settings``: how one environment talks to one provider/model.

    The API key is never stored, only a reference such as ``env:OPENAI_API_KEY``.
    """

    id: UUID | None = None
    environment: Environment
    provider: Name50
    model: Name100
    parameters: TargetConfig = Field(default_factory=TargetConfig)
    api_key_ref: SecretRef | None = None
    base_url: Annotated[str, Field(max_length=500)] | None = None
    timeout_ms: Annotated[int, Field(ge=100, le=3_600_000)] = 30000
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


class UsageLog(Row):
    """A row of ``llm_usage_logs``: one per router call, the basis of alerts and usage stats."""

    id: UUID | None = None
    environment: Environment
    provider: Str50
    model: Str100
    input_tokens: NonNegInt4 | None = None
    output_tokens: NonNegInt4 | None = None
    total_tokens: NonNegInt4 | None = None
    estimated_cost: Numeric12_6 | None = None
    processing_time_ms: NonNegInt4 | None = None
    success: bool
    error_kind: Str50 | None = None
    status_code: Int4 | None = None
    fallback_used: bool = False
    session_id: Str100 | None = None
    fallback_log_id: UUID | None = None
    created_at: datetime | None = None


class BreakerEvent(Row):
    """A row of ``llm_circuit_breaker_events``: one state change of one router's breaker."""

    id: UUID | None = None
    environment: Environment
    provider: Str50
    model: Str100
    from_state: BreakerState
    to_state: BreakerState
    consecutive_failures: NonNegInt4 = 0
    created_at: datetime | None = None
