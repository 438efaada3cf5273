"""Retention: exact cut-offs per table, batching, dry run, and two runs at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from llmops.retention import RetentionPolicy, RetentionReport, run_retention
from llmops.store import PostgresStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _fill(store: PostgresStore, hours: int) -> None:
    """One fallback log, usage log and breaker event per hour for ``hours`` hours before NOW
    (i = 1..hours), A/B results of three tests, and resolved / open alert events."""
    with store.connection() as conn:
        conn.execute(
            "INSERT INTO llm_fallback_logs (primary_provider, primary_model, success, "
            "environment, created_at) SELECT 'openai', 'm', true, 'local', "
            "%(now)s - i * interval '1 hour' FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": hours},
        )
        conn.execute(
            "INSERT INTO llm_usage_logs (environment, provider, model, success, created_at) "
            "SELECT 'local', 'openai', 'm', true, %(now)s - i * interval '1 hour' "
            "FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": hours},
        )
        conn.execute(
            "INSERT INTO llm_circuit_breaker_events (environment, provider, model, from_state, "
            "to_state, created_at) SELECT 'local', 'openai', 'm', 'closed', 'open', "
            "%(now)s - i * interval '1 hour' FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": hours},
        )
        tests = {}
        for name, active, end_days in (
            ("ended", False, 200),
            ("recent", False, 10),
            ("on", True, None),
        ):
            row = conn.execute(
                "INSERT INTO ab_tests (name, environment, variants, traffic_split, start_date, "
                "end_date, is_active, metrics) VALUES (%s, 'local', '[]', '{}', %s, %s, %s, '{}') "
                "RETURNING id",
                (
                    name,
                    NOW - timedelta(days=400),
                    None if end_days is None else NOW - timedelta(days=end_days),
                    active,
                ),
            ).fetchone()
            assert row is not None
            tests[name] = row[0]
            conn.execute(
                "INSERT INTO ab_test_results (test_id, variant_id, content_hash, success, "
                "created_at) SELECT %(t)s, 'a', 'h', true, %(now)s - i * interval '1 hour' "
                "FROM generate_series(1, %(n)s) i",
                {"t": row[0], "now": NOW, "n": hours},
            )
        # a quality score for every result, plus old and new scores whose result never came
        conn.execute(
            "INSERT INTO ab_result_quality (result_id, score, recorded_at) "
            "SELECT id, 0.5, created_at FROM ab_test_results"
        )
        conn.execute(
            "INSERT INTO ab_result_quality (result_id, score, recorded_at) "
            "SELECT gen_random_uuid(), 0.5, %(now)s - i * interval '1 hour' "
            "FROM generate_series(1, %(n)s) i",
            {"now": NOW, "n": hours},
        )
        rule = conn.execute(
            "INSERT INTO alert_rules (name, environment, type, conditions, actions) "
            "VALUES ('r', 'local', 'error_rate', '[]', '[]') RETURNING id"
        ).fetchone()
        assert rule is not None
        conn.execute(
            "INSERT INTO alert_events (rule_id, rule_name, severity, message, details, "
            "environment, triggered_at, resolved_at, status) SELECT %(r)s, 'r', 'low', 'm', "
            "'{}', 'local', %(now)s - i * interval '1 hour' - interval '1 minute', "
            "%(now)s - i * interval '1 hour', 'resolved' FROM generate_series(1, %(n)s) i",
            {"r": rule[0], "now": NOW, "n": hours},
        )
        # an old event that is still open is never deleted
        conn.execute(
            "INSERT INTO alert_events (rule_id, rule_name, severity, message, details, "
            "environment, triggered_at, status) VALUES (%s, 'r', 'low', 'm', '{}', 'local', %s, "
            "'acknowledged')",
            (rule[0], NOW - timedelta(days=365)),
        )


def _count(store: PostgresStore, table: str) -> int:
    with store.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


HOURS = 24 * 200  # 200 days of hourly rows
# rows strictly older than the cut-off: i > days * 24 (i == days * 24 sits on it and stays)
EXPECTED = {
    "llm_fallback_logs": HOURS - 90 * 24,
    "ab_test_results": HOURS - 180 * 24,  # only the test that ended 200 days ago
    "alert_events": HOURS - 30 * 24,
    "llm_usage_logs": HOURS - 90 * 24,
    "llm_circuit_breaker_events": HOURS - 90 * 24,
    # scores of the deleted results, and orphans older than 180 days
    "ab_result_quality": 2 * (HOURS - 180 * 24),
}


def _deleted(report: RetentionReport) -> dict[str, int]:
    return {t.table: t.deleted for t in report.tables}


def test_deletes_exactly_the_rows_past_each_cutoff(store: PostgresStore) -> None:
    """Each table loses exactly its rows older than its cut-off; the rest stay."""
    _fill(store, HOURS)
    before = {t: _count(store, t) for t in EXPECTED}
    report = run_retention(store, RetentionPolicy(batch_size=700), now=NOW)
    assert _deleted(report) == EXPECTED
    for table, n in EXPECTED.items():
        assert _count(store, table) == before[table] - n
    fallback = next(t for t in report.tables if t.table == "llm_fallback_logs")
    assert fallback.batches == EXPECTED["llm_fallback_logs"] // 700 + 1
    with store.connection() as conn:
        oldest = conn.execute("SELECT min(created_at) FROM llm_fallback_logs").fetchone()
        kept_ab = conn.execute(
            "SELECT t.name, count(*) FROM ab_test_results r JOIN ab_tests t ON t.id = r.test_id "
            "GROUP BY t.name ORDER BY t.name"
        ).fetchall()
        open_events = conn.execute(
            "SELECT count(*) FROM alert_events WHERE status <> 'resolved'"
        ).fetchone()
    assert oldest is not None and oldest[0] == NOW - timedelta(days=90)
    assert dict(kept_ab) == {"ended": 180 * 24, "on": HOURS, "recent": HOURS}
    assert open_events == (1,)
    again = run_retention(store, RetentionPolicy(batch_size=700), now=NOW)
    assert again.total == 0


def test_dry_run_counts_and_deletes_nothing(store: PostgresStore) -> None:
    """A dry run reports the same counts a real run deletes, and deletes nothing."""
    _fill(store, HOURS)
    before = {t: _count(store, t) for t in EXPECTED}
    report = run_retention(store, dry_run=True, now=NOW)
    assert report.dry_run and _deleted(report) == EXPECTED
    assert {t: _count(store, t) for t in EXPECTED} == before


def test_days_are_configurable(store: PostgresStore) -> None:
    """Other day counts move the cut-offs."""
    _fill(store, 24 * 20)
    policy = RetentionPolicy(
        fallback_log_days=10, usage_log_days=5, breaker_event_days=1, alert_event_days=15
    )
    report = run_retention(store, policy, now=NOW)
    assert _deleted(report) == {
        "llm_fallback_logs": 240,
        "ab_test_results": 0,
        "alert_events": 120,
        "llm_usage_logs": 360,
        "llm_circuit_breaker_events": 456,
        "ab_result_quality": 0,
    }


def test_two_runs_at_once_neither_double_count_nor_deadlock(store: PostgresStore) -> None:
    """Two concurrent runs with small batches delete every old row once between them."""
    _fill(store, HOURS)
    reports: list[RetentionReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            reports.append(run_retention(store, RetentionPolicy(batch_size=97), now=NOW))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(reports) == 2
    for table, n in EXPECTED.items():
        assert sum(_deleted(r)[table] for r in reports) == n
    assert run_retention(store, now=NOW).total == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("fallback_log_days", 0), ("batch_size", 0), ("alert_event_days", -1), ("nope", 1)],
)
def test_bad_policy_names_the_field(field: str, value: int) -> None:
    """A zero or negative day count, a zero batch or an unknown key is refused by name."""
    with pytest.raises(ValidationError, match=field):
        RetentionPolicy.model_validate({field: value})
