"""`llmops demo` end to end: its outcome is checked in the database it wrote to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from llmops.backup.manager import BackupManager
from llmops.demo.runner import DEMO_RULE
from llmops.store import PostgresStore

from .conftest import _create_database, _drop_database, _with_dbname

CALLS = 300


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmops.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def demo_run(database_server: str) -> Iterator[tuple[str, dict[str, object]]]:
    """One demo run (module-wide) on a database of its own."""
    name = _create_database(database_server, "llmops_demo")
    fresh_database_url = _with_dbname(database_server, name)
    result = _demo(
        "--database-url", fresh_database_url, "demo", "--calls", str(CALLS), "--seed", "7", "--json"
    )
    assert result.returncode == 0, result.stderr
    yield fresh_database_url, json.loads(result.stdout)
    _drop_database(database_server, name)


def test_demo_writes_one_log_row_of_each_kind_per_call(
    demo_run: tuple[str, dict[str, object]],
) -> None:
    """Every call left one fallback-log row and one usage-log row; some were served by a fallback."""
    url, _ = demo_run
    assert _one(url, "SELECT count(*) FROM llm_fallback_logs") == CALLS
    assert _one(url, "SELECT count(*) FROM llm_usage_logs") == CALLS
    assert _one(url, "SELECT count(*) FROM llm_usage_logs WHERE fallback_used AND success") >= 1
    assert _one(url, "SELECT count(*) FROM ab_test_results") >= CALLS // 2


def test_demo_breaker_opened_and_closed(demo_run: tuple[str, dict[str, object]]) -> None:
    """The primary's breaker opened during the outage and closed after it (rows in the database)."""
    url, _ = demo_run
    assert _one(url, "SELECT count(*) FROM llm_circuit_breaker_events WHERE to_state = 'open'") >= 1
    assert (
        _one(
            url,
            "SELECT count(*) FROM llm_circuit_breaker_events "
            "WHERE from_state = 'half_open' AND to_state = 'closed'",
        )
        >= 1
    )


def test_demo_alert_fired_and_resolved(demo_run: tuple[str, dict[str, object]]) -> None:
    """The error-rate rule raised an event that later resolved, and the webhook heard both."""
    url, out = demo_run
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.status, e.resolved_at IS NOT NULL FROM alert_events e "
            "JOIN alert_rules r ON r.id = e.rule_id WHERE r.name = %s",
            (DEMO_RULE,),
        ).fetchall()
    assert ("resolved", True) in rows
    statuses = out["webhook_statuses"]
    assert isinstance(statuses, list) and "firing" in statuses and "resolved" in statuses


def test_demo_backup_verifies_and_was_restored(demo_run: tuple[str, dict[str, object]]) -> None:
    """The backup taken first still verifies, a completed restore log names it, and the active
    config is the backed-up one again."""
    url, out = demo_run
    with PostgresStore.connect(url, max_size=2) as store:
        (backup,) = store.backups.select()
        assert BackupManager(store).verify(backup.id).ok  # type: ignore[arg-type]
        logs = store.restore_logs.select()
        active = store.fallback_configs.get_active("local")
    assert [(log.backup_version, log.status) for log in logs] == [(backup.version, "completed")]
    assert active is not None and active.primary_model == "gpt-4o-mini"
    assert out["backup"]["verified"] is True  # type: ignore[index]


def test_demo_ab_report_names_the_cheaper_variant(demo_run: tuple[str, dict[str, object]]) -> None:
    """The A/B report has p-values for every tracked metric and picks flash on cost."""
    _, out = demo_run
    report = out["ab_report"]
    assert isinstance(report, dict)
    assert {c["metric"] for c in report["comparisons"]} == {
        "cost",
        "speed",
        "success_rate",
        "quality",
    }
    assert all(c["p_value"] is not None for c in report["comparisons"])
    assert report["recommendation"]["winner"] == "flash"


def test_demo_is_deterministic_for_a_seed(
    demo_run: tuple[str, dict[str, object]], fresh_database_url: str
) -> None:
    """Two runs with the same seed serve, fail and trip breakers identically."""
    _, first = demo_run
    again = _demo(
        "--database-url", fresh_database_url, "demo", "--calls", str(CALLS), "--seed", "7", "--json"
    )
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    for key in ("served", "failed", "fallbacks", "breaker_transitions"):
        assert second[key] == first[key], key


def test_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    """With no database configured the demo starts an embedded PostgreSQL and exits 0."""
    env = {k: v for k, v in os.environ.items() if k != "LLMOPS_DATABASE_URL"}
    env["LLMOPS_EMBEDDED_DIR"] = str(tmp_path / "pg")
    result = _demo("demo", "--calls", "100", env=env)
    assert result.returncode == 0, result.stderr
    assert "Calls by provider" in result.stdout and "Traceback" not in result.stderr


def test_demo_refuses_too_few_calls(fresh_database_url: str) -> None:
    """--calls below 100 is a one-line usage error."""
    result = _demo("--database-url", fresh_database_url, "demo", "--calls", "5")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("llmops: error: calls:")


def test_report_folds_failed_probes_into_one_row() -> None:
    """open -> half_open -> open cycles of one target become one row with their count."""
    from llmops.demo.report import _breaker_rows
    from llmops.demo.runner import DemoResult

    r = DemoResult("local", 100, 1, 20.0)
    r.transitions = [
        (1.0, "a", "m", "closed", "open"),
        (1.5, "a", "m", "open", "half_open"),
        (1.5, "a", "m", "half_open", "open"),
        (2.0, "a", "m", "open", "half_open"),
        (2.1, "a", "m", "half_open", "open"),
        (2.6, "a", "m", "open", "half_open"),
        (2.6, "a", "m", "half_open", "closed"),
    ]
    assert [row[2] for row in _breaker_rows(r)] == [
        "closed -> open",
        "2 probe(s) failed, re-opened",
        "open -> half_open",
        "half_open -> closed",
    ]
