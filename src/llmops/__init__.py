"""llmops: fallback chains, retries, circuit breakers, A/B tests, backups and alerts for LLM
calls, persisted in PostgreSQL.

The public surface is listed by hand in ``__all__``; ``tests/test_exported_members.py`` proves
every name is importable and that nothing public is missing.
"""

from llmops._version import __version__
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
from llmops.store import PostgresStore

__all__ = [
    "ABTest",
    "ABTestResult",
    "AlertEvent",
    "AlertRule",
    "AllProvidersFailed",
    "AuthenticationFailed",
    "BadRequest",
    "CircuitOpen",
    "ConfigError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "DatabaseUnavailable",
    "DeadlineExceeded",
    "FallbackAttempt",
    "FallbackConfig",
    "FallbackLog",
    "FallbackTarget",
    "IntegrityError",
    "LLMBackup",
    "LLMOpsError",
    "LLMRestoreLog",
    "LLMSettings",
    "MalformedResponse",
    "MigrationChecksumMismatch",
    "MigrationError",
    "NotFound",
    "PostgresStore",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "StoreError",
    "TargetConfig",
    "UsageLog",
    "__version__",
]
