"""Operating configuration: fallback configs and LLM settings, validated, audited, diffable.

:class:`ConfigService` manages ``llm_fallback_configs`` (one active per environment),
:class:`SettingsService` manages ``llm_settings``; both write an ``llm_config_audit`` row in the
same transaction as every change. Running routers follow the active config through
:class:`llmops.watch.ConfigWatcher`.
"""

from llmops.configs.audit import (
    ACTOR_ENV,
    AuditAction,
    AuditDetails,
    AuditKind,
    AuditRepository,
    ConfigAuditEntry,
    default_actor,
)
from llmops.configs.diff import FieldChange, diff_configs, diff_settings
from llmops.configs.service import ApplyOutcome, ApplyResult, ConfigService
from llmops.configs.settings import SettingsApplyResult, SettingsService

__all__ = [
    "ACTOR_ENV",
    "ApplyOutcome",
    "ApplyResult",
    "AuditAction",
    "AuditDetails",
    "AuditKind",
    "AuditRepository",
    "ConfigAuditEntry",
    "ConfigService",
    "FieldChange",
    "SettingsApplyResult",
    "SettingsService",
    "default_actor",
    "diff_configs",
    "diff_settings",
]
