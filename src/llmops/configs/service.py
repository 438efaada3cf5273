"""ConfigService: fallback configs applied, activated, compared and deleted, with an audit row each.

Every change runs in one transaction together with its audit row, after validation
(:mod:`llmops.validation`) has accepted the document: a refused document leaves the database
exactly as it was. Activation swaps the environment's active config in one transaction; the
database then notifies every watching router (``sql/005_config_audit.sql``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
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
from llmops.configs.diff import FieldChange, diff_configs
from llmops.errors import ConfigError, NotFound
from llmops.models import FallbackConfig
from llmops.providers.registry import ProviderRegistry
from llmops.store import PostgresStore
from llmops.store._table import Conn
from llmops.store.repositories import environment_lock_key
from llmops.validation import ConfigValidationError, check_fallback_config, parse_fallback_config

__all__ = ["ApplyOutcome", "ApplyResult", "ConfigService"]

ApplyOutcome = Literal["created", "updated", "unchanged"]

# columns an apply may change on an existing row (identity and timestamps are the database's)
_MUTABLE = (
    "primary_provider",
    "primary_model",
    "fallback_providers",
    "max_retries",
    "retry_delay",
    "circuit_breaker_threshold",
    "circuit_breaker_reset_time",
)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an apply did: the stored row, whether it was created or updated, and the diff."""

    config: FallbackConfig
    outcome: ApplyOutcome
    changes: tuple[FieldChange, ...] = field(default=())
    activated: bool = False


class ConfigService:
    """Operations on ``llm_fallback_configs``; ``actor`` defaults to :func:`default_actor`."""

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

    # -- reading ----------------------------------------------------------------------------

    def list(self, environment: str | None = None) -> list[FallbackConfig]:
        """Configs, active first within each environment, newest first."""
        where = {"environment": environment} if environment else None
        return self.store.fallback_configs.select(
            where,
            order_by=(("environment", "ASC"), ("is_active", "DESC"), ("created_at", "DESC")),
        )

    def get(self, id: UUID) -> FallbackConfig:
        return self.store.fallback_configs.get(id)

    def active(self, environment: str) -> FallbackConfig | None:
        return self.store.fallback_configs.get_active(environment)

    def diff(self, before_id: UUID, after_id: UUID) -> builtins.list[FieldChange]:
        """What would change if ``after_id`` replaced ``before_id``."""
        return diff_configs(self.get(before_id), self.get(after_id))

    def history(
        self,
        *,
        environment: str | None = None,
        config_id: UUID | None = None,
        limit: int = 50,
    ) -> builtins.list[ConfigAuditEntry]:
        """Audit entries of fallback configs, newest first."""
        return self.audit.history(
            environment=environment, config_id=config_id, kind="fallback_config", limit=limit
        )

    # -- changing ---------------------------------------------------------------------------

    def validate(self, document: Mapping[str, object] | FallbackConfig) -> FallbackConfig:
        """The config a document describes, or :class:`ConfigValidationError` naming each field."""
        return parse_fallback_config(document, registry=self.registry)

    def apply(
        self,
        document: Mapping[str, object] | FallbackConfig,
        *,
        activate: bool = False,
        actor: str | None = None,
    ) -> ApplyResult:
        """Create a config, or update the one whose ``id`` the document names.

        The new or updated row is not active unless ``activate`` is set or the document says
        ``"is_active": true``; an update of the active row takes effect at once.
        """
        config = self.validate(document)
        if "is_active" in config.model_fields_set:
            if activate and not config.is_active:
                raise ConfigError("is_active: false contradicts --activate")
            activate = activate or config.is_active
        who = actor or self.actor
        repo = self.store.fallback_configs
        with self.store.transaction() as c:
            existing = None
            if config.id is not None:
                rows = repo.select({"id": config.id}, for_update=True, conn=c)
                existing = rows[0] if rows else None
            if existing is None:
                stored = repo.insert(config.model_copy(update={"is_active": False}), conn=c)
                changes = diff_configs(None, stored)
                self._record(c, stored, "create", who, AuditDetails(after=snapshot(stored)))
                outcome: ApplyOutcome = "created"
            else:
                if (
                    existing.is_active
                    and "is_active" in config.model_fields_set
                    and not (config.is_active)
                ):
                    raise ConfigError(
                        f"is_active: config {existing.id} is the active config of "
                        f"{existing.environment}; activate another config instead of "
                        "switching this one off"
                    )
                if existing.environment != config.environment:
                    raise ConfigError(
                        f"environment: config {existing.id} belongs to {existing.environment}; "
                        f"leave out 'id' to create a new config for {config.environment}"
                    )
                changes = diff_configs(existing, config)
                stored, outcome = existing, "unchanged"
                if changes:
                    assert existing.id is not None
                    stored = repo.update(
                        existing.id,
                        {col: getattr(config, col) for col in _MUTABLE},
                        conn=c,
                    )
                    details = AuditDetails(
                        before=snapshot(existing), after=snapshot(stored), changes=changes
                    )
                    self._record(c, stored, "update", who, details)
                    outcome = "updated"
            activated = False
            if activate and not stored.is_active:
                stored = self._activate(c, stored, who)
                activated = True
        return ApplyResult(stored, outcome, tuple(changes), activated)

    def activate(self, id: UUID, *, actor: str | None = None) -> FallbackConfig:
        """Make ``id`` the active config of its environment (a no-op if it already is).

        The stored row is validated again first: a row written by other means that would not
        route is refused here, before any router sees it.
        """
        with self.store.transaction() as c:
            target = self.store.fallback_configs.get(id, conn=c)
            if target.is_active:
                return target
            return self._activate(c, target, actor or self.actor)

    def delete(self, id: UUID, *, actor: str | None = None) -> FallbackConfig:
        """Delete an inactive config; refused (:class:`ConfigError`) for the active one."""
        with self.store.transaction() as c:
            rows = self.store.fallback_configs.select({"id": id}, for_update=True, conn=c)
            if not rows:
                raise NotFound(f"fallback config {id} does not exist")
            self.store.fallback_configs.delete_inactive(id, conn=c)
            self._record(
                c, rows[0], "delete", actor or self.actor, AuditDetails(before=snapshot(rows[0]))
            )
            return rows[0]

    # -- plumbing ---------------------------------------------------------------------------

    def _activate(self, c: Conn, target: FallbackConfig, actor: str) -> FallbackConfig:
        problems = check_fallback_config(target, registry=self.registry)
        if problems:
            raise ConfigValidationError([f"config {target.id}: {p}" for p in problems])
        assert target.id is not None
        # the same lock the repository takes, taken first so `previous` is really the previous
        c.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            (environment_lock_key("fallback", target.environment),),
        )
        previous = self.store.fallback_configs.get_active(target.environment, conn=c)
        activated = self.store.fallback_configs.activate(target.id, conn=c)
        details = AuditDetails(
            previous_id=previous.id if previous else None,
            changes=diff_configs(previous, activated),
        )
        self._record(c, activated, "activate", actor, details)
        return activated

    def _record(
        self,
        c: Conn,
        config: FallbackConfig,
        action: Literal["create", "update", "activate", "delete"],
        actor: str,
        details: AuditDetails,
    ) -> None:
        assert config.id is not None
        entry = ConfigAuditEntry(
            kind="fallback_config",
            config_id=config.id,
            environment=config.environment,
            action=action,
            actor=actor,
            details=details,
        )
        self.audit.insert(entry, conn=c)
