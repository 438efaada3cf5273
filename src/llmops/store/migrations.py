"""The migration runner: numbered ``sql/NNN_name.sql`` files applied in order, exactly once.

* Applied versions are recorded with the SHA-256 of the file in ``llmops_schema_migrations``.
* Each migration runs in its own transaction: it applies whole or not at all.
* A session-level advisory lock serialises concurrent runners (several app replicas starting
  at once): the first applies, the others wait, then find nothing pending.
* A file whose checksum differs from the recorded one is refused: history is never rewritten.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from llmops.errors import MigrationChecksumMismatch, MigrationError

__all__ = [
    "MIGRATIONS_TABLE",
    "AppliedMigration",
    "Migration",
    "MigrationStatus",
    "apply_migrations",
    "default_migrations_dir",
    "discover_migrations",
    "migration_status",
]

MIGRATIONS_TABLE = "llmops_schema_migrations"
# pg_advisory_lock key: the first 8 bytes of sha256("llmops.migrate"), as a signed bigint.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"llmops.migrate").digest()[:8], "big", signed=True)
_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """A migration file: ``version`` from its number, ``checksum`` the SHA-256 of its bytes."""

    version: int
    name: str
    path: Path
    checksum: str

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """What ``llmops migrate --status`` shows."""

    applied: tuple[AppliedMigration, ...]
    pending: tuple[Migration, ...]
    changed: tuple[Migration, ...]


def default_migrations_dir() -> Path:
    """``llmops/sql`` inside an installed wheel, else ``sql/`` of the source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "sql", here.parent.parent / "sql"):
        if candidate.is_dir() and any(candidate.glob("*.sql")):
            return candidate
    raise MigrationError(
        f"no migrations found next to {here} (looked for llmops/sql and ../../sql)"
    )


def discover_migrations(directory: Path | None = None) -> list[Migration]:
    """The migration files of ``directory``, ordered by version; refuses gaps and duplicates."""
    directory = directory or default_migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(
                f"{path.name}: version {version} also used by {found[version].path.name}"
            )
        found[version] = Migration(
            version=version,
            name=m.group(2),
            path=path,
            checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
    return [found[v] for v in sorted(found)]


def _ensure_table(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {} (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum CHAR(64) NOT NULL,
                applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
            )"""
        ).format(sql.Identifier(MIGRATIONS_TABLE))
    )


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, AppliedMigration]:
    exists = conn.execute("SELECT to_regclass(%s)", (MIGRATIONS_TABLE,)).fetchone()
    if not exists or exists[0] is None:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT version, name, checksum, applied_at FROM {} ORDER BY version").format(
            sql.Identifier(MIGRATIONS_TABLE)
        )
    ).fetchall()
    return {
        int(r[0]): AppliedMigration(int(r[0]), str(r[1]), str(r[2]), r[3])  # type: ignore[call-overload, arg-type]
        for r in rows
    }


def _status(applied: dict[int, AppliedMigration], migrations: list[Migration]) -> MigrationStatus:
    changed = tuple(
        m for m in migrations if m.version in applied and applied[m.version].checksum != m.checksum
    )
    pending = tuple(m for m in migrations if m.version not in applied)
    return MigrationStatus(tuple(applied.values()), pending, changed)


def migration_status(
    conn: psycopg.Connection[tuple[object, ...]], directory: Path | None = None
) -> MigrationStatus:
    """Applied, pending and changed migrations; reads only."""
    return _status(_applied(conn), discover_migrations(directory))


def apply_migrations(
    conn: psycopg.Connection[tuple[object, ...]], directory: Path | None = None
) -> list[Migration]:
    """Apply every pending migration, in order, each in its own transaction.

    ``conn`` must be in autocommit mode (the advisory lock is held for the session).
    Returns the migrations this call applied (empty when another runner did the work).
    """
    if not conn.autocommit:
        raise MigrationError("apply_migrations needs a connection in autocommit mode")
    migrations = discover_migrations(directory)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        _ensure_table(conn)
        status = _status(_applied(conn), migrations)
        if status.changed:
            names = ", ".join(m.path.name for m in status.changed)
            raise MigrationChecksumMismatch(
                f"already-applied migration(s) changed since they were applied: {names}; "
                "add a new migration instead of editing an applied one"
            )
        done: list[Migration] = []
        for migration in status.pending:
            try:
                with conn.transaction():
                    conn.execute(migration.read().encode())
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)"
                        ).format(sql.Identifier(MIGRATIONS_TABLE)),
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"{migration.path.name}: {exc}") from exc
            done.append(migration)
        return done
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
