"""ABTestManager (llmops.ab.manager): validation, lifecycle, quality scores, real PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from llmops.ab import ABTestManager, analyze
from llmops.cli._common import format_validation_error
from llmops.errors import ConfigError, NotFound
from llmops.models import ABTestResult
from llmops.store import PostgresStore

START = datetime(2026, 2, 1, tzinfo=UTC)


def _valid() -> dict[str, Any]:
    return {
        "name": "flash-vs-mini",
        "description": "is flash as good at half the cost?",
        "environment": "production",
        "variants": [
            {
                "id": "variant_a",
                "name": "Gemini Flash",
                "config": {"provider": "google", "model": "gemini-1.5-flash", "temperature": 0.7},
                "weight": 50,
            },
            {
                "id": "variant_b",
                "name": "GPT-4o mini",
                "config": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000},
                "weight": 50,
            },
        ],
        "traffic_split": {"coverage": 1.0, "unitKey": "session"},
        "start_date": START.isoformat(),
        "end_date": (START + timedelta(days=14)).isoformat(),
        "metrics": {
            "primaryMetric": "cost",
            "trackMetrics": ["cost", "speed", "success_rate", "quality"],
            "sampleSize": 1000,
            "confidenceLevel": 95,
        },
    }


def _with(path: str, value: Any) -> dict[str, Any]:
    """A copy of the valid definition with ``path`` (dotted, ints index lists) set or deleted."""
    d = copy.deepcopy(_valid())
    *parents, last = path.split(".")
    node: Any = d
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    key: Any = int(last) if last.isdigit() else last
    if value is _DELETE:
        del node[key]
    else:
        node[key] = value
    return d


_DELETE = object()

INVALID = [
    # (what changes, value, text the message must contain)
    ("variants", [], "variants"),
    ("variants.1", _DELETE, "variants"),
    ("variants.1.id", "variant_a", "variants: duplicate variant id"),
    ("variants.0.weight", 0, "variants.0.weight"),
    ("variants.0.weight", -10, "variants.0.weight"),
    ("variants.0.weight", 60, "weights add up to 110"),
    ("variants.0.config.provider", "", "variants.0.config.provider"),
    ("variants.0.config.temperature", 3, "variants.0.config.temperature"),
    ("variants.0.config.unknown", 1, "variants.0.config.unknown"),
    ("traffic_split.coverage", 1.5, "traffic_split.coverage"),
    ("traffic_split.unitKey", "device", "traffic_split.unitKey"),
    ("traffic_split.hashVersion", 3, "traffic_split.hashVersion"),
    ("traffic_split.weights", {"variant_a": 50, "variant_c": 50}, "traffic_split.weights"),
    ("traffic_split.weights", {"variant_a": 40, "variant_b": 60}, "traffic_split.weights"),
    ("traffic_split.bogus", 1, "traffic_split.bogus"),
    ("end_date", START.isoformat(), "end_date: must be after start_date"),
    ("end_date", (START - timedelta(days=1)).isoformat(), "end_date"),
    ("start_date", "2026-02-01T00:00:00", "start_date"),  # no time zone
    ("start_date", _DELETE, "start_date"),
    ("environment", "prod", "environment"),
    ("name", "", "name"),
    ("metrics.primaryMetric", "latency", "metrics.primaryMetric"),
    ("metrics.trackMetrics", ["speed"], "metrics.primaryMetric"),
    ("metrics.trackMetrics", ["cost", "tokens"], "metrics.trackMetrics"),
    ("metrics.trackMetrics", ["cost", "cost"], "metrics.trackMetrics"),
    ("metrics.sampleSize", 0, "metrics.sampleSize"),
    ("metrics.confidenceLevel", 50, "metrics.confidenceLevel"),
    ("metrics.confidenceLevel", 100, "metrics.confidenceLevel"),
    ("metrics", _DELETE, "metrics"),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), INVALID, ids=[f"{p}={v!r}" for p, v, _ in INVALID]
)
def test_invalid_definition_is_rejected_naming_the_field(
    store: PostgresStore, path: str, value: Any, expected: str
) -> None:
    """Each invalid definition raises a ValidationError whose message names the field, and
    no row is written."""
    manager = ABTestManager(store)
    with pytest.raises(ValidationError) as info:
        manager.create(_with(path, value))
    message = format_validation_error(info.value)
    assert expected in message, message
    assert store.ab_tests.count() == 0


def test_valid_definition_round_trips(store: PostgresStore) -> None:
    """A valid definition is stored and read back equal, with the seed's JSONB keys."""
    manager = ABTestManager(store)
    created = manager.create(_valid())
    assert created.id is not None and created.created_at is not None
    assert manager.get("flash-vs-mini") == created
    assert manager.get(str(created.id)) == created
    with store.connection() as conn:
        split, metrics = conn.execute(
            "SELECT traffic_split, metrics FROM ab_tests WHERE id = %s", (created.id,)
        ).fetchone()  # type: ignore[misc]
    assert split == {"coverage": 1.0, "unitKey": "session", "hashVersion": 2}
    assert metrics["primaryMetric"] == "cost" and metrics["confidenceLevel"] == 95


def test_duplicate_name_in_environment_is_refused(store: PostgresStore) -> None:
    """A second test of the same name in one environment is a ConfigError naming 'name'."""
    manager = ABTestManager(store)
    manager.create(_valid())
    with pytest.raises(ConfigError, match=r"name: .*already exists"):
        manager.create(_valid())
    assert store.ab_tests.count() == 1
    manager.create(_with("environment", "staging"))  # another environment is fine
    with pytest.raises(ConfigError, match="environment"):
        manager.get("flash-vs-mini")
    assert manager.get("flash-vs-mini", "staging").environment == "staging"


def test_list_stop_and_coverage(store: PostgresStore) -> None:
    """stop() deactivates; set_coverage() changes only the coverage; list filters."""
    manager = ABTestManager(store)
    t = manager.create(_valid())
    manager.create(_with("name", "other"))
    assert {x.name for x in manager.list("production", active_only=True)} == {
        "flash-vs-mini",
        "other",
    }
    stopped = manager.stop("flash-vs-mini")
    assert stopped.is_active is False
    assert [x.name for x in manager.list(active_only=True)] == ["other"]
    covered = manager.set_coverage(t.id, 0.25)  # type: ignore[arg-type]
    assert covered.traffic_split.coverage == 0.25
    assert covered.variants == t.variants and covered.traffic_split.unit_key == "session"
    for bad in (1.5, -0.1, float("nan"), True):
        with pytest.raises(ConfigError, match=r"traffic_split\.coverage"):
            manager.set_coverage(t.id, bad)  # type: ignore[arg-type]


def test_get_unknown_is_not_found(store: PostgresStore) -> None:
    """An unknown name or id raises NotFound naming it."""
    manager = ABTestManager(store)
    with pytest.raises(NotFound, match="nope"):
        manager.get("nope")
    with pytest.raises(NotFound):
        manager.get(uuid.uuid4())


def test_record_quality_before_and_after_the_result_row(store: PostgresStore) -> None:
    """A score recorded before the background writer flushed the result counts once the row
    arrives; a later score replaces it; the return value says whether the row exists."""
    manager = ABTestManager(store)
    t = manager.create(_valid())
    assert t.id is not None
    early, late = uuid.uuid4(), uuid.uuid4()
    assert manager.record_quality(early, 0.9) is False  # the row is not written yet
    with store.connection() as conn:
        for rid, variant in ((early, "variant_a"), (late, "variant_a")):
            conn.execute(
                "INSERT INTO ab_test_results (id, test_id, variant_id, content_hash, success) "
                "VALUES (%s, %s, %s, %s, true)",
                (rid, t.id, variant, "0" * 64),
            )
    assert manager.record_quality(late, Decimal("0.5")) is True
    assert manager.record_quality(str(late), 0.7) is True  # latest score wins
    report = analyze(store, t.id)
    assert report.variants[0].quality_n == 2
    assert report.variants[0].mean_quality == pytest.approx(0.8)


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan"), float("inf"), True, "good"])
def test_record_quality_rejects_bad_scores(store: PostgresStore, score: Any) -> None:
    """Scores outside [0, 1], NaN, booleans and text are ConfigErrors naming 'score'."""
    with pytest.raises(ConfigError, match="score"):
        ABTestManager(store).record_quality(uuid.uuid4(), score)
    with store.connection() as conn:
        assert conn.execute("SELECT count(*) FROM ab_result_quality").fetchone() == (0,)


def test_record_quality_rejects_bad_result_id(store: PostgresStore) -> None:
    """A result id that is not a UUID is a ConfigError naming 'result_id'."""
    with pytest.raises(ConfigError, match="result_id"):
        ABTestManager(store).record_quality("not-a-uuid", 0.5)


def test_quality_is_rounded_to_three_places(store: PostgresStore) -> None:
    """A score is stored as NUMERIC(4,3): 0.12345 becomes 0.123."""
    rid = uuid.uuid4()
    ABTestManager(store).record_quality(rid, 0.12345)
    with store.connection() as conn:
        row = conn.execute(
            "SELECT score FROM ab_result_quality WHERE result_id = %s", (rid,)
        ).fetchone()
    assert row == (Decimal("0.123"),)


def test_score_recorded_first_is_linked_when_the_writer_copies_the_row(
    store: PostgresStore,
) -> None:
    """The background writer's COPY of a result links an earlier score to the result's test
    and variant (statement trigger), so the analysis reads it through the test index."""
    manager = ABTestManager(store)
    t = manager.create(_valid())
    assert t.id is not None
    rid = uuid.uuid4()
    assert manager.record_quality(rid, 0.25) is False
    store.ab_results.copy_many(
        [
            ABTestResult(
                id=rid, test_id=t.id, variant_id="variant_b", content_hash="0" * 64, success=True
            )
        ]
    )
    with store.connection() as conn:
        row = conn.execute(
            "SELECT test_id, variant_id FROM ab_result_quality WHERE result_id = %s", (rid,)
        ).fetchone()
    assert row == (t.id, "variant_b")
    assert analyze(store, t.id).variants[1].mean_quality == pytest.approx(0.25)


def test_unlinked_score_of_a_stored_result_still_counts(store: PostgresStore) -> None:
    """A score whose link was missed (committed concurrently with its result) is joined to
    its result by id in the analysis."""
    manager = ABTestManager(store)
    t = manager.create(_valid())
    assert t.id is not None
    rid = uuid.uuid4()
    with store.connection() as conn:
        conn.execute(
            "INSERT INTO ab_test_results (id, test_id, variant_id, content_hash, success) "
            "VALUES (%s, %s, 'variant_a', %s, true)",
            (rid, t.id, "0" * 64),
        )
        # what a concurrent record_quality that did not yet see the result row leaves behind
        conn.execute("INSERT INTO ab_result_quality (result_id, score) VALUES (%s, 0.6)", (rid,))
    report = analyze(store, t.id)
    assert report.variants[0].quality_n == 1
    assert report.variants[0].mean_quality == pytest.approx(0.6)
