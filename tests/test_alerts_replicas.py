"""Exactly once across replicas: 4 `llmops alerts check` processes on one breach make 1 event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from llmops.alerts import AlertRuleManager
from llmops.models import UsageLog
from llmops.store import PostgresStore

RULE = {
    "name": "spend spike",
    "environment": "production",
    "type": "cost_threshold",
    "conditions": [{"metric": "total_cost", "operator": "gt", "value": 10, "timeWindow": 60}],
    "actions": [{"type": "log"}],
}


def _breach(store: PostgresStore) -> None:
    store.usage_logs.insert(
        UsageLog(
            environment="production",
            provider="openai",
            model="m",
            estimated_cost=Decimal("25"),
            success=True,
            created_at=datetime.now(UTC) - timedelta(minutes=1),
        )
    )


def _spawn(database_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llmops.cli", "--database-url", database_url, "alerts", "check",
         "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LLMOPS_DATABASE_URL": ""},
    )  # fmt: skip


def _results(procs: list[subprocess.Popen[str]]) -> list[str]:
    kinds = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        kinds += [o["result"] for o in json.loads(out)]
    return sorted(kinds)


def test_four_processes_released_at_once_create_one_event(
    store: PostgresStore, database_url: str
) -> None:
    """Four checks queued on the rule's row lock, released together: 1 open, 3 see it, 1 event."""
    rule = AlertRuleManager(store).add(RULE)
    _breach(store)
    with psycopg.connect(database_url) as holder:
        # hold the rule's row lock so that all four processes reach it and wait there
        holder.execute("SELECT id FROM alert_rules WHERE id = %s FOR UPDATE", (rule.id,))
        procs = [_spawn(database_url) for _ in range(4)]
        deadline = time.monotonic() + 60
        while True:
            with psycopg.connect(database_url, autocommit=True) as probe:
                waiting = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND application_name = 'llmops'"
                ).fetchone()
            if waiting and waiting[0] == 4:
                break
            assert time.monotonic() < deadline, "the four processes never queued on the lock"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        holder.rollback()  # release: all four contend at the same moment
    assert _results(procs) == ["none", "none", "none", "open"]
    assert len(store.alert_events.select(order_by=())) == 1


def test_four_processes_started_together_create_one_event(
    store: PostgresStore, database_url: str
) -> None:
    """Four checks started at the same moment, without help from the test: exactly 1 event."""
    AlertRuleManager(store).add(RULE)
    _breach(store)
    procs = [_spawn(database_url) for _ in range(4)]
    kinds = _results(procs)
    assert kinds.count("open") == 1 and set(kinds) <= {"open", "none"}
    [event] = store.alert_events.select(order_by=())
    assert event.status == "active" and event.rule_name == "spend spike"
