"""The database layer: PostgresStore, repositories, the migration runner."""

from llmops.store.migrations import Migration, MigrationStatus
from llmops.store.postgres import DATABASE_URL_ENV, PostgresStore, describe_dsn, resolve_dsn

__all__ = [
    "DATABASE_URL_ENV",
    "Migration",
    "MigrationStatus",
    "PostgresStore",
    "describe_dsn",
    "resolve_dsn",
]
