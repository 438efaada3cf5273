"""A/B analysis (llmops.ab.analysis): SQL aggregates + statistics, on real PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import scipy.stats as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from llmops.ab import ABTestManager, analyze
from llmops.ab.analysis import _PLANNER_SQL, _RESULTS_SQL, VariantAggregate, build_report
from llmops.errors import NotFound
from llmops.models import ABTest
from llmops.store import PostgresStore

START = datetime(2026, 1, 1, tzinfo=UTC)
ALL_METRICS = ["cost", "speed", "success_rate", "quality"]


def _definition(
    name: str = "summaries",
    *,
    weights: tuple[float, ...] = (50, 50),
    primary: str = "cost",
    sample_size: int = 1000,
    confidence: float = 95,
) -> dict[str, Any]:
    return {
        "name": name,
        "environment": "production",
        "variants": [
            {
                "id": f"v{i}",
                "name": f"variant {i}",
                "config": {"provider": "fake", "model": f"model-{i}"},
                "weight": w,
            }
            for i, w in enumerate(weights)
        ],
        "start_date": START.isoformat(),
        "metrics": {
            "primaryMetric": primary,
            "trackMetrics": ALL_METRICS,
            "sampleSize": sample_size,
            "confidenceLevel": confidence,
        },
    }


@dataclass
class Arm:
    cost: np.ndarray
    latency: np.ndarray
    success: np.ndarray
    quality: np.ndarray  # NaN = not scored


def _arm(rng: np.random.Generator, n: int, *, cost_mean: float = 0.002) -> Arm:
    cost = np.round(rng.gamma(4.0, cost_mean / 4.0, n), 6)
    latency = np.round(rng.lognormal(6.5, 0.4, n)).astype(np.int64)
    success = rng.random(n) < 0.97
    quality = np.where(rng.random(n) < 0.4, np.round(rng.beta(8, 2, n), 3), np.nan)
    return Arm(cost, latency, success, quality)


def _insert(store: PostgresStore, test_id: uuid.UUID, variant: str, arm: Arm) -> None:
    """COPY the arm's rows into ab_test_results and its scores into ab_result_quality."""
    ids = [uuid.uuid4() for _ in range(len(arm.cost))]
    content = hashlib.sha256(b"x").hexdigest()
    with store.transaction() as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY ab_test_results (id, test_id, variant_id, content_hash, total_tokens, "
            "estimated_cost, processing_time, provider, model, success) FROM STDIN"
        ) as copy:
            for i, rid in enumerate(ids):
                copy.write_row(
                    (
                        rid,
                        test_id,
                        variant,
                        content,
                        500,
                        f"{arm.cost[i]:.6f}",
                        int(arm.latency[i]),
                        "fake",
                        "m",
                        bool(arm.success[i]),
                    )
                )
        with cur.copy("COPY ab_result_quality (result_id, score) FROM STDIN") as copy:
            for i, rid in enumerate(ids):
                if not np.isnan(arm.quality[i]):
                    copy.write_row((rid, f"{arm.quality[i]:.3f}"))


def _create(store: PostgresStore, **kw: Any) -> ABTest:
    return ABTestManager(store).create(_definition(**kw))


def test_analysis_matches_scipy_on_the_same_data(store: PostgresStore) -> None:
    """Per-variant figures, p-values and CIs from SQL aggregates equal scipy/statsmodels
    computed on the raw generated arrays, to 1e-6."""
    rng = np.random.default_rng(11)
    test = _create(store, confidence=90)
    assert test.id is not None
    a, b = _arm(rng, 3000), _arm(rng, 3100, cost_mean=0.0021)
    _insert(store, test.id, "v0", a)
    _insert(store, test.id, "v1", b)

    report = analyze(store, test.id)
    by_metric = {c.metric: c for c in report.comparisons}

    def check_mean(metric: str, xa: np.ndarray, xb: np.ndarray) -> None:
        ref = st.ttest_ind(xb, xa, equal_var=False)
        ci = ref.confidence_interval(0.90)
        c = by_metric[metric]
        assert c.p_value == pytest.approx(ref.pvalue, abs=1e-6), metric
        assert c.ci is not None
        assert c.ci[0] == pytest.approx(ci.low, abs=1e-6), metric
        assert c.ci[1] == pytest.approx(ci.high, abs=1e-6), metric
        assert c.effect == pytest.approx(xb.mean() - xa.mean(), abs=1e-9), metric
        assert c.relative_effect == pytest.approx((xb.mean() - xa.mean()) / xa.mean(), abs=1e-6)

    check_mean("cost", a.cost, b.cost)
    check_mean("speed", a.latency[a.success].astype(float), b.latency[b.success].astype(float))
    check_mean("quality", a.quality[~np.isnan(a.quality)], b.quality[~np.isnan(b.quality)])

    xa, xb = int(a.success.sum()), int(b.success.sum())
    c = by_metric["success_rate"]
    _, p_ref = proportions_ztest([xb, xa], [len(b.success), len(a.success)])
    low, high = confint_proportions_2indep(
        xb, len(b.success), xa, len(a.success), method="newcomb", alpha=0.10
    )
    assert c.p_value == pytest.approx(p_ref, abs=1e-6)
    assert c.ci == pytest.approx((low, high), abs=1e-6)

    v0 = report.variants[0]
    assert v0.n == 3000
    assert v0.success_rate == pytest.approx(a.success.mean(), abs=1e-12)
    assert v0.mean_cost == pytest.approx(a.cost.mean(), abs=1e-9)
    ok_latency = a.latency[a.success]
    assert v0.mean_latency_ms == pytest.approx(ok_latency.mean(), abs=1e-6)
    assert v0.p50_latency_ms == pytest.approx(np.percentile(ok_latency, 50), abs=1e-6)
    assert v0.p95_latency_ms == pytest.approx(np.percentile(ok_latency, 95), abs=1e-6)
    assert v0.mean_quality == pytest.approx(np.nanmean(a.quality), abs=1e-9)
    assert v0.mean_tokens == 500

    ps = [c.p_value for c in report.comparisons]
    from statsmodels.stats.multitest import multipletests

    assert [c.p_value_adjusted for c in report.comparisons] == pytest.approx(
        list(multipletests(ps, method="holm")[1]), abs=1e-12
    )
    ref_srm = st.chisquare([3000, 3100], [3050, 3050]).pvalue
    assert report.srm.p_value == pytest.approx(ref_srm, abs=1e-9)
    assert report.srm.mismatch is False


def test_twenty_percent_cheaper_variant_wins_on_cost(store: PostgresStore) -> None:
    """A variant truly 20% cheaper, 5,000 results per arm: significant winner on cost."""
    rng = np.random.default_rng(2026)
    test = _create(store, sample_size=5000)
    assert test.id is not None
    _insert(store, test.id, "v0", _arm(rng, 5000, cost_mean=0.0020))
    _insert(store, test.id, "v1", _arm(rng, 5000, cost_mean=0.0016))
    report = analyze(store, test.id)
    cost = next(c for c in report.comparisons if c.metric == "cost")
    assert cost.significant and cost.better
    assert cost.relative_effect == pytest.approx(-0.2, abs=0.03)
    assert report.recommendation.status == "winner"
    assert report.recommendation.winner == "v1"
    assert report.progress.reached


def test_identical_variants_rarely_flagged_over_200_seeds() -> None:
    """Identical arms (5,000 each, 4 metrics, Holm): a winner is named in at most ~5% of 200
    seeds. Aggregates are computed with numpy and fed to the same report builder."""
    test = ABTest.model_validate({**_definition(sample_size=5000), "id": uuid.uuid4()})
    winners = any_significant = 0
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        aggs = {}
        for vid in ("v0", "v1"):
            arm = _arm(rng, 5000)
            ok = arm.latency[arm.success].astype(float)
            q = arm.quality[~np.isnan(arm.quality)]
            aggs[vid] = VariantAggregate(
                variant_id=vid,
                n=5000,
                successes=int(arm.success.sum()),
                cost_n=5000,
                cost_mean=float(arm.cost.mean()),
                cost_var=float(arm.cost.var(ddof=1)),
                speed_n=len(ok),
                speed_mean=float(ok.mean()),
                speed_var=float(ok.var(ddof=1)),
                quality_n=len(q),
                quality_mean=float(q.mean()),
                quality_var=float(q.var(ddof=1)),
            )
        report = build_report(test, aggs)
        winners += report.recommendation.status == "winner"
        any_significant += any(c.significant for c in report.comparisons)
    print(
        f"identical arms, 200 seeds: winner named {winners}/200, "
        f"any metric significant {any_significant}/200"
    )
    assert winners <= 20  # 5% expected; 20/200 is far in the binomial tail
    assert any_significant <= 20


def test_srm_flagged_and_blocks_recommendation(store: PostgresStore) -> None:
    """Arms of 5,000 vs 4,500 under a 50/50 split: SRM flagged, no winner named."""
    rng = np.random.default_rng(3)
    test = _create(store, sample_size=100)
    assert test.id is not None
    _insert(store, test.id, "v0", _arm(rng, 5000, cost_mean=0.002))
    _insert(store, test.id, "v1", _arm(rng, 4500, cost_mean=0.001))
    report = analyze(store, test.id)
    assert report.srm.mismatch is True
    assert report.srm.p_value is not None and report.srm.p_value < 0.001
    assert report.recommendation.status == "srm_mismatch"
    assert report.recommendation.winner is None


def test_sample_size_not_reached_names_no_winner(store: PostgresStore) -> None:
    """A clear difference before sampleSize is reached: insufficient_data, no winner."""
    rng = np.random.default_rng(4)
    test = _create(store, sample_size=10_000)
    assert test.id is not None
    _insert(store, test.id, "v0", _arm(rng, 2000, cost_mean=0.002))
    _insert(store, test.id, "v1", _arm(rng, 2000, cost_mean=0.001))
    report = analyze(store, test.id)
    assert report.progress.fraction == pytest.approx(0.2)
    assert report.recommendation.status == "insufficient_data"
    assert report.recommendation.winner is None
    assert next(c for c in report.comparisons if c.metric == "cost").significant


def test_empty_test_reports_without_numbers(store: PostgresStore) -> None:
    """A test with no results: n=0 everywhere, p-values None, nothing significant."""
    test = _create(store)
    assert test.id is not None
    report = analyze(store, test.id)
    assert [v.n for v in report.variants] == [0, 0]
    assert all(c.p_value is None and not c.significant for c in report.comparisons)
    assert report.srm.p_value is None and report.srm.mismatch is False
    assert report.recommendation.status == "insufficient_data"


def test_report_json_shape(store: PostgresStore) -> None:
    """The JSON document has the keys the issue specifies."""
    rng = np.random.default_rng(5)
    test = _create(store, weights=(50, 30, 20))
    assert test.id is not None
    for vid, n in (("v0", 500), ("v1", 300), ("v2", 200)):
        _insert(store, test.id, vid, _arm(rng, n))
    doc = analyze(store, test.id).model_dump(mode="json")
    assert {
        "test_id",
        "primary_metric",
        "confidence_level",
        "srm",
        "variants",
        "comparisons",
        "recommendation",
    } <= set(doc)
    assert {"p_value", "mismatch"} <= set(doc["srm"])
    assert {
        "variant_id",
        "n",
        "success_rate",
        "mean_cost",
        "mean_latency_ms",
        "mean_quality",
    } <= set(doc["variants"][0])
    comp = doc["comparisons"][0]
    assert {
        "variant_id",
        "metric",
        "effect",
        "relative_effect",
        "ci",
        "p_value",
        "p_value_adjusted",
        "significant",
    } <= set(comp)
    assert len(doc["comparisons"]) == 2 * 4
    assert len(comp["ci"]) == 2


def test_analyze_unknown_test_is_not_found(store: PostgresStore) -> None:
    """analyze() of an id that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        analyze(store, uuid.uuid4())


def test_results_of_other_tests_are_ignored(store: PostgresStore) -> None:
    """Only the analysed test's rows are aggregated."""
    rng = np.random.default_rng(6)
    t1, t2 = _create(store, name="one"), _create(store, name="two")
    assert t1.id is not None and t2.id is not None
    _insert(store, t1.id, "v0", _arm(rng, 100))
    _insert(store, t2.id, "v0", _arm(rng, 70))
    assert analyze(store, t1.id).variants[0].n == 100


def test_results_statement_reads_only_the_covering_index(store: PostgresStore) -> None:
    """With two tests stored and the table vacuumed, the results statement is an index-only scan
    of idx_ab_test_results_analysis (sql/007), the plan the benchmark's speed depends on."""
    rng = np.random.default_rng(8)
    t1, t2 = _create(store, name="one"), _create(store, name="two")
    assert t1.id is not None and t2.id is not None
    for test in (t1, t2):
        assert test.id is not None
        _insert(store, test.id, "v0", _arm(rng, 3000))
        _insert(store, test.id, "v1", _arm(rng, 3000))
    with store.direct_connection() as conn:
        conn.execute("VACUUM (ANALYZE) ab_test_results")
    with store.connection() as conn, conn.transaction():
        conn.execute(_PLANNER_SQL)
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(
                "EXPLAIN (ANALYZE, COSTS OFF) " + _RESULTS_SQL, {"test_id": t1.id}
            ).fetchall()
        )
    assert "Index Only Scan using idx_ab_test_results_analysis" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    assert analyze(store, t1.id).variants[1].n == 3000
