"""Sticky A/B assignment: a pure function of (test, unit key), behind a cached lookup.

:func:`assign_variant` is the decision, with no I/O: the GrowthBook v2 (or v1) hash of the
unit key with the test's seed picks a variant from bucket ranges built from the variants'
weights and the test's coverage. Every process on every machine computes the same answer.

:class:`ABAssigner` is the thin shell the router calls. It keeps an immutable snapshot of the
environment's tests in memory; :meth:`ABAssigner.assign` reads only that snapshot. The snapshot
is refreshed in a background thread once it is older than ``refresh_interval`` (the caller
never waits for it), and synchronously only when a test name is unknown (at most once per
``unknown_refresh_interval``), before :class:`~llmops.errors.NotFound` is raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout

from llmops.ab.hashing import bucket_ranges, choose_variation, hash_unit
from llmops.errors import ConfigError, NotFound, StoreError
from llmops.models import ABTest, ABVariant
from llmops.store import PostgresStore

__all__ = ["ABAssigner", "Assignment", "assign_variant", "unit_value"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The variant a unit is served: its id and the provider/model/params to call."""

    test_id: UUID
    variant_id: str
    provider: str
    model: str
    params: Mapping[str, Any]


def unit_value(test: ABTest, *, session_id: str | None, user_id: str | None) -> str | None:
    """The identifier ``test.traffic_split.unitKey`` names (None or empty: not enrollable)."""
    value = session_id if test.traffic_split.unit_key == "session" else user_id
    return value or None


def assign_variant(test: ABTest, unit: str) -> ABVariant | None:
    """The variant of ``unit`` in ``test``; None when the unit falls outside the coverage."""
    split = test.traffic_split
    n = hash_unit(test.hash_seed(), unit, split.hash_version)
    if n is None:  # pragma: no cover - hash_version is validated to 1 or 2
        return None
    ranges = bucket_ranges(len(test.variants), split.coverage, test.weight_fractions())
    index = choose_variation(n, ranges)
    return test.variants[index] if index >= 0 else None


def _assignment(test: ABTest, variant: ABVariant) -> Assignment:
    assert test.id is not None
    params = variant.config.model_dump(exclude={"provider", "model"}, exclude_none=True)
    return Assignment(
        test_id=test.id,
        variant_id=variant.id,
        provider=variant.config.provider,
        model=variant.config.model,
        params=MappingProxyType(params),
    )


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_id: Mapping[UUID, ABTest] = field(default_factory=dict)
    by_name: Mapping[str, ABTest] = field(default_factory=dict)

    @classmethod
    def of(cls, tests: list[ABTest]) -> _Snapshot:
        by_name: dict[str, ABTest] = {}
        # newest first: a name reused after a test ended resolves to the active / newest test
        for t in sorted(tests, key=lambda t: (t.is_active, t.created_at or t.start_date)):
            by_name[t.name] = t
        return cls({t.id: t for t in tests if t.id is not None}, by_name)

    def lookup(self, test: str) -> ABTest | None:
        found = self.by_name.get(test)
        if found is not None:
            return found
        try:
            return self.by_id.get(UUID(test))
        except ValueError:
            return None


class ABAssigner:
    """Assigns units to the variants of an environment's A/B tests, from an in-memory cache.

    ``assign`` never reads the database when the test is known: the cache of the environment's
    tests is refreshed in the background at most every ``refresh_interval`` seconds (by
    ``clock``). When the database cannot be read, the last snapshot keeps serving.
    """

    def __init__(
        self,
        store: PostgresStore,
        environment: str,
        *,
        refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        unknown_refresh_interval: float = 1.0,
    ) -> None:
        if refresh_interval <= 0:
            raise ConfigError(f"refresh_interval: must be > 0 seconds, got {refresh_interval}")
        self._store = store
        self.environment = environment
        self.refresh_interval = refresh_interval
        self.unknown_refresh_interval = unknown_refresh_interval
        self._clock = clock
        self._snapshot = _Snapshot()
        self._loaded_at: float | None = None
        self._refresh_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    # -- cache ------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload the environment's tests now; False (and the old snapshot kept) on a
        database error."""
        with self._refresh_lock:
            started = self._clock()
            try:
                tests = self._store.ab_tests.select({"environment": self.environment})
            except (StoreError, psycopg.Error, PoolTimeout) as exc:
                # keep serving the last snapshot: an LLM call never fails because of the cache
                log.warning("A/B tests of %s not refreshed: %s", self.environment, exc)
                return False
            self._snapshot = _Snapshot.of(tests)
            self._loaded_at = started
            return True

    def _refresh_in_background(self) -> None:
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self.refresh, name=f"llmops-ab-refresh-{self.environment}", daemon=True
            )
            self._thread.start()

    def wait_for_refresh(self, timeout: float | None = None) -> None:
        """Wait for a background refresh in flight (tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    close = wait_for_refresh

    def _stale(self, interval: float) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= interval

    def lookup(self, test: str) -> ABTest:
        """The test named ``test`` (name or id) from the cache; :class:`NotFound` if none."""
        found = self._snapshot.lookup(test)
        if found is None:
            if self._stale(self.unknown_refresh_interval) and self.refresh():
                found = self._snapshot.lookup(test)
            if found is None and self._loaded_at is not None:
                raise NotFound(f"ab_test: no A/B test {test!r} in environment {self.environment}")
        elif self._stale(self.refresh_interval):
            self._refresh_in_background()
        if found is None:  # never loaded: the database is unreachable, serve the default
            raise _Unknowable(test)
        return found

    # -- the call path ----------------------------------------------------------------------

    def assign(
        self, test: str, *, session_id: str | None, user_id: str | None, now: datetime
    ) -> Assignment | None:
        """The variant of this unit in ``test`` (name or id).

        :class:`NotFound` when the environment has no such test; None when the test is
        inactive or outside its dates, the unit key is missing, or the unit falls outside the
        coverage (and, with a warning, when the tests could never be loaded).
        """
        try:
            found = self.lookup(test)
        except _Unknowable:
            return None
        if not found.running_at(now):
            return None
        unit = unit_value(found, session_id=session_id, user_id=user_id)
        if unit is None:
            return None
        variant = assign_variant(found, unit)
        return _assignment(found, variant) if variant is not None else None


class _Unknowable(LookupError):
    """The test cannot be looked up because the database was never readable."""
