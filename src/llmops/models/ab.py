"""ab_tests and ab_test_results rows, and their JSONB documents (variants, traffic_split, metrics)."""

from __future__ import annotations

import math
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
    Name200,
    Numeric10_6,
    Row,
    Str50,
    Str64,
    Str100,
)

__all__ = [
    "ABMetric",
    "ABMetrics",
    "ABTest",
    "ABTestResult",
    "ABVariant",
    "TrafficSplit",
    "VariantConfig",
]

ABMetric = Literal["cost", "speed", "success_rate", "quality"]


class VariantConfig(Document):
    """``variants[].config``: the provider, model and parameters a variant is served with."""

    provider: Name50
    model: Name100
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    max_tokens: Annotated[int, Field(gt=0, le=INT4_MAX)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None


class ABVariant(Document):
    """One element of ``variants``; ``weight`` is a percentage, all weights add up to 100."""

    id: Name100
    name: Name200
    config: VariantConfig
    weight: Annotated[float, Field(gt=0, le=100)]


class TrafficSplit(Document):
    """``traffic_split`` (the seed leaves its shape open; this is llmops's definition).

    * ``coverage``: share of eligible units enrolled, 0..1. Raising it never moves an
      enrolled unit (GrowthBook bucket ranges start at fixed points).
    * ``unitKey``: which identifier is hashed, ``session`` (``session_id``) or ``user``.
    * ``hashSeed``: the hash seed; the test's id when absent.
    * ``hashVersion``: GrowthBook hashing version, 2 (default) or 1 (legacy).
    """

    coverage: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    unit_key: Literal["session", "user"] = Field(default="session", alias="unitKey")
    hash_seed: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, alias="hashSeed"
    )
    hash_version: Literal[1, 2] = Field(default=2, alias="hashVersion")


class ABMetrics(Document):
    """``metrics``: what the test measures and when it may conclude."""

    primary_metric: ABMetric = Field(alias="primaryMetric")
    track_metrics: list[ABMetric] = Field(alias="trackMetrics", min_length=1)
    sample_size: Annotated[int, Field(ge=1, le=INT4_MAX)] = Field(alias="sampleSize")
    confidence_level: Annotated[float, Field(gt=50, lt=100)] = Field(alias="confidenceLevel")

    @model_validator(mode="after")
    def _primary_is_tracked(self) -> ABMetrics:
        if self.primary_metric not in self.track_metrics:
            raise ValueError(
                f"metrics.primaryMetric: {self.primary_metric!r} must be one of "
                f"metrics.trackMetrics {self.track_metrics}"
            )
        if len(set(self.track_metrics)) != len(self.track_metrics):
            raise ValueError("metrics.trackMetrics: each metric may appear only once")
        return self


class ABTest(Row):
    """A row of ``ab_tests``."""

    id: UUID | None = None
    name: Name200
    description: str | None = None
    environment: Environment
    variants: list[ABVariant] = Field(min_length=2)
    traffic_split: TrafficSplit = Field(default_factory=TrafficSplit)
    start_date: datetime
    end_date: datetime | None = None
    is_active: bool = True
    metrics: ABMetrics
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="after")
    def _variants_are_consistent(self) -> ABTest:
        ids = [v.id for v in self.variants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"variants: duplicate variant id(s) {dupes}; ids must be unique")
        total = math.fsum(v.weight for v in self.variants)
        if abs(total - 100.0) > 1e-6:
            raise ValueError(f"variants: weights add up to {total:g}, they must add up to 100")
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError("end_date: must be after start_date")
        return self


class ABTestResult(Row):
    """A row of ``ab_test_results``. Prompts and outputs are never stored: hashes and lengths."""

    id: UUID | None = None
    test_id: UUID
    variant_id: Str100
    content_hash: Str64
    title_hash: Str64 | None = None
    summary_length: Int4 | None = None
    input_tokens: Int4 | None = None
    output_tokens: Int4 | None = None
    total_tokens: Int4 | None = None
    estimated_cost: Numeric10_6 | None = None
    processing_time: Int4 | None = None
    provider: Str50 | None = None
    model: Str100 | None = None
    user_segment: Str100 | None = None
    session_id: Str100 | None = None
    success: bool
    error_message: str | None = None
    created_at: datetime | None = None
