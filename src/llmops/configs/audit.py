"""The audit trail (``llm_config_audit``, ``sql/005_config_audit.sql``): who changed what, when."""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, JsonValue

from llmops.configs.diff import FieldChange
from llmops.models.common import Document, Environment, Row
from llmops.store._table import Conn, Table

__all__ = [
    "ACTOR_ENV",
    "AuditAction",
    "AuditDetails",
    "AuditKind",
    "AuditRepository",
    "ConfigAuditEntry",
    "default_actor",
    "snapshot",
]

ACTOR_ENV = "LLMOPS_ACTOR"

AuditKind = Literal["fallback_config", "llm_settings"]
AuditAction = Literal["create", "update", "activate", "deactivate", "delete"]
Actor = Annotated[str, Field(min_length=1, max_length=200)]


def snapshot(row: BaseModel) -> dict[str, JsonValue]:
    """A row as the audit trail keeps it: JSON values, no timestamps, no unset fields."""
    dumped: dict[str, JsonValue] = row.model_dump(
        mode="json", exclude={"created_at", "updated_at"}, exclude_none=True
    )
    return dumped


def default_actor() -> str:
    """``$LLMOPS_ACTOR``, else the OS user name, else ``unknown``."""
    explicit = os.environ.get(ACTOR_ENV, "").strip()
    if explicit:
        return explicit[:200]
    try:
        return getpass.getuser()[:200] or "unknown"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "unknown"


class AuditDetails(Document):
    """What changed: the row before and after (None when created / deleted) and the field diff.

    ``previous_id`` is the config that was active before an ``activate``.
    """

    before: dict[str, JsonValue] | None = None
    after: dict[str, JsonValue] | None = None
    changes: list[FieldChange] = Field(default_factory=list)
    previous_id: UUID | None = None


class ConfigAuditEntry(Row):
    """A row of ``llm_config_audit``."""

    id: UUID | None = None
    kind: AuditKind
    config_id: UUID
    environment: Environment
    action: AuditAction
    actor: Actor
    details: AuditDetails = Field(default_factory=AuditDetails)
    created_at: datetime | None = None


class AuditRepository(Table[ConfigAuditEntry]):
    """``llm_config_audit``: appended to in the same transaction as the change it records."""

    table = "llm_config_audit"
    model = ConfigAuditEntry
    json_columns = frozenset({"details"})
    server_defaults = frozenset({"id", "created_at"})

    def history(
        self,
        *,
        environment: str | None = None,
        config_id: UUID | None = None,
        kind: AuditKind | None = None,
        limit: int = 50,
        conn: Conn | None = None,
    ) -> list[ConfigAuditEntry]:
        """The newest entries first, optionally for one environment, row or kind."""
        where: dict[str, object] = {}
        if environment is not None:
            where["environment"] = environment
        if config_id is not None:
            where["config_id"] = config_id
        if kind is not None:
            where["kind"] = kind
        return self.select(
            where or None, order_by=(("created_at", "DESC"),), limit=limit, conn=conn
        )
