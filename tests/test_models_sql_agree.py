"""Models and SQL agree at every bound: what the model rejects the database rejects, the
boundary values pass both, and the defaults are the same in both places."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import BaseModel, ValidationError

from llmops.models import (
    AlertEvent,
    AlertRule,
    FallbackConfig,
    FallbackLog,
    LLMBackup,
    LLMRestoreLog,
    LLMSettings,
    UsageLog,
)
from llmops.store import PostgresStore
from llmops.store._table import Table

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RULE = {
    "name": "r",
    "environment": "local",
    "type": "error_rate",
    "conditions": [{"metric": "error_rate", "operator": "gt", "value": 5, "timeWindow": 5}],
    "actions": [],
}
BASES: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "fallback_configs": (
        FallbackConfig,
        {
            "environment": "local",
            "primary_provider": "openai",
            "primary_model": "m",
            "is_active": False,
        },
    ),
    "fallback_logs": (
        FallbackLog,
        {
            "primary_provider": "openai",
            "primary_model": "m",
            "success": True,
            "environment": "local",
        },
    ),
    "backups": (
        LLMBackup,
        {
            "version": "v1",
            "environment": "local",
            "backup_data": {},
            "creator": "me",
            "data_size": 2,
            "hash": "0" * 64,
        },
    ),
    "restore_logs": (
        LLMRestoreLog,
        {
            "backup_version": "v1",
            "backup_timestamp": NOW,
            "environment": "local",
            "restore_report": {},
        },
    ),
    "alert_rules": (AlertRule, RULE),
    "settings": (LLMSettings, {"environment": "local", "provider": "openai", "model": "m"}),
    "usage_logs": (
        UsageLog,
        {"environment": "local", "provider": "openai", "model": "m", "success": True},
    ),
}

# (repository, column, value, accepted?) — both the model and PostgreSQL must give the same answer.
CASES: list[tuple[str, str, Any, bool]] = [
    ("fallback_configs", "environment", "production", True),
    ("fallback_configs", "environment", "staging", True),
    ("fallback_configs", "environment", "dev", False),
    ("fallback_configs", "max_retries", 0, False),
    ("fallback_configs", "max_retries", 1, True),
    ("fallback_configs", "max_retries", 10, True),
    ("fallback_configs", "max_retries", 11, False),
    ("fallback_configs", "retry_delay", -1, False),
    ("fallback_configs", "retry_delay", 0, True),
    ("fallback_configs", "circuit_breaker_threshold", 0, False),
    ("fallback_configs", "circuit_breaker_threshold", 1, True),
    ("fallback_configs", "circuit_breaker_reset_time", 999, False),
    ("fallback_configs", "circuit_breaker_reset_time", 1000, True),
    ("fallback_configs", "retry_delay", 2**31 - 1, True),
    ("fallback_configs", "retry_delay", 2**31, False),
    ("fallback_configs", "primary_provider", "p" * 50, True),
    ("fallback_configs", "primary_provider", "p" * 51, False),
    ("fallback_configs", "primary_model", "m" * 100, True),
    ("fallback_configs", "primary_model", "m" * 101, False),
    ("fallback_logs", "environment", "e" * 20, True),
    ("fallback_logs", "environment", "e" * 21, False),
    ("fallback_logs", "used_model", "m" * 100, True),
    ("fallback_logs", "used_model", "m" * 101, False),
    ("backups", "data_size", -1, False),
    ("backups", "data_size", 0, True),
    ("backups", "status", "pending", True),
    ("backups", "status", "failed", True),
    ("backups", "status", "done", False),
    ("backups", "version", "v" * 20, True),
    ("backups", "version", "v" * 21, False),
    ("backups", "hash", "h" * 64, True),
    ("backups", "hash", "h" * 65, False),
    ("backups", "creator", "c" * 200, True),
    ("backups", "creator", "c" * 201, False),
    ("restore_logs", "status", "completed", True),
    ("restore_logs", "status", "partial", False),
    ("alert_rules", "type", "cost_threshold", True),
    ("alert_rules", "type", "quota_exceeded", True),
    ("alert_rules", "type", "circuit_breaker", True),
    ("alert_rules", "type", "disk_full", False),
    ("alert_rules", "frequency", "every_15min", True),
    ("alert_rules", "frequency", "daily", True),
    ("alert_rules", "frequency", "weekly", False),
    ("alert_rules", "environment", "qa", False),
    ("alert_rules", "name", "n" * 200, True),
    ("alert_rules", "name", "n" * 201, False),
    ("settings", "environment", "local", True),
    ("settings", "environment", "prod", False),
    ("settings", "timeout_ms", 99, False),
    ("settings", "timeout_ms", 100, True),
    ("settings", "api_key_ref", "env:OPENAI_API_KEY", True),
    ("settings", "api_key_ref", "sk-live-1234", False),
    ("usage_logs", "input_tokens", -1, False),
    ("usage_logs", "input_tokens", 0, True),
    ("usage_logs", "environment", "test", False),
]


def _repo(store: PostgresStore, name: str) -> Table[Any]:
    repo: Table[Any] = getattr(store, name)
    return repo


def _model_accepts(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def _database_accepts(store: PostgresStore, repo: Table[Any], row: dict[str, Any]) -> bool:
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(repo.table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
    )
    with store.connection() as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(query, list(row.values()))
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
            return False
    return True


@pytest.mark.parametrize(("repo_name", "column", "value", "accepted"), CASES)
def test_model_and_database_agree(
    store: PostgresStore, repo_name: str, column: str, value: Any, accepted: bool
) -> None:
    """One bound: the model and PostgreSQL both accept, or both reject, the value."""
    model, base = BASES[repo_name]
    repo = _repo(store, repo_name)
    assert _model_accepts(model, {**base, column: value}) is accepted
    row = repo.to_row(model.model_validate(base))
    row[column] = value
    assert _database_accepts(store, repo, row) is accepted


def test_every_foundation_bound_is_exercised() -> None:
    """The case table covers each CHECK and enum the issue lists, on both sides of each bound."""
    covered = {(r, c) for r, c, _, _ in CASES}
    for pair in [
        ("fallback_configs", "environment"),
        ("fallback_configs", "max_retries"),
        ("fallback_configs", "retry_delay"),
        ("fallback_configs", "circuit_breaker_threshold"),
        ("fallback_configs", "circuit_breaker_reset_time"),
        ("alert_rules", "type"),
        ("alert_rules", "frequency"),
        ("backups", "status"),
        ("backups", "data_size"),
    ]:
        assert pair in covered
        outcomes = {ok for r, c, _, ok in CASES if (r, c) == pair}
        assert outcomes == {True, False}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("low", True), ("critical", True), ("urgent", False)],
)
def test_alert_event_severity_agrees(store: PostgresStore, value: str, accepted: bool) -> None:
    """alert_events.severity: the model's enum is the SQL CHECK."""
    rule = store.alert_rules.insert(AlertRule.model_validate(RULE))
    data = {
        "rule_id": rule.id,
        "rule_name": "r",
        "severity": value,
        "message": "m",
        "details": {},
        "environment": "local",
        "triggered_at": NOW,
    }
    assert _model_accepts(AlertEvent, data) is accepted
    ok_row = store.alert_events.to_row(AlertEvent.model_validate({**data, "severity": "low"}))
    assert _database_accepts(store, store.alert_events, {**ok_row, "severity": value}) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("active", True), ("acknowledged", True), ("resolved", True), ("closed", False)],
)
def test_alert_event_status_agrees(store: PostgresStore, value: str, accepted: bool) -> None:
    """alert_events.status: the model's enum is the SQL CHECK."""
    rule = store.alert_rules.insert(AlertRule.model_validate(RULE))
    data = {
        "rule_id": rule.id,
        "rule_name": "r",
        "severity": "low",
        "message": "m",
        "details": {},
        "environment": "local",
        "triggered_at": NOW,
        "status": value,
    }
    assert _model_accepts(AlertEvent, data) is accepted
    ok_row = store.alert_events.to_row(AlertEvent.model_validate({**data, "status": "active"}))
    assert _database_accepts(store, store.alert_events, {**ok_row, "status": value}) is accepted


@pytest.mark.parametrize("repo_name", sorted(BASES))
def test_defaults_agree(store: PostgresStore, repo_name: str) -> None:
    """A row inserted with only the required columns reads back equal to the model's defaults."""
    model, base = BASES[repo_name]
    repo = _repo(store, repo_name)
    expected = model.model_validate(base)
    required = {
        name: value
        for name, value in repo.to_row(expected).items()
        if name in base or model.model_fields[name].is_required()
    }
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(repo.table),
        sql.SQL(", ").join(map(sql.Identifier, required)),
        sql.SQL(", ").join(sql.Placeholder() * len(required)),
    )
    with store.connection() as conn:
        row = conn.execute(query, list(required.values())).fetchone()
    assert row is not None
    stored = repo.get(row[0])
    server_filled = {"id", "created_at", "updated_at"}
    for name in model.model_fields:
        if name in server_filled or name in base:
            continue
        assert getattr(stored, name) == getattr(expected, name), name
