"""ABTestManager: create, list, look up, stop and re-cover A/B tests; record quality scores.

Rules it enforces beyond the model's validation:

* a test's name is unique within its environment (the router refers to tests by name);
* the variants and their weights never change after creation: changing a weight would move
  units that are already enrolled from one variant to another (their bucket boundaries
  move), silently mixing two randomisations in one analysis. To change weights, stop the test
  and create a new one (a new id, hence a new hash seed);
* the coverage may change at any time: bucket ranges start at fixed points, so raising it only
  enrols new units and lowering it only un-enrols some (who then get the default config).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from llmops.ab.analysis import ABReport, analyze
from llmops.errors import ConfigError, NotFound
from llmops.models import ABTest
from llmops.models.ab import QualityScore
from llmops.store import PostgresStore
from llmops.store.repositories import environment_lock_key

__all__ = ["ABTestManager"]

_SCORE = TypeAdapter(QualityScore)

_UPSERT_QUALITY = """
INSERT INTO ab_result_quality (result_id, score, test_id, variant_id)
SELECT %(rid)s, %(score)s, r.test_id, r.variant_id
FROM (SELECT 1) AS one LEFT JOIN ab_test_results r ON r.id = %(rid)s
ON CONFLICT (result_id) DO UPDATE SET
    score = EXCLUDED.score,
    recorded_at = now(),
    test_id = coalesce(EXCLUDED.test_id, ab_result_quality.test_id),
    variant_id = coalesce(EXCLUDED.variant_id, ab_result_quality.variant_id)
RETURNING test_id IS NOT NULL
"""


class ABTestManager:
    """The A/B tests of a store (all environments; pass ``environment`` to narrow lookups)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def create(self, definition: ABTest | Mapping[str, Any]) -> ABTest:
        """Validate and insert a test; :class:`pydantic.ValidationError` names the bad field,
        :class:`ConfigError` when the environment already has a test of that name."""
        test = (
            definition
            if isinstance(definition, ABTest)
            else ABTest.model_validate(dict(definition))
        )
        with self.store.transaction() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (environment_lock_key("ab_tests", test.environment),),
            )
            if self.store.ab_tests.find_by_name(test.name, test.environment, conn=conn):
                raise ConfigError(
                    f"name: an A/B test named {test.name!r} already exists in "
                    f"{test.environment}; choose another name"
                )
            return self.store.ab_tests.insert(test, conn=conn)

    def list(self, environment: str | None = None, *, active_only: bool = False) -> list[ABTest]:
        """Tests, newest first."""
        where: dict[str, Any] = {}
        if environment is not None:
            where["environment"] = environment
        if active_only:
            where["is_active"] = True
        return self.store.ab_tests.select(where or None)

    def get(self, ref: str | UUID, environment: str | None = None) -> ABTest:
        """The test with this id or name; :class:`NotFound` when none, :class:`ConfigError`
        when a name is ambiguous across environments."""
        if isinstance(ref, UUID):
            return self.store.ab_tests.get(ref)
        found = self.store.ab_tests.find(ref)
        if found is not None and (environment is None or found.environment == environment):
            return found
        named = self.store.ab_tests.find_by_name(ref, environment)
        if not named:
            where = f" in {environment}" if environment else ""
            raise NotFound(f"ab_test: no A/B test with name or id {ref!r}{where}")
        if len(named) > 1:
            envs = sorted(t.environment for t in named)
            raise ConfigError(f"environment: A/B test {ref!r} exists in {envs}; pass --environment")
        return named[0]

    def stop(self, ref: str | UUID, environment: str | None = None) -> ABTest:
        """Deactivate a test: the router then serves the default config and records nothing."""
        test = self.get(ref, environment)
        assert test.id is not None
        return self.store.ab_tests.update(test.id, {"is_active": False})

    def set_coverage(
        self, ref: str | UUID, coverage: float, environment: str | None = None
    ) -> ABTest:
        """Change the share of units enrolled; no enrolled unit changes variant."""
        if isinstance(coverage, bool) or not (
            isinstance(coverage, int | float) and math.isfinite(coverage) and 0 <= coverage <= 1
        ):
            raise ConfigError(f"traffic_split.coverage: must be between 0 and 1, got {coverage}")
        test = self.get(ref, environment)
        assert test.id is not None
        split = test.traffic_split.model_copy(update={"coverage": float(coverage)})
        return self.store.ab_tests.update(test.id, {"traffic_split": split})

    def record_quality(self, result_id: UUID | str, score: float | Decimal) -> bool:
        """Attach a quality score in [0, 1] to a result (the latest score wins).

        Works before the router's background writer has stored the result row: the score goes
        to ``ab_result_quality`` keyed by the result id; a trigger on ``ab_test_results`` links
        it to its test when the row arrives, and it counts from then on. Returns whether the
        result row is already stored.
        """
        if isinstance(score, bool):
            raise ConfigError(f"score: must be a number between 0 and 1, got {score!r}")
        try:
            rid = result_id if isinstance(result_id, UUID) else UUID(str(result_id))
        except ValueError:
            raise ConfigError(f"result_id: {result_id!r} is not a UUID") from None
        try:
            value = _SCORE.validate_python(Decimal(str(score)))
        except (ValidationError, ArithmeticError, ValueError):
            raise ConfigError(f"score: must be a number between 0 and 1, got {score!r}") from None
        with self.store.transaction() as conn:
            row = conn.execute(_UPSERT_QUALITY, {"rid": rid, "score": value}).fetchone()
        return bool(row and row[0])

    def report(self, ref: str | UUID, environment: str | None = None) -> ABReport:
        """:func:`llmops.ab.analyze` of the test with this id or name."""
        test = self.get(ref, environment)
        assert test.id is not None
        return analyze(self.store, test.id)
