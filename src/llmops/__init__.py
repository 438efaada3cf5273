"""llmops: fallback chains, retries, circuit breakers, A/B tests, backups and alerts for LLM
calls, persisted in PostgreSQL.

The public surface is listed by hand in ``__all__``; ``tests/test_exported_members.py`` proves
every name is importable and that nothing public is missing.
"""

from llmops._version import __version__
from llmops.ab import ABAssigner, ABReport, ABTestManager
from llmops.alerts import AlertEngine, AlertRuleManager, ImmediateAlerts
from llmops.backup import BackupManager
from llmops.breaker import BreakerTransition, CircuitBreaker, TargetHealth
from llmops.completion import Completion, Usage
from llmops.configs import ConfigService, SettingsService
from llmops.errors import (
    AllProvidersFailed,
    AuthenticationFailed,
    BadRequest,
    CircuitOpen,
    ConfigError,
    ContentFiltered,
    ContextWindowExceeded,
    DatabaseUnavailable,
    DeadlineExceeded,
    IntegrityError,
    LLMOpsError,
    MalformedResponse,
    MigrationChecksumMismatch,
    MigrationError,
    NotFound,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    StoreError,
)
from llmops.models import (
    ABTest,
    ABTestResult,
    AlertEvent,
    AlertRule,
    FallbackAttempt,
    FallbackConfig,
    FallbackLog,
    FallbackTarget,
    LLMBackup,
    LLMRestoreLog,
    LLMSettings,
    TargetConfig,
    UsageLog,
)
from llmops.pricing import ModelPrice, PriceTable, UnknownModelPriceWarning
from llmops.providers.registry import register_provider
from llmops.retention import RetentionPolicy, RetentionReport, run_retention
from llmops.retry import RetryPolicy
from llmops.router import AsyncLLMRouter, LLMRouter, RouterHealth
from llmops.store import PostgresStore
from llmops.store.writer import LogWriter, WriterStats
from llmops.validation import ConfigValidationError
from llmops.watch import ConfigWatcher

__all__ = [
    "ABAssigner",
    "ABReport",
    "ABTest",
    "ABTestManager",
    "ABTestResult",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "AlertRuleManager",
    "AllProvidersFailed",
    "AsyncLLMRouter",
    "AuthenticationFailed",
    "BackupManager",
    "BadRequest",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitOpen",
    "Completion",
    "ConfigError",
    "ConfigService",
    "ConfigValidationError",
    "ConfigWatcher",
    "ContentFiltered",
    "ContextWindowExceeded",
    "DatabaseUnavailable",
    "DeadlineExceeded",
    "FallbackAttempt",
    "FallbackConfig",
    "FallbackLog",
    "FallbackTarget",
    "ImmediateAlerts",
    "IntegrityError",
    "LLMBackup",
    "LLMOpsError",
    "LLMRestoreLog",
    "LLMRouter",
    "LLMSettings",
    "LogWriter",
    "MalformedResponse",
    "MigrationChecksumMismatch",
    "MigrationError",
    "ModelPrice",
    "NotFound",
    "PostgresStore",
    "PriceTable",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "RetentionPolicy",
    "RetentionReport",
    "RetryPolicy",
    "RouterHealth",
    "SettingsService",
    "StoreError",
    "TargetConfig",
    "TargetHealth",
    "UnknownModelPriceWarning",
    "Usage",
    "UsageLog",
    "WriterStats",
    "__version__",
    "register_provider",
    "run_retention",
]
