"""Sticky, cached A/B assignment (llmops.ab.assignment) on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmops.ab import ABAssigner, ABTestManager, bucket_ranges, choose_variation, hash_unit
from llmops.ab.assignment import assign_variant
from llmops.errors import ConfigError, NotFound
from llmops.models import ABTest
from llmops.store import PostgresStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _definition(name: str = "summaries", **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": name,
        "environment": "production",
        "variants": [
            {
                "id": "flash",
                "name": "Gemini Flash",
                "config": {"provider": "google", "model": "gemini-1.5-flash", "temperature": 0.3},
                "weight": 50,
            },
            {
                "id": "mini",
                "name": "GPT-4o mini",
                "config": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 800},
                "weight": 30,
            },
            {
                "id": "haiku",
                "name": "Claude Haiku",
                "config": {"provider": "anthropic", "model": "claude-3-haiku"},
                "weight": 20,
            },
        ],
        "start_date": (NOW - timedelta(days=1)).isoformat(),
        "metrics": {
            "primaryMetric": "cost",
            "trackMetrics": ["cost", "quality"],
            "sampleSize": 100,
            "confidenceLevel": 95,
        },
    }
    d.update(over)
    return d


@pytest.fixture
def manager(store: PostgresStore) -> ABTestManager:
    return ABTestManager(store)


def test_assignment_is_sticky_and_serves_the_variant_config(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """Same session -> same variant on every call; the Assignment carries its config."""
    test = manager.create(_definition())
    assigner = ABAssigner(store, "production", clock=Clock())
    first = assigner.assign("summaries", session_id="s-42", user_id=None, now=NOW)
    assert first is not None and first.test_id == test.id
    for _ in range(20):
        assert assigner.assign("summaries", session_id="s-42", user_id=None, now=NOW) == first
    by_id = assigner.assign(str(test.id), session_id="s-42", user_id=None, now=NOW)
    assert by_id == first
    variant = next(v for v in test.variants if v.id == first.variant_id)
    assert (first.provider, first.model) == (variant.config.provider, variant.config.model)
    expected = variant.config.model_dump(exclude={"provider", "model"}, exclude_none=True)
    assert dict(first.params) == expected


def test_assignment_is_growthbook_v2_with_the_test_id_as_seed(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """The variant equals choose_variation(hash_unit(str(test.id), session), ranges)."""
    test = manager.create(_definition())
    assigner = ABAssigner(store, "production", clock=Clock())
    ranges = bucket_ranges(3, 1.0, [0.5, 0.3, 0.2])
    for i in range(300):
        got = assigner.assign("summaries", session_id=f"s{i}", user_id=None, now=NOW)
        index = choose_variation(hash_unit(str(test.id), f"s{i}") or 0.0, ranges)
        assert got is not None and got.variant_id == test.variants[index].id


def test_split_over_many_sessions_follows_weights(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """20,000 sessions through the assigner land within 1.5 points of 50/30/20."""
    manager.create(_definition())
    assigner = ABAssigner(store, "production", clock=Clock())
    counts: dict[str, int] = {"flash": 0, "mini": 0, "haiku": 0}
    for i in range(20_000):
        a = assigner.assign("summaries", session_id=f"sess-{i}", user_id=None, now=NOW)
        assert a is not None
        counts[a.variant_id] += 1
    for vid, w in (("flash", 0.5), ("mini", 0.3), ("haiku", 0.2)):
        assert abs(counts[vid] / 20_000 - w) < 0.015


def test_no_database_read_on_the_call_path(store: PostgresStore, manager: ABTestManager) -> None:
    """Once loaded, assign() works with the pool closed: it reads only the cache."""
    manager.create(_definition())
    assigner = ABAssigner(store, "production", clock=Clock())
    before = assigner.assign("summaries", session_id="s1", user_id=None, now=NOW)
    store.close()
    for _ in range(5):
        assert assigner.assign("summaries", session_id="s1", user_id=None, now=NOW) == before


def test_unit_key_user_and_missing_keys(store: PostgresStore, manager: ABTestManager) -> None:
    """unitKey=user hashes user_id; a missing unit key means not enrolled (None)."""
    manager.create(_definition(traffic_split={"unitKey": "user"}))
    assigner = ABAssigner(store, "production", clock=Clock())
    assert assigner.assign("summaries", session_id="s1", user_id=None, now=NOW) is None
    a = assigner.assign("summaries", session_id="s1", user_id="u-7", now=NOW)
    b = assigner.assign("summaries", session_id="s2", user_id="u-7", now=NOW)
    assert a is not None and a == b
    assert assigner.assign("summaries", session_id="", user_id="", now=NOW) is None


def test_inactive_and_out_of_dates_tests_give_none(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """Before start_date, at/after end_date, or stopped: None (serve the default)."""
    manager.create(_definition("dated", end_date=(NOW + timedelta(hours=1)).isoformat()))
    manager.create(_definition("stopped"))
    manager.stop("stopped")
    assigner = ABAssigner(store, "production", clock=Clock())
    kw: dict[str, Any] = {"session_id": "s", "user_id": None}
    assert assigner.assign("dated", now=NOW, **kw) is not None
    assert assigner.assign("dated", now=NOW - timedelta(days=2), **kw) is None
    assert assigner.assign("dated", now=NOW + timedelta(hours=1), **kw) is None
    assert assigner.assign("stopped", now=NOW, **kw) is None


def test_unknown_test_is_not_found_after_one_refresh(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """An unknown name refreshes once (rate-limited), then raises NotFound naming it."""
    clock = Clock()
    refreshes: list[float] = []

    class Counting(ABAssigner):
        def refresh(self) -> bool:
            refreshes.append(clock.t)
            return super().refresh()

    assigner = Counting(store, "production", clock=clock)
    with pytest.raises(NotFound, match="no-such-test"):
        assigner.assign("no-such-test", session_id="s", user_id=None, now=NOW)
    with pytest.raises(NotFound):
        assigner.assign("no-such-test", session_id="s", user_id=None, now=NOW)
    assert len(refreshes) == 1  # the second miss within 1 s did not query again
    manager.create(_definition("late"))
    clock.t += 1.0
    assert assigner.assign("late", session_id="s", user_id=None, now=NOW) is not None
    assert len(refreshes) == 2


def test_other_environment_is_not_found(store: PostgresStore, manager: ABTestManager) -> None:
    """A test of another environment is unknown to this environment's assigner."""
    manager.create(_definition(environment="staging"))
    assigner = ABAssigner(store, "production", clock=Clock())
    with pytest.raises(NotFound):
        assigner.assign("summaries", session_id="s", user_id=None, now=NOW)


def test_stale_cache_refreshes_in_background(store: PostgresStore, manager: ABTestManager) -> None:
    """After refresh_interval the call still answers from the old snapshot and a background
    refresh picks up the stop; the next call sees it."""
    clock = Clock()
    manager.create(_definition())
    assigner = ABAssigner(store, "production", clock=clock, refresh_interval=30)
    kw: dict[str, Any] = {"session_id": "s", "user_id": None, "now": NOW}
    assert assigner.assign("summaries", **kw) is not None
    manager.stop("summaries")
    clock.t += 29.0
    assert assigner.assign("summaries", **kw) is not None  # fresh enough: no refresh
    assigner.wait_for_refresh(5)
    assert assigner.assign("summaries", **kw) is not None
    clock.t += 1.0
    assert assigner.assign("summaries", **kw) is not None  # stale: old answer, refresh kicked
    assigner.wait_for_refresh(5)
    assert assigner.assign("summaries", **kw) is None


def test_coverage_half_then_full_moves_no_enrolled_session(
    store: PostgresStore, manager: ABTestManager
) -> None:
    """Coverage 0.5 enrols about half the sessions; raising it to 1.0 moves none of them."""
    manager.create(_definition(traffic_split={"coverage": 0.5}))
    clock = Clock()
    assigner = ABAssigner(store, "production", clock=clock)
    sessions = [f"cov-{i}" for i in range(10_000)]
    before = {
        s: assigner.assign("summaries", session_id=s, user_id=None, now=NOW) for s in sessions
    }
    enrolled = {s: a.variant_id for s, a in before.items() if a is not None}
    print(f"coverage 0.5 enrolled {len(enrolled)}/10000")
    assert abs(len(enrolled) / 10_000 - 0.5) < 0.02
    manager.set_coverage("summaries", 1.0)
    assert assigner.refresh()
    after = {s: assigner.assign("summaries", session_id=s, user_id=None, now=NOW) for s in sessions}
    assert all(a is not None for a in after.values())
    moved = [s for s, v in enrolled.items() if after[s].variant_id != v]  # type: ignore[union-attr]
    assert moved == []


def test_database_never_reachable_serves_default(store: PostgresStore) -> None:
    """With no snapshot and an unreachable database, assign() returns None, not an error."""
    store.close()
    assigner = ABAssigner(store, "production", clock=Clock())
    assert assigner.assign("summaries", session_id="s", user_id=None, now=NOW) is None


def test_different_tests_randomise_independently(manager: ABTestManager) -> None:
    """Two tests with equal definitions but different ids (seeds) split units differently."""
    t1 = manager.create(_definition("one"))
    t2 = manager.create(_definition("two"))
    same = sum(assign_variant(t1, f"u{i}") == assign_variant(t2, f"u{i}") for i in range(2000))
    # independent 50/30/20 splits agree with probability .25+.09+.04 = 0.38
    assert abs(same / 2000 - 0.38) < 0.04


def test_hash_seed_and_version_1_are_honoured() -> None:
    """traffic_split.hashSeed / hashVersion=1 select GrowthBook's legacy hash with that seed."""
    test = ABTest.model_validate(
        {**_definition(), "traffic_split": {"hashSeed": "my-seed", "hashVersion": 1}}
    )
    ranges = bucket_ranges(3, 1.0, [0.5, 0.3, 0.2])
    for i in range(200):
        v = assign_variant(test, f"u{i}")
        assert v is not None
        assert (
            v.id
            == test.variants[choose_variation(hash_unit("my-seed", f"u{i}", 1) or 0, ranges)].id
        )


def test_refresh_interval_must_be_positive(store: PostgresStore) -> None:
    """refresh_interval <= 0 is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="refresh_interval"):
        ABAssigner(store, "production", refresh_interval=0)
