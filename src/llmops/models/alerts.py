"""alert_rules and alert_events rows, and their JSONB documents (conditions, actions, details).

The metric catalog (which metrics each alert type may use, and which aggregations each metric
accepts) lives here as plain data, so that a rule is validated where it is parsed; the SQL
that computes each metric lives in :mod:`llmops.alerts.metrics` (a test proves both name the
same metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from llmops.models.common import Document, Environment, Name200, Row, Str20, Str200
from llmops.secrets import is_reference

__all__ = [
    "ALERT_TYPE_METRICS",
    "METRICS",
    "Aggregation",
    "AlertAction",
    "AlertCondition",
    "AlertEvent",
    "AlertEventDetails",
    "AlertEventStatus",
    "AlertRule",
    "AlertType",
    "EmailAction",
    "EmailConfig",
    "Frequency",
    "LogAction",
    "LogConfig",
    "MetricInfo",
    "Operator",
    "SecretReference",
    "Severity",
    "SlackAction",
    "SlackConfig",
    "WebhookAction",
    "WebhookConfig",
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

_ALL_AGGREGATIONS: frozenset[str] = frozenset({"sum", "avg", "min", "max", "count", "p95"})


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric measures, the aggregations it accepts and the one used when none is given."""

    description: str
    aggregations: frozenset[str]
    default_aggregation: str
    per_provider: bool = False


METRICS: dict[str, MetricInfo] = {
    "total_cost": MetricInfo("estimated_cost of each call (USD)", _ALL_AGGREGATIONS, "sum"),
    "total_tokens": MetricInfo("total_tokens of each call", _ALL_AGGREGATIONS, "sum"),
    "input_tokens": MetricInfo("input_tokens of each call", _ALL_AGGREGATIONS, "sum"),
    "output_tokens": MetricInfo("output_tokens of each call", _ALL_AGGREGATIONS, "sum"),
    "response_time": MetricInfo("processing_time_ms of each call", _ALL_AGGREGATIONS, "avg"),
    "request_count": MetricInfo("calls in the window", frozenset({"count"}), "count"),
    "error_rate": MetricInfo("failed calls, % of calls", frozenset({"avg"}), "avg"),
    "success_rate": MetricInfo("successful calls, % of calls", frozenset({"avg"}), "avg"),
    "error_count": MetricInfo("failed calls", frozenset({"count"}), "count"),
    "provider_failures": MetricInfo(
        "failed attempts per provider (attempted_providers, fallback-rescued calls included)",
        frozenset({"count"}),
        "count",
        per_provider=True,
    ),
    "provider_error_rate": MetricInfo(
        "failed attempts per provider, % of its attempts (skipped ones excluded)",
        frozenset({"avg"}),
        "avg",
        per_provider=True,
    ),
    "fallback_failures": MetricInfo(
        "llm_fallback_logs rows whose whole chain failed", frozenset({"count"}), "count"
    ),
    "breaker_openings": MetricInfo(
        "circuit breaker transitions to open", frozenset({"count"}), "count"
    ),
    "rate_limited": MetricInfo(
        "rate-limited attempts (errorKind rate_limited / quota_exhausted or HTTP 429), retried ones included",
        frozenset({"count"}),
        "count",
    ),
}
"""Every metric a condition may name."""

ALERT_TYPE_METRICS: dict[str, tuple[str, ...]] = {
    "cost_threshold": ("total_cost", "request_count"),
    "token_usage": ("total_tokens", "input_tokens", "output_tokens", "request_count"),
    "error_rate": ("error_rate", "error_count", "request_count"),
    "success_rate": ("success_rate", "request_count"),
    "response_time": ("response_time", "request_count"),
    "provider_failure": (
        "provider_failures",
        "provider_error_rate",
        "fallback_failures",
        "request_count",
    ),
    "circuit_breaker": ("breaker_openings",),
    "quota_exceeded": ("rate_limited", "request_count"),
}
"""The metrics each alert type may use in its conditions (the first is its main metric)."""


def _reference(value: str) -> str:
    if not is_reference(value):
        raise ValueError(
            "must be a secret reference such as env:SLACK_WEBHOOK_URL (the value is read from "
            "that environment variable when sending; secrets are never stored)"
        )
    return value


SecretReference = Annotated[str, Field(max_length=200), AfterValidator(_reference)]
"""``env:NAME``: the secret itself is read from environment variable NAME at send time."""


class AlertCondition(Document):
    """One element of ``conditions``: ``aggregation(metric) over timeWindow minutes <operator> value``.

    ``aggregation`` may be left out: the metric's natural one is used (sum for cost and tokens,
    avg for rates and response time, count for counts).
    """

    metric: Annotated[str, Field(min_length=1, max_length=100)]
    operator: Operator
    value: Annotated[float, Field(allow_inf_nan=False)]
    time_window: Annotated[int, Field(gt=0, le=525_600)] = Field(alias="timeWindow")
    aggregation: Aggregation | None = None

    @model_validator(mode="after")
    def _known_metric(self) -> AlertCondition:
        info = METRICS.get(self.metric)
        if info is None:
            raise ValueError(f"metric: unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if self.aggregation is not None and self.aggregation not in info.aggregations:
            raise ValueError(
                f"aggregation: {self.metric} accepts {', '.join(sorted(info.aggregations))}, "
                f"not {self.aggregation}"
            )
        return self

    @property
    def effective_aggregation(self) -> str:
        """The aggregation given, or the metric's default."""
        return self.aggregation or METRICS[self.metric].default_aggregation


class SlackConfig(Document):
    webhook_url: SecretReference = Field(alias="webhookUrl")
    channel: Annotated[str, Field(max_length=200)] | None = None


class WebhookConfig(Document):
    url: SecretReference
    headers: dict[Annotated[str, Field(min_length=1, max_length=200)], SecretReference] = Field(
        default_factory=dict
    )


class EmailConfig(Document):
    to: list[Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]] = (
        Field(min_length=1)
    )
    sender: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] = (
        Field(alias="from")
    )
    smtp_host: Annotated[str, Field(min_length=1, max_length=253)] = Field(alias="smtpHost")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = Field(default=587, alias="smtpPort")
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    username: Annotated[str, Field(max_length=320)] | None = None
    password: SecretReference | None = None
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0

    @model_validator(mode="after")
    def _credentials_pair(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password: give both or neither")
        return self


class LogConfig(Document):
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
    """A row of ``alert_rules`` (with the columns ``sql/004_alerts.sql`` adds)."""

    id: UUID | None = None
    name: Name200
    description: str | None = None
    environment: Environment
    type: AlertType
    conditions: list[AlertCondition] = Field(min_length=1, max_length=20)
    actions: list[AlertAction] = Field(default_factory=list, max_length=20)
    is_active: bool = True
    frequency: Frequency = "immediate"
    last_triggered: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    severity: Severity = "medium"
    repeat_interval_minutes: Annotated[int, Field(ge=1, le=525_600)] | None = 60

    def metric_mismatches(self) -> list[str]:
        """Conditions whose metric does not belong to the rule's type, as ``field: reason``.

        Not a validator: a row stays loadable whatever its conditions (the SQL does not constrain
        them); :class:`llmops.alerts.AlertRuleManager` refuses such rules when they are added.
        """
        allowed = ALERT_TYPE_METRICS[self.type]
        return [
            f"conditions.{i}.metric: {c.metric!r} is not a metric of {self.type} rules; "
            f"use one of {', '.join(allowed)}"
            for i, c in enumerate(self.conditions)
            if c.metric not in allowed
        ]


class AlertEventDetails(Document):
    """``details`` of an event: the metric values seen, the conditions, the environment.

    Extra keys (``providers`` for per-provider metrics, ``deliveries``) are kept.
    """

    model_config = Document.model_config | {"extra": "allow"}

    metrics: dict[str, float | None] = Field(default_factory=dict)
    conditions: list[AlertCondition] = Field(default_factory=list)
    environment: str | None = None


class AlertEvent(Row):
    """A row of ``alert_events`` (with the bookkeeping columns of ``sql/004_alerts.sql``)."""

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
    last_notified_at: datetime | None = None
    reminder_count: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    acknowledged_at: datetime | None = None
