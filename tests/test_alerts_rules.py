"""AlertRuleManager (llmops.alerts.rules), redaction, and the 004 columns' bounds in model and SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from llmops.alerts import AlertRuleManager, redacted
from llmops.alerts.rules import validate_rule
from llmops.errors import ConfigError, NotFound
from llmops.models.alerts import AlertEvent, AlertRule
from llmops.store import PostgresStore

RULE: dict[str, Any] = {
    "name": "latency",
    "environment": "staging",
    "type": "response_time",
    "severity": "low",
    "conditions": [
        {"metric": "response_time", "operator": "gt", "value": 2000, "timeWindow": 10,
         "aggregation": "p95"},
    ],
    "actions": [
        {"type": "webhook", "config": {"url": "env:HOOK", "headers": {"X-Token": "env:TOKEN"}}},
        {"type": "email", "config": {"to": ["ops@example.com"], "from": "a@example.com",
                                     "smtpHost": "smtp.example.com", "username": "u",
                                     "password": "env:SMTP_PASSWORD"}},
    ],
}  # fmt: skip


def test_add_list_enable_disable_delete(store: PostgresStore) -> None:
    """Rules round-trip through the manager; filters, enable/disable and delete work by id."""
    manager = AlertRuleManager(store)
    rule = manager.add(RULE)
    other = manager.add({**RULE, "name": "prod latency", "environment": "production"})
    assert rule.id is not None and rule.created_at is not None
    assert rule.conditions[0].effective_aggregation == "p95"
    assert rule.severity == "low" and rule.repeat_interval_minutes == 60
    assert [r.name for r in manager.list()] == ["latency", "prod latency"]
    assert [r.id for r in manager.list(environment="production")] == [other.id]
    assert manager.list(type="cost_threshold") == []
    assert manager.disable(rule.id).is_active is False
    assert [r.id for r in manager.list(active=True)] == [other.id]
    assert manager.enable(rule.id).is_active is True
    manager.delete(rule.id)
    with pytest.raises(NotFound):
        manager.get(rule.id)
    with pytest.raises(NotFound):
        manager.delete(rule.id)
    with pytest.raises(NotFound):
        manager.enable(uuid.uuid4())


def test_add_ignores_given_id_and_last_triggered(store: PostgresStore) -> None:
    """A document's id and last_triggered are not trusted: the database assigns them."""
    given = uuid.uuid4()
    rule = AlertRuleManager(store).add(
        {**RULE, "id": str(given), "last_triggered": "2020-01-01T00:00:00Z"}
    )
    assert rule.id != given and rule.last_triggered is None


def test_delete_cascades_to_events(store: PostgresStore) -> None:
    """Deleting a rule deletes its events (the seed's ON DELETE CASCADE)."""
    manager = AlertRuleManager(store)
    rule = manager.add(RULE)
    assert rule.id is not None
    store.alert_events.insert(
        AlertEvent.model_validate(
            {"rule_id": rule.id, "rule_name": "latency", "severity": "low", "message": "m",
             "details": {}, "environment": "staging", "triggered_at": datetime.now(UTC)}
        )
    )  # fmt: skip
    manager.delete(rule.id)
    assert store.alert_events.count() == 0


def test_add_many_is_all_or_nothing(store: PostgresStore) -> None:
    """add_many validates every rule before writing any; a bad one is named by its index."""
    manager = AlertRuleManager(store)
    with pytest.raises(ConfigError, match=r"rules\.1: conditions\.0\.metric"):
        manager.add_many([RULE, {**RULE, "type": "token_usage"}])
    assert store.alert_rules.count() == 0
    assert len(manager.add_many([RULE, RULE])) == 2


def test_validate_rule_names_the_field() -> None:
    """Type/metric mismatch and field errors name the offending field."""
    with pytest.raises(
        ConfigError, match=r"conditions\.0\.metric: 'response_time' is not a metric"
    ):
        validate_rule({**RULE, "type": "quota_exceeded"})
    with pytest.raises(ValidationError) as info:
        validate_rule({**RULE, "conditions": [{**RULE["conditions"][0], "timeWindow": 0}]})
    assert info.value.errors()[0]["loc"] == ("conditions", 0, "timeWindow")


def test_redacted_shows_references_only() -> None:
    """redacted() keeps env: references and replaces anything else in secret-bearing fields."""
    rule = AlertRule.model_validate(RULE)
    shown = redacted(rule)
    assert shown["actions"][0]["config"]["url"] == "env:HOOK"
    assert shown["actions"][0]["config"]["headers"] == {"X-Token": "env:TOKEN"}
    assert shown["actions"][1]["config"]["password"] == "env:SMTP_PASSWORD"
    leaked = rule.model_copy(
        update={
            "actions": [
                rule.actions[0].model_copy(
                    update={
                        "config": rule.actions[0].config.model_copy(
                            update={"url": "https://hook.example/secret-path"}
                        )
                    }
                )
            ]
        }
    )
    assert "secret-path" not in str(redacted(leaked))


def test_secrets_in_clear_are_refused_without_echo() -> None:
    """A webhook URL, header or password given in clear is refused; the error omits the value."""
    for action in (
        {"type": "webhook", "config": {"url": "https://hook.example/clear-secret"}},
        {"type": "webhook", "config": {"url": "env:H", "headers": {"X": "clear-secret"}}},
        {"type": "slack", "config": {"webhookUrl": "https://hooks.slack.com/clear-secret"}},
    ):
        with pytest.raises(ValidationError) as info:
            AlertRule.model_validate({**RULE, "actions": [action]})
        from llmops.cli._common import format_validation_error

        message = format_validation_error(info.value)
        assert "secret reference" in message and "clear-secret" not in message


# -- the columns sql/004_alerts.sql adds: model and database agree at every bound --------------

RULE_ROW_SQL = (
    "INSERT INTO alert_rules (name, environment, type, conditions, actions, {col}) "
    "VALUES ('r', 'local', 'error_rate', '[]', '[]', %s)"
)


def _db_accepts(store: PostgresStore, query: str, params: tuple[Any, ...]) -> bool:
    with store.connection() as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(query, params)  # type: ignore[arg-type]
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError):
            return False
    return True


def _model_accepts(data: dict[str, Any]) -> bool:
    try:
        AlertRule.model_validate(data)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("column", "value", "accepted"),
    [
        ("severity", "low", True), ("severity", "critical", True), ("severity", "urgent", False),
        ("repeat_interval_minutes", 1, True), ("repeat_interval_minutes", 0, False),
        ("repeat_interval_minutes", 525600, True), ("repeat_interval_minutes", 525601, False),
        ("repeat_interval_minutes", None, True),
    ],
)  # fmt: skip
def test_rule_columns_agree(store: PostgresStore, column: str, value: Any, accepted: bool) -> None:
    """alert_rules.severity / repeat_interval_minutes: the model and the CHECK agree."""
    assert _model_accepts({**RULE, column: value}) is accepted
    assert _db_accepts(store, RULE_ROW_SQL.format(col=column), (value,)) is accepted


@pytest.mark.parametrize(("value", "accepted"), [(0, True), (-1, False), (2**31 - 1, True)])
def test_reminder_count_agrees(store: PostgresStore, value: int, accepted: bool) -> None:
    """alert_events.reminder_count: non-negative in the model and in the CHECK."""
    rule = AlertRuleManager(store).add(RULE)
    event = {
        "rule_id": rule.id, "rule_name": "r", "severity": "low", "message": "m", "details": {},
        "environment": "staging", "triggered_at": datetime.now(UTC), "reminder_count": value,
    }  # fmt: skip
    try:
        AlertEvent.model_validate(event)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert model_ok is accepted
    query = (
        "INSERT INTO alert_events (rule_id, rule_name, severity, message, details, environment, "
        "triggered_at, reminder_count) VALUES (%s, 'r', 'low', 'm', '{}', 'staging', now(), %s)"
    )
    assert _db_accepts(store, query, (rule.id, value)) is accepted


def test_severity_default_agrees(store: PostgresStore) -> None:
    """A rule inserted without severity gets 'medium' in SQL, as the model's default."""
    with store.connection() as conn:
        conn.execute(RULE_ROW_SQL.replace(", {col}", "").replace(", %s", ""))
        row = conn.execute("SELECT severity, repeat_interval_minutes FROM alert_rules").fetchone()
    fields = AlertRule.model_fields
    assert row == (fields["severity"].default, fields["repeat_interval_minutes"].default)
    assert row == ("medium", 60)
