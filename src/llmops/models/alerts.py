"""alert_rules and alert_events rows, and their JSONB documents (conditions, actions, details)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from llmops.models.common import Document, Environment, Name200, Row, Str20, Str200

__all__ = [
    "Aggregation",
    "AlertAction",
    "AlertCondition",
    "AlertEvent",
    "AlertEventDetails",
    "AlertEventStatus",
    "AlertRule",
    "AlertType",
    "EmailAction",
    "Frequency",
    "LogAction",
    "Operator",
    "Severity",
    "SlackAction",
    "WebhookAction",
]

AlertType = Literal[
    "cost_threshold",
    "error_rate",
    "response_time",
    "success_rate",
    "token_usage",
    "provider_failure",
    "circuit_breaker",
    "quota_exceeded",
]
Frequency = Literal["immediate", "every_5min", "every_15min", "hourly", "daily"]
Severity = Literal["low", "medium", "high", "critical"]
AlertEventStatus = Literal["active", "resolved", "acknowledged"]
Operator = Literal["gt", "gte", "lt", "lte", "eq", "ne"]
Aggregation = Literal["sum", "avg", "min", "max", "count", "p95"]

SecretOrRef = Annotated[str, Field(min_length=1, max_length=2000)]
"""A secret given as a reference (``env:NAME``) or, discouraged, in clear; never printed."""


class AlertCondition(Document):
    """One element of ``conditions``: ``aggregation(metric) over timeWindow minutes <operator> value``."""

    metric: Annotated[str, Field(min_length=1, max_length=100)]
    operator: Operator
    value: float
    time_window: Annotated[int, Field(gt=0, le=525_600)] = Field(alias="timeWindow")
    aggregation: Aggregation = "sum"


class _ActionConfig(Document):
    pass


class SlackConfig(_ActionConfig):
    webhook_url: SecretOrRef = Field(alias="webhookUrl")
    channel: Annotated[str, Field(max_length=200)] | None = None


class WebhookConfig(_ActionConfig):
    url: SecretOrRef
    headers: dict[str, str] = Field(default_factory=dict)


class EmailConfig(_ActionConfig):
    to: list[Annotated[str, Field(min_length=3, max_length=320)]] = Field(min_length=1)
    sender: Annotated[str, Field(min_length=3, max_length=320)] = Field(alias="from")
    smtp_host: Annotated[str, Field(min_length=1)] = Field(alias="smtpHost")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = Field(default=587, alias="smtpPort")
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretOrRef | None = None


class LogConfig(_ActionConfig):
    level: Literal["debug", "info", "warning", "error", "critical"] = "warning"


class _Action(Document):
    notify_resolved: bool = Field(default=True, alias="notifyResolved")


class SlackAction(_Action):
    type: Literal["slack"]
    config: SlackConfig


class WebhookAction(_Action):
    type: Literal["webhook"]
    config: WebhookConfig


class EmailAction(_Action):
    type: Literal["email"]
    config: EmailConfig


class LogAction(_Action):
    type: Literal["log"]
    config: LogConfig = Field(default_factory=LogConfig)


AlertAction = Annotated[
    SlackAction | WebhookAction | EmailAction | LogAction, Field(discriminator="type")
]


class AlertRule(Row):
    """A row of ``alert_rules``."""

    id: UUID | None = None
    name: Name200
    description: str | None = None
    environment: Environment
    type: AlertType
    conditions: list[AlertCondition] = Field(min_length=1)
    actions: list[AlertAction] = Field(default_factory=list)
    is_active: bool = True
    frequency: Frequency = "immediate"
    last_triggered: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AlertEventDetails(Document):
    """``details`` of an event: the metric values seen, the conditions, the environment.

    Extra keys (delivery results, reminders) are kept.
    """

    model_config = Document.model_config | {"extra": "allow"}

    metrics: dict[str, float | None] = Field(default_factory=dict)
    conditions: list[AlertCondition] = Field(default_factory=list)
    environment: str | None = None


class AlertEvent(Row):
    """A row of ``alert_events``."""

    id: UUID | None = None
    rule_id: UUID
    rule_name: Str200
    severity: Severity
    message: str
    details: AlertEventDetails
    environment: Str20
    triggered_at: datetime
    resolved_at: datetime | None = None
    status: AlertEventStatus = "active"
