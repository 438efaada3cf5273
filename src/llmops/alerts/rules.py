"""AlertRuleManager: add, list, enable, disable and delete alert rules.

Rules are validated by :class:`llmops.models.AlertRule` before anything is written (an unknown
type, metric, operator, aggregation or frequency, a window <= 0, a secret given in clear: each
rejected with a message naming the field). :func:`redacted` is the form to print or log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from llmops.errors import ConfigError, NotFound
from llmops.models.alerts import AlertRule
from llmops.secrets import redact
from llmops.store import PostgresStore

__all__ = ["AlertRuleManager", "redacted", "validate_rule"]


def validate_rule(rule: AlertRule | Mapping[str, Any]) -> AlertRule:
    """The rule as a model, checked beyond its fields: every condition's metric must belong to
    the rule's type. Raises pydantic's ValidationError or :class:`ConfigError` naming the field.
    """
    model = rule if isinstance(rule, AlertRule) else AlertRule.model_validate(dict(rule))
    problems = model.metric_mismatches()
    if problems:
        raise ConfigError("; ".join(problems))
    return model.model_copy(update={"id": None, "last_triggered": None})


def redacted(rule: AlertRule) -> dict[str, Any]:
    """``rule`` as JSON-ready data with every secret-bearing value redacted.

    Stored values are ``env:NAME`` references (safe to show); anything else is replaced, so a
    row written by another tool with a secret in clear never reaches the screen.
    """
    data = rule.model_dump(mode="json", by_alias=True)
    for action in data.get("actions", []):
        config = action.get("config") or {}
        for key in ("webhookUrl", "url", "password"):
            if isinstance(config.get(key), str):
                config[key] = redact(config[key])
        if isinstance(config.get("headers"), dict):
            config["headers"] = {k: redact(str(v)) for k, v in config["headers"].items()}
    return data


class AlertRuleManager:
    """CRUD over ``alert_rules`` with validation; every method returns models."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def add(self, rule: AlertRule | Mapping[str, Any]) -> AlertRule:
        """Validate and store one rule (a model or its JSON/YAML document); returns it stored."""
        return self.store.alert_rules.insert(validate_rule(rule))

    def add_many(self, rules: Sequence[AlertRule | Mapping[str, Any]]) -> list[AlertRule]:
        """Validate every rule first, then store them all in one transaction (all or none)."""
        models = []
        for i, rule in enumerate(rules):
            try:
                models.append(validate_rule(rule))
            except ConfigError as exc:
                raise ConfigError(f"rules.{i}: {exc}") from None
        with self.store.transaction() as conn:
            return [self.store.alert_rules.insert(m, conn=conn) for m in models]

    def get(self, rule_id: UUID) -> AlertRule:
        rule = self.store.alert_rules.find(rule_id)
        if rule is None:
            raise NotFound(f"no alert rule with id {rule_id}")
        return rule

    def list(
        self,
        *,
        environment: str | None = None,
        type: str | None = None,
        active: bool | None = None,
    ) -> list[AlertRule]:
        """Rules, oldest first, optionally filtered."""
        where: dict[str, Any] = {}
        if environment is not None:
            where["environment"] = environment
        if type is not None:
            where["type"] = type
        if active is not None:
            where["is_active"] = active
        return self.store.alert_rules.select(where, order_by=(("created_at", "ASC"),))

    def enable(self, rule_id: UUID) -> AlertRule:
        return self._set_active(rule_id, True)

    def disable(self, rule_id: UUID) -> AlertRule:
        """Stop evaluating a rule (its open event, if any, stays as it is)."""
        return self._set_active(rule_id, False)

    def delete(self, rule_id: UUID) -> None:
        """Delete a rule and, through the seed's ON DELETE CASCADE, its events."""
        if not self.store.alert_rules.delete(rule_id):
            raise NotFound(f"no alert rule with id {rule_id}")

    def _set_active(self, rule_id: UUID, active: bool) -> AlertRule:
        self.get(rule_id)
        return self.store.alert_rules.update(rule_id, {"is_active": active})
