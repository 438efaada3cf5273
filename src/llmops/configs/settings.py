"""SettingsService: ``llm_settings`` rows applied, listed and deleted, with an audit row each.

A settings row is keyed by (environment, provider, model); applying a document for an existing
key updates that row. A file may hold one document or a list, applied in one transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from llmops.configs.audit import (
    AuditDetails,
    AuditRepository,
    ConfigAuditEntry,
    default_actor,
    snapshot,
)
from llmops.configs.diff import FieldChange, diff_settings
from llmops.errors import ConfigError, NotFound
from llmops.models import LLMSettings
from llmops.providers.registry import ProviderRegistry
from llmops.store import PostgresStore
from llmops.store._table import Conn
from llmops.validation import ConfigValidationError, parse_settings

__all__ = ["SettingsApplyResult", "SettingsService"]


@dataclass(frozen=True, slots=True)
class SettingsApplyResult:
    """One applied settings document: the stored row, what happened and the diff."""

    settings: LLMSettings
    outcome: Literal["created", "updated", "unchanged"]
    changes: tuple[FieldChange, ...] = field(default=())


class SettingsService:
    """Operations on ``llm_settings``; ``actor`` defaults to :func:`default_actor`."""

    def __init__(
        self,
        store: PostgresStore,
        *,
        registry: ProviderRegistry | None = None,
        actor: str | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.actor = actor or default_actor()
        self.audit = AuditRepository(store.pool)

    def list(self, environment: str | None = None) -> list[LLMSettings]:
        where = {"environment": environment} if environment else None
        return self.store.settings.select(
            where, order_by=(("environment", "ASC"), ("provider", "ASC"), ("model", "ASC"))
        )

    def get(self, id: UUID) -> LLMSettings:
        return self.store.settings.get(id)

    def history(
        self, *, environment: str | None = None, limit: int = 50
    ) -> builtins.list[ConfigAuditEntry]:
        return self.audit.history(environment=environment, kind="llm_settings", limit=limit)

    def validate(
        self, documents: Mapping[str, object] | Sequence[Mapping[str, object]]
    ) -> builtins.list[LLMSettings]:
        """The settings the documents describe; problems name ``N.field`` for list item N."""
        if isinstance(documents, Mapping):
            return [parse_settings(documents, registry=self.registry)]
        if not documents:
            raise ConfigError("settings: the document list is empty")
        parsed, problems = [], []
        for i, doc in enumerate(documents):
            try:
                parsed.append(parse_settings(doc, registry=self.registry))
            except ConfigValidationError as exc:
                problems += [f"{i}.{p}" for p in exc.problems]
        keys = [(s.environment, s.provider, s.model) for s in parsed]
        dupes = sorted({"/".join(k) for k in keys if keys.count(k) > 1})
        problems += [f"{d}: appears more than once in the file" for d in dupes]
        if problems:
            raise ConfigValidationError(problems)
        return parsed

    def apply(
        self,
        documents: Mapping[str, object] | Sequence[Mapping[str, object]],
        *,
        actor: str | None = None,
    ) -> builtins.list[SettingsApplyResult]:
        """Insert or update each document's row, all in one transaction."""
        items = self.validate(documents)
        who = actor or self.actor
        results = []
        with self.store.transaction() as c:
            for item in items:
                rows = self.store.settings.select(
                    {
                        "environment": item.environment,
                        "provider": item.provider,
                        "model": item.model,
                    },
                    for_update=True,
                    conn=c,
                )
                before = rows[0] if rows else None
                changes = diff_settings(before, item)
                if before is not None and not changes:
                    results.append(SettingsApplyResult(before, "unchanged"))
                    continue
                stored = self.store.settings.upsert(item.model_copy(update={"id": None}), conn=c)
                action: Literal["create", "update"] = "update" if before else "create"
                details = AuditDetails(
                    before=snapshot(before) if before else None,
                    after=snapshot(stored),
                    changes=changes if before else [],
                )
                self._record(c, stored, action, who, details)
                results.append(
                    SettingsApplyResult(stored, "updated" if before else "created", tuple(changes))
                )
        return results

    def delete(self, id: UUID, *, actor: str | None = None) -> LLMSettings:
        with self.store.transaction() as c:
            rows = self.store.settings.select({"id": id}, for_update=True, conn=c)
            if not rows:
                raise NotFound(f"llm_settings {id} does not exist")
            self.store.settings.delete(id, conn=c)
            self._record(
                c, rows[0], "delete", actor or self.actor, AuditDetails(before=snapshot(rows[0]))
            )
            return rows[0]

    def _record(
        self,
        c: Conn,
        settings: LLMSettings,
        action: Literal["create", "update", "delete"],
        actor: str,
        details: AuditDetails,
    ) -> None:
        assert settings.id is not None
        self.audit.insert(
            ConfigAuditEntry(
                kind="llm_settings",
                config_id=settings.id,
                environment=settings.environment,
                action=action,
                actor=actor,
                details=details,
            ),
            conn=c,
        )
