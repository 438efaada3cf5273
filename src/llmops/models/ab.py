"""ab_tests and ab_test_results rows, and their JSONB documents (variants, traffic_split, metrics)."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

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
    "ABResultQuality",
    "ABTest",
    "ABTestResult",
    "ABVariant",
    "QualityScore",
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

    * ``coverage``: share of eligible units enrolled, 0..1 (default 1). Raising it never moves
      an enrolled unit (GrowthBook bucket ranges start at fixed points); units outside the
      coverage are served the environment's default config and recorded nowhere.
    * ``unitKey``: which identifier is hashed, ``session`` (``session_id``, default) or ``user``
      (``user_id``). A call without that identifier is not enrolled.
    * ``hashSeed``: the hash seed; the test's id when absent.
    * ``hashVersion``: GrowthBook hashing version, 2 (default) or 1 (legacy).
    * ``weights``: optional ``{variant id: percent}``; when present it must name exactly the
      variants and repeat their ``weight`` (the variants' weights are what assignment uses).
    """

    coverage: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    unit_key: Literal["session", "user"] = Field(default="session", alias="unitKey")
    hash_seed: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, alias="hashSeed"
    )
    hash_version: Literal[1, 2] = Field(default=2, alias="hashVersion")
    weights: dict[str, Annotated[float, Field(gt=0, le=100)]] | None = None


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
    start_date: AwareDatetime
    end_date: AwareDatetime | None = None
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
        split = self.traffic_split.weights
        if split is not None:
            if set(split) != set(ids):
                raise ValueError(
                    f"traffic_split.weights: names variants {sorted(split)}, "
                    f"but the test's variants are {sorted(ids)}"
                )
            for v in self.variants:
                if abs(split[v.id] - v.weight) > 1e-9:
                    raise ValueError(
                        f"traffic_split.weights.{v.id}: {split[v.id]:g} differs from "
                        f"variants[{v.id}].weight {v.weight:g}"
                    )
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError("end_date: must be after start_date")
        return self

    def weight_fractions(self) -> list[float]:
        """The variants' weights as fractions of 1, in variant order."""
        return [v.weight / 100.0 for v in self.variants]

    def hash_seed(self) -> str:
        """``traffic_split.hashSeed``, or the test's id."""
        if self.traffic_split.hash_seed is not None:
            return self.traffic_split.hash_seed
        if self.id is None:
            raise ValueError("id: a test without an id (not yet stored) has no default hash seed")
        return str(self.id)

    def running_at(self, now: datetime) -> bool:
        """Active, started (``start_date <= now``) and not ended (``now < end_date``)."""
        if not self.is_active or now < self.start_date:
            return False
        return self.end_date is None or now < self.end_date


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


def _round3(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)


QualityScore = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False), AfterValidator(_round3)]
"""``NUMERIC(4,3) CHECK (score BETWEEN 0 AND 1)``: a score in [0, 1], rounded to 3 places."""


class ABResultQuality(Row):
    """A row of ``ab_result_quality`` (sql/003): the host's quality score of one result.

    Keyed by the result's id without a foreign key to it, so a score may arrive before the
    background writer has flushed the result row. ``test_id``/``variant_id`` are copied from
    the result once it is stored (by ``record_quality`` or by a trigger on the result insert).
    """

    result_id: UUID
    score: QualityScore
    test_id: UUID | None = None
    variant_id: Str100 | None = None
    recorded_at: datetime | None = None
