"""Pure A/B statistics (llmops.ab.stats) against scipy/statsmodels on the raw arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from llmops.ab.stats import (
    holm_adjust,
    srm_p_value,
    two_proportion_test,
    welch_test,
    wilson_interval,
)
from llmops.errors import ConfigError


def _moments(x: np.ndarray) -> tuple[int, float, float]:
    return (len(x), float(np.mean(x)), float(np.var(x, ddof=1)))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_welch_equals_scipy_ttest_ind(seed: int, confidence: float) -> None:
    """Welch p-value and CI equal scipy.stats.ttest_ind(equal_var=False) on the raw data."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.6, 800 + seed * 37)
    b = rng.lognormal(0.05, 0.9, 1200 - seed * 51)
    got = welch_test(_moments(a), _moments(b), confidence)
    ref = st.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(confidence)
    assert got.p_value == pytest.approx(ref.pvalue, abs=1e-6)
    assert got.ci_low == pytest.approx(ci.low, abs=1e-6)
    assert got.ci_high == pytest.approx(ci.high, abs=1e-6)
    assert got.effect == pytest.approx(b.mean() - a.mean(), abs=1e-12)


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb"),
    [(950, 1000, 930, 1000), (4990, 5000, 4975, 5000), (10, 40, 25, 60), (0, 100, 3, 100)],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_two_proportion_equals_statsmodels(
    xa: int, na: int, xb: int, nb: int, confidence: float
) -> None:
    """Pooled z-test p-value = statsmodels proportions_ztest = chi2 without correction;
    the CI equals statsmodels' Newcombe interval."""
    got = two_proportion_test((xa, na), (xb, nb), confidence)
    _, p_ref = proportions_ztest([xb, xa], [nb, na])
    table = np.array([[xa, na - xa], [xb, nb - xb]])
    chi_p = st.chi2_contingency(table, correction=False).pvalue
    low, high = confint_proportions_2indep(
        xb, nb, xa, na, method="newcomb", compare="diff", alpha=1 - confidence
    )
    assert got.p_value == pytest.approx(p_ref, abs=1e-6)
    assert got.p_value == pytest.approx(chi_p, abs=1e-6)
    assert got.ci_low == pytest.approx(low, abs=1e-6)
    assert got.ci_high == pytest.approx(high, abs=1e-6)


def test_wilson_interval_equals_statsmodels() -> None:
    """wilson_interval equals statsmodels proportion_confint(method='wilson')."""
    from statsmodels.stats.proportion import proportion_confint

    for x, n in [(0, 10), (7, 10), (999, 1000), (500, 1000)]:
        low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
        got = wilson_interval(x, n, 0.95)
        assert got == pytest.approx((low, high), abs=1e-9)


def test_holm_equals_statsmodels_and_keeps_order() -> None:
    """Holm adjustment equals statsmodels multipletests(method='holm'); None is skipped."""
    rng = np.random.default_rng(7)
    ps = list(rng.uniform(0, 0.2, 12))
    ref = multipletests(ps, method="holm")[1]
    assert holm_adjust(ps) == pytest.approx(list(ref), abs=1e-12)
    assert holm_adjust([0.01, None, 0.04]) == [0.02, None, 0.04]


def test_srm_equals_scipy_chisquare() -> None:
    """The sample-ratio-mismatch p-value equals scipy.stats.chisquare against the weights."""
    observed = [5120, 2950, 1930]
    weights = [0.5, 0.3, 0.2]
    ref = st.chisquare(observed, [sum(observed) * w for w in weights]).pvalue
    assert srm_p_value(observed, weights) == pytest.approx(ref, abs=1e-9)
    assert srm_p_value([0, 0], [0.5, 0.5]) is None


def test_degenerate_inputs_give_none_not_numbers() -> None:
    """Too little data or zero variance yields None p-values/CIs, never NaN or a fake 0."""
    assert welch_test((1, 2.0, 0.0), (5, 3.0, 1.0)).p_value is None
    zero = welch_test((10, 1.0, 0.0), (10, 1.0, 0.0))
    assert zero.p_value is None and zero.effect == 0.0
    assert two_proportion_test((0, 0), (1, 2)).p_value is None
    all_ok = two_proportion_test((100, 100), (50, 50))
    assert all_ok.p_value == 1.0 and all_ok.effect == 0.0


def test_confidence_out_of_range_is_refused() -> None:
    """A confidence outside (0, 1) is a ConfigError naming the argument."""
    with pytest.raises(ConfigError, match="confidence"):
        welch_test((10, 1.0, 1.0), (10, 1.0, 1.0), 95)
