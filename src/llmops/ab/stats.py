"""Pure statistics for A/B analysis: tests from summary statistics, no I/O, no data rows.

Every function takes aggregates (counts, means, sample variances) so that the database does
the aggregation and only a handful of numbers reach Python. Distributions come from scipy
(the ``stats`` extra).

* means (cost, speed, quality): Welch's unequal-variance t-test and its CI;
* success rate: the pooled two-proportion z-test for the p-value (the score test: under the
  null hypothesis both arms share one rate, so its standard error is the one to use; it equals
  Pearson's chi-square test of the 2x2 table without continuity correction), and Newcombe's
  hybrid score interval (from two Wilson intervals) for the CI of the difference, which keeps
  its coverage for rates near 0 or 1, where LLM success rates live and the Wald interval fails;
* Holm's step-down adjustment across all comparisons of a report;
* the sample-ratio-mismatch chi-square goodness-of-fit test against the configured weights.

Effects are ``treatment - control``. A test that cannot be computed (fewer than two values,
zero variance in both arms) gives ``None`` rather than a number that would mislead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmops.errors import ConfigError

__all__ = [
    "TestResult",
    "holm_adjust",
    "srm_p_value",
    "two_proportion_test",
    "welch_test",
    "wilson_interval",
]


def _scipy_stats() -> Any:
    try:
        from scipy import stats  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ImportError("A/B analysis needs scipy: pip install 'llmops[stats]'") from None
    return stats


@dataclass(frozen=True, slots=True)
class TestResult:
    """One comparison: ``effect`` (treatment - control), its CI, and the two-sided p-value."""

    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None

    __test__ = False  # not a pytest test class


_EMPTY = TestResult(None, None, None, None)


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence: must be strictly between 0 and 1, got {confidence}")
    return confidence


def welch_test(
    control: tuple[int, float, float],
    treatment: tuple[int, float, float],
    confidence: float = 0.95,
) -> TestResult:
    """Welch's t-test of ``treatment`` vs ``control``, each ``(n, mean, sample variance)``."""
    _check_confidence(confidence)
    n_a, mean_a, var_a = control
    n_b, mean_b, var_b = treatment
    if n_a < 2 or n_b < 2:
        effect = mean_b - mean_a if n_a and n_b else None
        return TestResult(effect, None, None, None)
    se_a, se_b = var_a / n_a, var_b / n_b
    se2 = se_a + se_b
    effect = mean_b - mean_a
    if se2 <= 0.0:
        return TestResult(effect, None, None, None)
    se = math.sqrt(se2)
    df = se2 * se2 / (se_a * se_a / (n_a - 1) + se_b * se_b / (n_b - 1))
    stats = _scipy_stats()
    t = effect / se
    p = float(2.0 * stats.t.sf(abs(t), df))
    q = float(stats.t.ppf(0.5 + confidence / 2.0, df))
    return TestResult(effect, effect - q * se, effect + q * se, min(1.0, p))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (``(0, 1)`` when ``n`` is 0)."""
    _check_confidence(confidence)
    if n <= 0:
        return (0.0, 1.0)
    z = float(_scipy_stats().norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(
    control: tuple[int, int], treatment: tuple[int, int], confidence: float = 0.95
) -> TestResult:
    """Success rates ``(successes, n)``: pooled z-test p-value, Newcombe hybrid score CI."""
    _check_confidence(confidence)
    x_a, n_a = control
    x_b, n_b = treatment
    if n_a <= 0 or n_b <= 0:
        return _EMPTY
    p_a, p_b = x_a / n_a, x_b / n_b
    effect = p_b - p_a
    l_a, u_a = wilson_interval(x_a, n_a, confidence)
    l_b, u_b = wilson_interval(x_b, n_b, confidence)
    low = effect - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = effect + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    pooled = (x_a + x_b) / (n_a + n_b)
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if var <= 0.0:  # every call in both arms succeeded (or failed): no difference to test
        return TestResult(effect, low, high, 1.0)
    z = effect / math.sqrt(var)
    p = float(2.0 * _scipy_stats().norm.sf(abs(z)))
    return TestResult(effect, low, high, min(1.0, p))


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input order (None stays None, uncounted)."""
    indexed = sorted(
        ((p, i) for i, p in enumerate(p_values) if p is not None), key=lambda pair: pair[0]
    )
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """Chi-square goodness-of-fit p-value of the observed arm sizes against ``weights``."""
    if len(observed) != len(weights):
        raise ConfigError(f"weights: {len(weights)} weights for {len(observed)} observed counts")
    total = sum(observed)
    wsum = math.fsum(weights)
    if total <= 0 or len(observed) < 2 or wsum <= 0:
        return None
    expected = [total * w / wsum for w in weights]
    chi2 = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return float(_scipy_stats().chi2.sf(chi2, len(observed) - 1))
