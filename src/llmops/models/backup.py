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
    "LLMBackup",
    "LLMRestoreLog",
    "RestoreReport",
    "SectionReport",
    "UsageStat",
]

BackupStatus = Literal["pending", "completed", "failed"]


class UsageStat(Document):
    """One element of ``usageStats``: usage aggregated per provider/model when the backup was made."""

    provider: str
    model: str
    calls: Annotated[int, Field(ge=0)]
    successes: Annotated[int, Field(ge=0)]
    input_tokens: Annotated[int, Field(ge=0)] = Field(alias="inputTokens")
    output_tokens: Annotated[int, Field(ge=0)] = Field(alias="outputTokens")
    total_cost: Decimal | None = Field(alias="totalCost")
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


class SectionReport(Document):
    """One section of ``restore_report``."""

    restored: Annotated[int, Field(ge=0)] = 0
    skipped: Annotated[int, Field(ge=0)] = 0
    errors: list[str] = Field(default_factory=list)


RestoreReport = dict[str, SectionReport]
"""``restore_report``: section name (``llmSettings``, ``fallbackConfigs``, ...) to its report."""


class LLMRestoreLog(Row):
    """A row of ``llm_restore_logs``."""

    id: UUID | None = None
    backup_version: Str20
    backup_timestamp: datetime
    environment: Str20
    restore_report: RestoreReport
    status: BackupStatus = "completed"
    created_at: datetime | None = None
