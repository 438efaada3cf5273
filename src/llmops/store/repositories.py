"""One repository per table. Each is a thin shell: models in, models out, bound parameters."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from llmops.errors import ConfigError, NotFound
from llmops.models import (
    ABTest,
    ABTestResult,
    AlertEvent,
    AlertRule,
    BreakerEvent,
    FallbackConfig,
    FallbackLog,
    LLMBackup,
    LLMRestoreLog,
    LLMSettings,
    UsageLog,
)
from llmops.store._table import Conn, Table

__all__ = [
    "CONFIG_CHANNEL",
    "ABResultRepository",
    "ABTestRepository",
    "AlertEventRepository",
    "AlertRuleRepository",
    "BackupRepository",
    "BreakerEventRepository",
    "FallbackConfigRepository",
    "FallbackLogRepository",
    "RestoreLogRepository",
    "SettingsRepository",
    "UsageLogRepository",
    "environment_lock_key",
]

CONFIG_CHANNEL = "llmops_fallback_config"
"""NOTIFY channel: the payload is the environment whose active fallback config changed."""


def environment_lock_key(scope: str, environment: str) -> int:
    """A stable advisory-lock key for (scope, environment)."""
    digest = hashlib.sha256(f"llmops.{scope}.{environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class FallbackConfigRepository(Table[FallbackConfig]):
    """``llm_fallback_configs``: at most one active row per environment."""

    table = "llm_fallback_configs"
    model = FallbackConfig
    json_columns = frozenset({"fallback_providers"})

    def get_active(self, environment: str, *, conn: Conn | None = None) -> FallbackConfig | None:
        rows = self.select({"environment": environment, "is_active": True}, conn=conn)
        return rows[0] if rows else None

    def create(self, config: FallbackConfig, *, conn: Conn | None = None) -> FallbackConfig:
        """Insert a config; an active one replaces the environment's active config atomically."""
        with self._conn(conn) as c, c.transaction():
            if config.is_active:
                self._lock_environment(c, config.environment)
                self._deactivate_others(c, config.environment, None)
            stored = self.insert(config, conn=c)
            if config.is_active:
                self._notify(c, config.environment)
            return stored

    def activate(self, id: uuid.UUID, *, conn: Conn | None = None) -> FallbackConfig:
        """Make ``id`` the active config of its environment, deactivating the previous one in the
        same transaction. Concurrent activations in one environment are serialised by an
        advisory lock, so the seed's partial unique index never sees two active rows."""
        with self._conn(conn) as c, c.transaction():
            target = self.get(id, conn=c)
            self._lock_environment(c, target.environment)
            self._deactivate_others(c, target.environment, id)
            activated = self.update(id, {"is_active": True}, conn=c)
            self._notify(c, target.environment)
            return activated

    def deactivate(self, id: uuid.UUID, *, conn: Conn | None = None) -> FallbackConfig:
        with self._conn(conn) as c, c.transaction():
            updated = self.update(id, {"is_active": False}, conn=c)
            self._notify(c, updated.environment)
            return updated

    def delete_inactive(self, id: uuid.UUID, *, conn: Conn | None = None) -> bool:
        """Delete a config unless it is the active one (:class:`ConfigError` then)."""
        with self._conn(conn) as c, c.transaction():
            rows = self.select({"id": id}, for_update=True, conn=c)
            if not rows:
                raise NotFound(f"{self.table}: no row with id {id}")
            if rows[0].is_active:
                raise ConfigError(
                    f"fallback config {id} is the active config of {rows[0].environment}; "
                    "activate another one before deleting it"
                )
            return self.delete(id, conn=c)

    @staticmethod
    def _lock_environment(c: Conn, environment: str) -> None:
        c.execute(
            "SELECT pg_advisory_xact_lock(%s)", (environment_lock_key("fallback", environment),)
        )

    def _deactivate_others(self, c: Conn, environment: str, keep: uuid.UUID | None) -> None:
        c.execute(
            sql.SQL(
                "UPDATE {} SET is_active = false WHERE environment = %s AND is_active "
                "AND id IS DISTINCT FROM %s"
            ).format(sql.Identifier(self.table)),
            (environment, keep),
        )

    @staticmethod
    def _notify(c: Conn, environment: str) -> None:
        c.execute("SELECT pg_notify(%s, %s)", (CONFIG_CHANNEL, environment))


class FallbackLogRepository(Table[FallbackLog]):
    """``llm_fallback_logs``: written in batches by the background writer."""

    table = "llm_fallback_logs"
    model = FallbackLog
    json_columns = frozenset({"attempted_providers"})


class ABTestRepository(Table[ABTest]):
    """``ab_tests``."""

    table = "ab_tests"
    model = ABTest
    json_columns = frozenset({"variants", "traffic_split", "metrics"})

    def find_by_name(
        self, name: str, environment: str | None = None, *, conn: Conn | None = None
    ) -> list[ABTest]:
        where: dict[str, Any] = {"name": name}
        if environment is not None:
            where["environment"] = environment
        return self.select(where, conn=conn)


class ABResultRepository(Table[ABTestResult]):
    """``ab_test_results``: written in batches by the background writer."""

    table = "ab_test_results"
    model = ABTestResult


class BackupRepository(Table[LLMBackup]):
    """``llm_backups``."""

    table = "llm_backups"
    model = LLMBackup
    json_columns = frozenset({"backup_data"})
    server_defaults = frozenset({"id", "created_at"})


class RestoreLogRepository(Table[LLMRestoreLog]):
    """``llm_restore_logs``."""

    table = "llm_restore_logs"
    model = LLMRestoreLog
    json_columns = frozenset({"restore_report"})
    server_defaults = frozenset({"id", "created_at"})


class AlertRuleRepository(Table[AlertRule]):
    """``alert_rules``."""

    table = "alert_rules"
    model = AlertRule
    json_columns = frozenset({"conditions", "actions"})


class AlertEventRepository(Table[AlertEvent]):
    """``alert_events``."""

    table = "alert_events"
    model = AlertEvent
    json_columns = frozenset({"details"})
    server_defaults = frozenset({"id"})


class SettingsRepository(Table[LLMSettings]):
    """``llm_settings``: one row per (environment, provider, model)."""

    table = "llm_settings"
    model = LLMSettings
    json_columns = frozenset({"parameters"})

    def upsert(self, item: LLMSettings, *, conn: Conn | None = None) -> LLMSettings:
        """Insert, or update the row with the same (environment, provider, model)."""
        row = self.to_row(item)
        row.pop("id", None)
        cols = list(row)
        updates = [c for c in cols if c not in ("environment", "provider", "model", "created_at")]
        query = sql.SQL(
            "INSERT INTO {t} ({cols}) VALUES ({vals}) "
            "ON CONFLICT (environment, provider, model) DO UPDATE SET {sets} RETURNING {ret}"
        ).format(
            t=sql.Identifier(self.table),
            cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
            ),
            ret=sql.SQL(", ").join(map(sql.Identifier, self.columns)),
        )
        with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            cur.execute(query, list(row.values()))
            stored = cur.fetchone()
        assert stored is not None
        return self.from_row(stored)


class UsageLogRepository(Table[UsageLog]):
    """``llm_usage_logs``: written in batches by the background writer."""

    table = "llm_usage_logs"
    model = UsageLog
    server_defaults = frozenset({"id", "created_at"})


class BreakerEventRepository(Table[BreakerEvent]):
    """``llm_circuit_breaker_events``."""

    table = "llm_circuit_breaker_events"
    model = BreakerEvent
    server_defaults = frozenset({"id", "created_at"})
