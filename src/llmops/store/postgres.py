"""PostgresStore: a psycopg_pool pool and one repository per table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from llmops.errors import ConfigError, DatabaseUnavailable
from llmops.store._table import Conn
from llmops.store.migrations import (
    Migration,
    MigrationStatus,
    apply_migrations,
    migration_status,
)
from llmops.store.repositories import (
    ABResultRepository,
    ABTestRepository,
    AlertEventRepository,
    AlertRuleRepository,
    BackupRepository,
    BreakerEventRepository,
    FallbackConfigRepository,
    FallbackLogRepository,
    RestoreLogRepository,
    SettingsRepository,
    UsageLogRepository,
)

__all__ = ["DATABASE_URL_ENV", "PostgresStore", "describe_dsn", "resolve_dsn"]

DATABASE_URL_ENV = "LLMOPS_DATABASE_URL"


def resolve_dsn(dsn: str | None = None) -> str:
    """``dsn`` if given, else ``$LLMOPS_DATABASE_URL``; :class:`ConfigError` when neither is set."""
    value = dsn or os.environ.get(DATABASE_URL_ENV)
    if not value:
        raise ConfigError(
            f"no database configured: pass --database-url or set {DATABASE_URL_ENV} "
            "(for example postgresql://app@localhost:5432/app)"
        )
    try:
        conninfo.conninfo_to_dict(value)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None
    return value


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a DSN: safe to print (no user, no password)."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<invalid database URL>"
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


def _connect_error(dsn: str, exc: BaseException) -> DatabaseUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # psycopg messages name host and port, never the password; keep only the first line.
    return DatabaseUnavailable(f"cannot connect to PostgreSQL at {describe_dsn(dsn)}: {reason}")


class PostgresStore:
    """The database side of llmops: a connection pool and one repository per table.

    Use :meth:`connect`; close with :meth:`close` or a ``with`` block.
    """

    def __init__(self, pool: ConnectionPool[Any], dsn: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self.fallback_configs = FallbackConfigRepository(pool)
        self.fallback_logs = FallbackLogRepository(pool)
        self.ab_tests = ABTestRepository(pool)
        self.ab_results = ABResultRepository(pool)
        self.backups = BackupRepository(pool)
        self.restore_logs = RestoreLogRepository(pool)
        self.alert_rules = AlertRuleRepository(pool)
        self.alert_events = AlertEventRepository(pool)
        self.settings = SettingsRepository(pool)
        self.usage_logs = UsageLogRepository(pool)
        self.breaker_events = BreakerEventRepository(pool)

    @classmethod
    def connect(
        cls,
        dsn: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        migrate: bool = False,
        application_name: str = "llmops",
    ) -> Self:
        """Open a pool to ``dsn`` (or ``$LLMOPS_DATABASE_URL``) and check that it answers.

        Raises :class:`DatabaseUnavailable` with one clear line when the server cannot be
        reached within ``timeout`` seconds.
        """
        dsn = resolve_dsn(dsn)
        if min_size < 1 or max_size < min_size:
            raise ConfigError(
                f"pool sizes: need 1 <= min_size <= max_size, got {min_size}, {max_size}"
            )
        connect_timeout = max(1, int(timeout))
        try:
            with psycopg.connect(dsn, connect_timeout=connect_timeout) as probe:
                probe.execute("SELECT 1")
        except psycopg.Error as exc:
            raise _connect_error(dsn, exc) from None
        pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"application_name": application_name, "connect_timeout": connect_timeout},
            open=False,
            name="llmops",
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            pool.close()
            raise _connect_error(dsn, exc) from None
        store = cls(pool, dsn)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A pooled connection; committed when the block ends without error."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A pooled connection inside one transaction: everything or nothing."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def direct_connection(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """A new connection outside the pool (LISTEN, advisory-lock sessions, migrations)."""
        try:
            return psycopg.connect(self.dsn, autocommit=autocommit)
        except psycopg.Error as exc:
            raise _connect_error(self.dsn, exc) from None

    def migrate(self, directory: Path | None = None) -> list[Migration]:
        """Apply pending migrations (see :mod:`llmops.store.migrations`); returns those applied."""
        with self.direct_connection() as conn:
            return apply_migrations(conn, directory)

    def migration_status(self, directory: Path | None = None) -> MigrationStatus:
        with self.direct_connection() as conn:
            return migration_status(conn, directory)
