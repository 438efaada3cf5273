"""A/B tests of model configurations: sticky GrowthBook-compatible assignment, management,
quality scores and statistical analysis.

* :mod:`llmops.ab.hashing`: ``hash_unit``, ``bucket_ranges``, ``choose_variation`` (pure);
* :mod:`llmops.ab.assignment`: ``ABAssigner`` (cached, no database read on the call path);
* :mod:`llmops.ab.manager`: ``ABTestManager`` (create / list / get / stop / coverage / quality);
* :mod:`llmops.ab.analysis`: ``analyze(store, test_id)`` -> ``ABReport``;
* :mod:`llmops.ab.stats`: Welch, two-proportion, Holm, SRM (pure, scipy distributions).
"""

from llmops.ab.analysis import (
    ABReport,
    Comparison,
    Progress,
    Recommendation,
    SRMCheck,
    VariantSummary,
    analyze,
)
from llmops.ab.assignment import ABAssigner, Assignment, assign_variant
from llmops.ab.hashing import bucket_ranges, choose_variation, hash_unit
from llmops.ab.manager import ABTestManager

__all__ = [
    "ABAssigner",
    "ABReport",
    "ABTestManager",
    "Assignment",
    "Comparison",
    "Progress",
    "Recommendation",
    "SRMCheck",
    "VariantSummary",
    "analyze",
    "assign_variant",
    "bucket_ranges",
    "choose_variation",
    "hash_unit",
]
