"""llm_backups and llm_restore_logs rows, and their JSONB documents (backup_data, restore_report)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from llmops.models.ab import ABTest
from llmops.models.alerts import AlertRule
from llmops.models.common import Document, Name200, NonNegInt4, Row, Str20, Str64
from llmops.models.fallback import FallbackConfig
from llmops.models.settings import LLMSettings

__all__ = [
    "BackupData",
    "BackupStatus",
    "BackupSummary",
    "LLMBackup",
    "LLMRestoreLog",
    "RestoreAction",
    "RestoreChange",
    "RestoreMode",
    "RestoreReport",
    "RestoreResult",
    "SectionReport",
    "UsageStat",
    "VerifyResult",
]

BackupStatus = Literal["pending", "completed", "failed"]
RestoreMode = Literal["merge", "replace"]
RestoreAction = Literal["insert", "update", "replace", "deactivate", "delete"]


class UsageStat(Document):
    """One element of ``usageStats``: usage aggregated per provider/model when the backup was made."""

    provider: str
    model: str
    calls: Annotated[int, Field(ge=0)]
    successes: Annotated[int, Field(ge=0)]
    input_tokens: Annotated[int, Field(ge=0)] = Field(alias="inputTokens")
    output_tokens: Annotated[int, Field(ge=0)] = Field(alias="outputTokens")
    total_cost: Decimal | None = Field(default=None, alias="totalCost")
    first_call: datetime | None = Field(default=None, alias="firstCall")
    last_call: datetime | None = Field(default=None, alias="lastCall")


class BackupData(Document):
    """``backup_data``: the seed's four sections plus ``alertRules``."""

    llm_settings: list[LLMSettings] = Field(default_factory=list, alias="llmSettings")
    fallback_configs: list[FallbackConfig] = Field(default_factory=list, alias="fallbackConfigs")
    ab_tests: list[ABTest] = Field(default_factory=list, alias="abTests")
    usage_stats: list[UsageStat] = Field(default_factory=list, alias="usageStats")
    alert_rules: list[AlertRule] = Field(default_factory=list, alias="alertRules")


class LLMBackup(Row):
    """A row of ``llm_backups``. ``hash`` is the SHA-256 hex of the canonical JSON of
    ``backup_data``; ``data_size`` its length in bytes."""

    id: UUID | None = None
    version: Str20
    environment: Str20
    backup_data: BackupData
    creator: Name200
    description: str | None = None
    data_size: NonNegInt4
    hash: Str64
    status: BackupStatus = "completed"
    created_at: datetime | None = None


class BackupSummary(Row):
    """A row of ``llm_backups`` without its ``backup_data`` (what listings show)."""

    id: UUID
    version: Str20
    environment: Str20
    creator: Name200
    description: str | None = None
    data_size: NonNegInt4
    hash: Str64
    status: BackupStatus
    created_at: datetime | None = None


class VerifyResult(Document):
    """What :meth:`BackupManager.verify` found: the recorded hash and size against the data."""

    ok: bool
    status: BackupStatus
    expected_hash: str = Field(alias="expectedHash")
    actual_hash: str = Field(alias="actualHash")
    expected_size: int = Field(alias="expectedSize")
    actual_size: int = Field(alias="actualSize")
    problems: list[str] = Field(default_factory=list)


class SectionReport(Document):
    """One section of ``restore_report``: the seed's ``restored`` / ``skipped`` / ``errors``,
    plus ``removed`` (rows deleted by a ``replace`` restore)."""

    restored: Annotated[int, Field(ge=0)] = 0
    skipped: Annotated[int, Field(ge=0)] = 0
    removed: Annotated[int, Field(ge=0)] = 0
    errors: list[str] = Field(default_factory=list)


RestoreReport = dict[str, SectionReport]
"""``restore_report``: section name (``llmSettings``, ``fallbackConfigs``, ...) to its report."""


class RestoreChange(Document):
    """One row a restore writes (or, in a dry run, would write)."""

    section: str
    action: RestoreAction
    id: UUID
    label: str
    fields: list[str] = Field(default_factory=list)
    """For ``update``: the columns whose value changes."""


class LLMRestoreLog(Row):
    """A row of ``llm_restore_logs``."""

    id: UUID | None = None
    backup_version: Str20
    backup_timestamp: datetime
    environment: Str20
    restore_report: RestoreReport
    status: BackupStatus = "completed"
    created_at: datetime | None = None


class RestoreResult(Document):
    """The outcome of a restore: the report, each change, and the restore log written (none
    for a dry run)."""

    backup_version: str = Field(alias="backupVersion")
    environment: str
    mode: RestoreMode
    dry_run: bool = Field(alias="dryRun")
    status: BackupStatus
    report: RestoreReport
    changes: list[RestoreChange] = Field(default_factory=list)
    restore_log_id: UUID | None = Field(default=None, alias="restoreLogId")
    notified: bool = False
    """True when the active fallback config changed (routers were notified)."""
