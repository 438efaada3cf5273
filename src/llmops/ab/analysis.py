"""``analyze(store, test)``: per-variant aggregates in SQL, then the statistics of :mod:`.stats`.

One query returns one row per variant (counts, sums, sample variances, latency percentiles);
no result row is pulled into Python. Metric definitions:

* ``cost``: mean ``estimated_cost`` (USD) over results that have one (failed calls included:
  a variant that fails expensively costs more); lower is better;
* ``speed``: mean ``processing_time`` (ms) over successful results; lower is better;
  ``p50``/``p95`` latency are over the same rows;
* ``success_rate``: share of results with ``success``; higher is better;
* ``quality``: mean host-given score (``ab_result_quality``) over scored results; higher is
  better.

Every treatment variant is compared with the control (the first variant) on every tracked
metric; Holm's method adjusts the p-values of all those comparisons together, and a comparison
is significant when its adjusted p-value is below ``1 - confidenceLevel/100``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from llmops.ab.stats import (
    TestResult,
    holm_adjust,
    srm_p_value,
    two_proportion_test,
    welch_test,
)
from llmops.errors import NotFound
from llmops.models import ABMetric, ABTest
from llmops.store import PostgresStore

__all__ = [
    "SRM_THRESHOLD",
    "ABReport",
    "Comparison",
    "Progress",
    "Recommendation",
    "SRMCheck",
    "VariantAggregate",
    "VariantSummary",
    "aggregate",
    "analyze",
    "build_report",
    "report_json",
]

SRM_THRESHOLD = 0.001
"""A sample ratio mismatch is flagged when the chi-square p-value is below this."""

LOWER_IS_BETTER: dict[str, bool] = {
    "cost": True,
    "speed": True,
    "success_rate": False,
    "quality": False,
}

# One scan of the test's results, grouped finely by (variant, success, latency): exact
# per-variant counts and cost moments are combined from the groups (Chan's formula for the
# variance), and the successful calls' latency histogram comes back as two arrays per variant,
# from which Python computes the exact mean, variance and percentile_cont percentiles.
#
# Speed (benchmarks/bench_ab_analyze.py): the scan is an index-only scan of
# idx_ab_test_results_analysis (sql/007), whose key is the grouping key, so the groups stream
# out in order; estimated_cost (NUMERIC) is aggregated as numeric per group and converted to
# float8 once per group: PostgreSQL 15 converts numeric to float8 through its text form, which
# cost more per row than the exact numeric moments.
_RESULTS_SQL = """
WITH g AS MATERIALIZED (
    SELECT variant_id, success, processing_time,
           count(*) AS n,
           count(estimated_cost) AS cost_n,
           avg(estimated_cost)::float8 AS cost_mean,
           var_pop(estimated_cost)::float8 AS cost_var,
           count(total_tokens) AS tokens_n,
           sum(total_tokens) AS tokens_sum
    FROM ab_test_results
    WHERE test_id = %(test_id)s
    GROUP BY variant_id, success, processing_time
), w AS (
    SELECT g.*,
           sum(g.cost_n * g.cost_mean) OVER v / nullif(sum(g.cost_n) OVER v, 0) AS v_cost_mean
    FROM g
    WINDOW v AS (PARTITION BY g.variant_id)
)
SELECT variant_id,
       sum(n)::int8 AS n,
       coalesce(sum(n) FILTER (WHERE success), 0)::int8 AS successes,
       sum(cost_n)::int8 AS cost_n,
       min(v_cost_mean) AS cost_mean,
       sum(cost_n * (cost_var + (cost_mean - v_cost_mean) ^ 2)) FILTER (WHERE cost_n > 0)
           / nullif(sum(cost_n) - 1, 0) AS cost_var,
       sum(tokens_sum)::float8 / nullif(sum(tokens_n), 0) AS tokens_mean,
       array_agg(processing_time ORDER BY processing_time)
           FILTER (WHERE success AND processing_time IS NOT NULL) AS latency_values,
       array_agg(n ORDER BY processing_time)
           FILTER (WHERE success AND processing_time IS NOT NULL) AS latency_counts
FROM w
GROUP BY variant_id
"""

# PostgreSQL's default random_page_cost (4.0) prices the covering index's leaf pages as random
# disk reads; when one test owns most of the table the planner then prefers a seq scan with a
# hash aggregate, which takes 1.5-1.7x as long (benchmark). For the analysis transaction only,
# price them as the cached / SSD pages they are (1.1, the usual SSD value; a lower server
# setting is kept). The planner still decides: while most of the visibility map is stale it
# still picks the seq scan.
_PLANNER_SQL = """
SELECT set_config('random_page_cost',
                  least(current_setting('random_page_cost')::float8, 1.1)::text, true)
"""

# Scores already linked to the test (indexed), plus the rare scores whose link was missed
# (recorded concurrently with their result's insert), joined to their result by its key.
_QUALITY_SQL = """
SELECT variant_id,
       count(*) AS quality_n,
       avg(score)::float8 AS quality_mean,
       var_samp(score)::float8 AS quality_var
FROM (
    SELECT variant_id, score FROM ab_result_quality WHERE test_id = %(test_id)s
    UNION ALL
    SELECT r.variant_id, q.score
    FROM ab_result_quality q JOIN ab_test_results r ON r.id = q.result_id
    WHERE q.test_id IS NULL AND r.test_id = %(test_id)s
) AS scores
GROUP BY variant_id
"""


def _histogram_stats(
    values: list[int] | None, counts: list[int] | None
) -> tuple[int, float | None, float | None, float | None, float | None]:
    """``(n, mean, sample variance, p50, p95)`` of a histogram sorted by value; p50/p95 are
    PostgreSQL's ``percentile_cont`` (linear interpolation between closest ranks)."""
    if not values or not counts:
        return (0, None, None, None, None)
    n = sum(counts)
    mean = math.fsum(v * c for v, c in zip(values, counts, strict=True)) / n
    m2 = math.fsum(c * (v - mean) ** 2 for v, c in zip(values, counts, strict=True))
    var = m2 / (n - 1) if n > 1 else None
    cumulative = list(accumulate(counts))

    def at_rank(k: int) -> int:  # the k-th smallest value, 0-based
        return values[bisect_right(cumulative, k)]

    def percentile(p: float) -> float:
        pos = p * (n - 1)
        lo = math.floor(pos)
        low = at_rank(lo)
        return float(low + (pos - lo) * (at_rank(min(lo + 1, n - 1)) - low))

    return (n, mean, var, percentile(0.5), percentile(0.95))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VariantAggregate(_Frozen):
    """What the database returns for one variant (sample variances, not deviations)."""

    variant_id: str
    n: int = 0
    successes: int = 0
    cost_n: int = 0
    cost_mean: float | None = None
    cost_var: float | None = None
    speed_n: int = 0
    speed_mean: float | None = None
    speed_var: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    tokens_mean: float | None = None
    quality_n: int = 0
    quality_mean: float | None = None
    quality_var: float | None = None

    def moments(self, metric: ABMetric) -> tuple[int, float, float] | None:
        """``(n, mean, variance)`` of a mean metric (None without data)."""
        n, mean, var = {
            "cost": (self.cost_n, self.cost_mean, self.cost_var),
            "speed": (self.speed_n, self.speed_mean, self.speed_var),
            "quality": (self.quality_n, self.quality_mean, self.quality_var),
        }[metric]
        if n == 0 or mean is None:
            return None
        return (n, mean, var if var is not None else 0.0)

    def value(self, metric: ABMetric) -> float | None:
        if metric == "success_rate":
            return self.successes / self.n if self.n else None
        m = self.moments(metric)
        return m[1] if m else None


class VariantSummary(_Frozen):
    variant_id: str
    name: str
    provider: str
    model: str
    weight: float
    n: int
    success_rate: float | None
    mean_cost: float | None
    mean_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    mean_tokens: float | None
    mean_quality: float | None
    quality_n: int


class Comparison(_Frozen):
    variant_id: str
    control_id: str
    metric: ABMetric
    control_value: float | None
    variant_value: float | None
    effect: float | None
    relative_effect: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    p_value_adjusted: float | None
    significant: bool
    better: bool | None
    """True when the variant is better than the control on this metric (None: no effect)."""


class SRMCheck(_Frozen):
    p_value: float | None
    mismatch: bool
    observed: dict[str, int]
    expected_share: dict[str, float]


class Progress(_Frozen):
    sample_size: int
    """``metrics.sampleSize``: results needed in every variant."""
    min_variant_n: int
    fraction: float
    reached: bool


class Recommendation(_Frozen):
    status: Literal["winner", "no_significant_difference", "insufficient_data", "srm_mismatch"]
    metric: ABMetric
    winner: str | None
    reason: str


class ABReport(_Frozen):
    test_id: UUID
    test_name: str
    primary_metric: ABMetric
    confidence_level: float
    srm: SRMCheck
    progress: Progress
    variants: list[VariantSummary]
    comparisons: list[Comparison]
    recommendation: Recommendation


def aggregate(store: PostgresStore, test_id: UUID) -> dict[str, VariantAggregate]:
    """One :class:`VariantAggregate` per variant id found in ``ab_test_results``."""
    params = {"test_id": test_id}
    with (
        store.connection() as conn,
        conn.transaction(),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        cur.execute(_PLANNER_SQL)
        cur.execute(_RESULTS_SQL, params)
        rows = cur.fetchall()
        cur.execute(_QUALITY_SQL, params)
        quality = {q.pop("variant_id"): q for q in cur.fetchall()}
    out: dict[str, VariantAggregate] = {}
    for row in rows:
        vid = row["variant_id"]
        speed_n, speed_mean, speed_var, p50, p95 = _histogram_stats(
            row.pop("latency_values"), row.pop("latency_counts")
        )
        out[vid] = VariantAggregate(
            **row,
            speed_n=speed_n,
            speed_mean=speed_mean,
            speed_var=speed_var,
            latency_p50=p50,
            latency_p95=p95,
            **quality.pop(vid, {}),
        )
    for vid, q in quality.items():  # scored results of a variant id with no result rows
        out[vid] = VariantAggregate(variant_id=vid, **q)
    return out


def _compare(
    metric: ABMetric, control: VariantAggregate, other: VariantAggregate, confidence: float
) -> TestResult:
    if metric == "success_rate":
        return two_proportion_test(
            (control.successes, control.n), (other.successes, other.n), confidence
        )
    a, b = control.moments(metric), other.moments(metric)
    if a is None or b is None:
        return TestResult(None, None, None, None)
    return welch_test(a, b, confidence)


def build_report(test: ABTest, aggregates: dict[str, VariantAggregate]) -> ABReport:
    """The report of ``test`` from its per-variant aggregates (pure: no I/O)."""
    assert test.id is not None
    metrics = test.metrics
    confidence = metrics.confidence_level / 100.0
    alpha = 1.0 - confidence
    aggs = [aggregates.get(v.id) or VariantAggregate(variant_id=v.id) for v in test.variants]
    control = aggs[0]

    raw: list[tuple[VariantAggregate, ABMetric, TestResult]] = [
        (agg, metric, _compare(metric, control, agg, confidence))
        for agg in aggs[1:]
        for metric in metrics.track_metrics
    ]
    adjusted = holm_adjust([r.p_value for _, _, r in raw])
    comparisons = []
    for (agg, metric, r), p_adj in zip(raw, adjusted, strict=True):
        base = control.value(metric)
        effect = float(r.effect) if r.effect is not None else None
        relative = effect / base if effect is not None and base else None
        better = None
        if effect is not None and effect != 0:
            better = (effect < 0) if LOWER_IS_BETTER[metric] else (effect > 0)
        comparisons.append(
            Comparison(
                variant_id=agg.variant_id,
                control_id=control.variant_id,
                metric=metric,
                control_value=base,
                variant_value=agg.value(metric),
                effect=effect,
                relative_effect=relative,
                ci=(float(r.ci_low), float(r.ci_high))
                if r.ci_low is not None and r.ci_high is not None
                else None,
                p_value=r.p_value,
                p_value_adjusted=p_adj,
                significant=p_adj is not None and p_adj < alpha,
                better=better,
            )
        )

    weights = test.weight_fractions()
    observed = {a.variant_id: a.n for a in aggs}
    srm_p = srm_p_value(list(observed.values()), weights)
    srm = SRMCheck(
        p_value=srm_p,
        mismatch=srm_p is not None and srm_p < SRM_THRESHOLD,
        observed=observed,
        expected_share={v.id: w for v, w in zip(test.variants, weights, strict=True)},
    )
    min_n = min(a.n for a in aggs)
    progress = Progress(
        sample_size=metrics.sample_size,
        min_variant_n=min_n,
        fraction=min(1.0, min_n / metrics.sample_size),
        reached=min_n >= metrics.sample_size,
    )
    summaries = [
        VariantSummary(
            variant_id=v.id,
            name=v.name,
            provider=v.config.provider,
            model=v.config.model,
            weight=v.weight,
            n=a.n,
            success_rate=a.value("success_rate"),
            mean_cost=a.cost_mean,
            mean_latency_ms=a.speed_mean,
            p50_latency_ms=a.latency_p50,
            p95_latency_ms=a.latency_p95,
            mean_tokens=a.tokens_mean,
            mean_quality=a.quality_mean,
            quality_n=a.quality_n,
        )
        for v, a in zip(test.variants, aggs, strict=True)
    ]
    return ABReport(
        test_id=test.id,
        test_name=test.name,
        primary_metric=metrics.primary_metric,
        confidence_level=metrics.confidence_level,
        srm=srm,
        progress=progress,
        variants=summaries,
        comparisons=comparisons,
        recommendation=_recommend(
            metrics.primary_metric, control.variant_id, comparisons, srm, progress
        ),
    )


def _recommend(
    metric: ABMetric,
    control_id: str,
    comparisons: list[Comparison],
    srm: SRMCheck,
    progress: Progress,
) -> Recommendation:
    primary = [c for c in comparisons if c.metric == metric]
    if srm.mismatch:
        return Recommendation(
            status="srm_mismatch",
            metric=metric,
            winner=None,
            reason=f"sample ratio mismatch (p={srm.p_value:.2g}): the arms do not match the "
            "configured weights, so the comparison is not trustworthy; check the assignment",
        )
    if not progress.reached:
        return Recommendation(
            status="insufficient_data",
            metric=metric,
            winner=None,
            reason=f"{progress.min_variant_n} of {progress.sample_size} results in the "
            "smallest variant: keep the test running",
        )
    winners = [c for c in primary if c.significant and c.better]
    if winners:
        best = max(winners, key=lambda c: abs(c.effect or 0.0))
        rel = f" ({best.relative_effect:+.1%})" if best.relative_effect is not None else ""
        return Recommendation(
            status="winner",
            metric=metric,
            winner=best.variant_id,
            reason=f"{best.variant_id} beats {control_id} on {metric}{rel}, "
            f"adjusted p={best.p_value_adjusted:.2g}",
        )
    if primary and all(c.significant and c.better is False for c in primary):
        return Recommendation(
            status="winner",
            metric=metric,
            winner=control_id,
            reason=f"the control {control_id} beats every variant on {metric}",
        )
    return Recommendation(
        status="no_significant_difference",
        metric=metric,
        winner=None,
        reason=f"no variant differs significantly from {control_id} on {metric} "
        "after Holm adjustment",
    )


def analyze(store: PostgresStore, test_id: UUID | str) -> ABReport:
    """Analyse the stored results of the test with this id (:class:`NotFound` if none)."""
    test = store.ab_tests.find(test_id)
    if test is None:
        raise NotFound(f"ab_test: no A/B test with id {test_id}")
    assert test.id is not None
    return build_report(test, aggregate(store, test.id))


def report_json(report: ABReport) -> dict[str, Any]:
    """The ``llmops ab report --json`` document."""
    return report.model_dump(mode="json")
