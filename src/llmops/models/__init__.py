"""Pydantic models of every table row and JSONB document llmops reads or writes.

Rows are frozen value objects; JSONB documents use the seed's keys (camelCase where the seed
uses it) when serialised, and accept either spelling when parsed.
"""

from llmops.models.ab import (
    ABMetric,
    ABMetrics,
    ABResultQuality,
    ABTest,
    ABTestResult,
    ABVariant,
    TrafficSplit,
    VariantConfig,
)
from llmops.models.alerts import (
    Aggregation,
    AlertAction,
    AlertCondition,
    AlertEvent,
    AlertEventDetails,
    AlertEventStatus,
    AlertRule,
    AlertType,
    EmailAction,
    Frequency,
    LogAction,
    Operator,
    Severity,
    SlackAction,
    WebhookAction,
)
from llmops.models.backup import (
    BackupData,
    BackupStatus,
    LLMBackup,
    LLMRestoreLog,
    RestoreReport,
    SectionReport,
    UsageStat,
)
from llmops.models.common import Environment
from llmops.models.fallback import (
    AttemptOutcome,
    FallbackAttempt,
    FallbackConfig,
    FallbackLog,
    FallbackTarget,
    TargetConfig,
)
from llmops.models.settings import BreakerEvent, BreakerState, LLMSettings, SecretRef, UsageLog

__all__ = [
    "ABMetric",
    "ABMetrics",
    "ABResultQuality",
    "ABTest",
    "ABTestResult",
    "ABVariant",
    "Aggregation",
    "AlertAction",
    "AlertCondition",
    "AlertEvent",
    "AlertEventDetails",
    "AlertEventStatus",
    "AlertRule",
    "AlertType",
    "AttemptOutcome",
    "BackupData",
    "BackupStatus",
    "BreakerEvent",
    "BreakerState",
    "EmailAction",
    "Environment",
    "FallbackAttempt",
    "FallbackConfig",
    "FallbackLog",
    "FallbackTarget",
    "Frequency",
    "LLMBackup",
    "LLMRestoreLog",
    "LLMSettings",
    "LogAction",
    "Operator",
    "RestoreReport",
    "SecretRef",
    "SectionReport",
    "Severity",
    "SlackAction",
    "TargetConfig",
    "TrafficSplit",
    "UsageLog",
    "UsageStat",
    "VariantConfig",
    "WebhookAction",
]
