"""BackupManager: create, list, show, verify, export, import and restore backups.

A backup is one ``llm_backups`` row holding one environment's configuration (see
:mod:`llmops.backup`). Creating one:

1. reads every section in one REPEATABLE READ, READ ONLY transaction (one snapshot);
2. sends the document through ``jsonb`` once and hashes its canonical JSON; under an advisory
   lock per environment, allocates the next version and inserts the row as ``pending``;
3. reads the stored ``backup_data`` back, recomputes hash and size, and marks the row
   ``completed`` -- or ``failed`` (and raises) when they differ. Only completed backups restore.

``version`` is the UTC creation time as ``YYYYMMDDHHMMSSffffff`` (20 digits, sorts as text);
a version already taken in the environment (two backups in one microsecond, a clock going
back) is bumped by one, and a unique index on ``(environment, version)`` backs that up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from llmops.backup.canonical import digest, normalise
from llmops.backup.files import RawBackup, integrity_problems, read_backup_file, write_backup_file
from llmops.backup.restore import LoadedBackup, ProgressCallback, run_restore
from llmops.backup.snapshot import read_sections
from llmops.errors import ConfigError, IntegrityError, NotFound
from llmops.models.backup import (
    BackupData,
    BackupSummary,
    LLMBackup,
    RestoreMode,
    RestoreResult,
    VerifyResult,
)
from llmops.models.common import Environment, Name200
from llmops.store import PostgresStore
from llmops.store._table import Conn
from llmops.store.repositories import environment_lock_key

__all__ = ["CREATE_STEPS", "BackupManager", "format_version"]

CREATE_STEPS = 3
"""Steps :meth:`BackupManager.create` reports to ``on_progress``: read, write, verify."""

_META = "id, version, environment, creator, description, data_size, hash, status, created_at"
_ENVIRONMENT: TypeAdapter[Environment] = TypeAdapter(Environment)
_CREATOR: TypeAdapter[str] = TypeAdapter(Name200)


def format_version(moment: datetime) -> str:
    """The 20-digit version of a UTC moment: ``YYYYMMDDHHMMSSffffff``."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")


class BackupManager:
    """Backups of one store. ``clock`` (UTC ``datetime``) is injectable for tests."""

    def __init__(
        self, store: PostgresStore, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- create -------------------------------------------------------------------------------

    def create(
        self,
        environment: str,
        creator: str,
        description: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> LLMBackup:
        """Back up ``environment``; returns the completed row (see the module docstring)."""
        env = _ENVIRONMENT.validate_python(environment)
        who = _CREATOR.validate_python(creator)
        step = on_progress or (lambda _label, _done, _total: None)
        with self.store.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            data = read_sections(self.store, conn, env)
        step("read", 1, CREATE_STEPS)
        with self.store.transaction() as conn:
            value = normalise(conn, data.model_dump(mode="json", by_alias=True))
            d = digest(value)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (environment_lock_key("backup", env),))
            version = self._next_version(conn, env)
            row = conn.execute(
                "INSERT INTO llm_backups (version, environment, backup_data, creator, "
                "description, data_size, hash, status) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') RETURNING id",
                (version, env, Jsonb(value), who, description, d.size, d.hash),
            ).fetchone()
        assert row is not None
        backup_id: UUID = row[0]
        step("write", 2, CREATE_STEPS)
        self._complete(backup_id)
        step("verify", 3, CREATE_STEPS)
        return self.store.backups.get(backup_id)

    def _next_version(self, conn: Conn, environment: str) -> str:
        candidate = format_version(self._clock())
        row = conn.execute(
            "SELECT max(version) FROM llm_backups "
            "WHERE environment = %s AND version ~ '^[0-9]{20}$'",
            (environment,),
        ).fetchone()
        latest = row[0] if row else None
        if latest is not None and latest >= candidate:
            candidate = f"{int(latest) + 1:020d}"
        return candidate

    def _complete(self, backup_id: UUID) -> None:
        """Re-read the stored data; ``completed`` if it hashes as recorded, else ``failed``."""
        try:
            with self.store.transaction() as conn:
                raw = self._raw_by_id(conn, backup_id, lock=True)
                problems = integrity_problems(raw)
                status = "failed" if problems else "completed"
                conn.execute(
                    "UPDATE llm_backups SET status = %s WHERE id = %s", (status, backup_id)
                )
        except psycopg.Error as exc:
            self._mark_failed(backup_id, exc)
            raise
        if problems:
            raise IntegrityError(
                f"backup {raw.version} failed: stored data does not match: " + "; ".join(problems)
            )

    def _mark_failed(self, backup_id: UUID, exc: BaseException) -> None:
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE llm_backups SET status = 'failed' WHERE id = %s AND status = 'pending'",
                    (backup_id,),
                )
        except psycopg.Error as mark_exc:
            exc.add_note(
                f"backup {backup_id} stays 'pending': could not mark it failed: {mark_exc}"
            )

    # -- read ---------------------------------------------------------------------------------

    def list_backups(
        self, environment: str | None = None, *, limit: int = 50
    ) -> list[BackupSummary]:
        """Backups, newest first, without their data."""
        if limit < 1:
            raise ConfigError(f"limit: must be at least 1, got {limit}")
        where, params = "", []
        if environment is not None:
            where, params = "WHERE environment = %s", [environment]
        with self.store.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_META} FROM llm_backups {where} "
                "ORDER BY created_at DESC, version DESC LIMIT %s",
                [*params, limit],
            )
            return [BackupSummary.model_validate(r) for r in cur.fetchall()]

    def resolve(self, ref: UUID | str, environment: str | None = None) -> UUID:
        """The id of the backup named by ``ref``: its id, or its version (``environment``
        disambiguates a version present in several environments)."""
        key = ref if isinstance(ref, UUID) else _maybe_uuid(ref)
        with self.store.connection() as conn:
            if key is not None:
                found = conn.execute("SELECT id FROM llm_backups WHERE id = %s", (key,)).fetchall()
            else:
                query = "SELECT id, environment FROM llm_backups WHERE version = %s"
                params: list[Any] = [str(ref)]
                if environment is not None:
                    query += " AND environment = %s"
                    params.append(environment)
                found = conn.execute(query, params).fetchall()
        if not found:
            raise NotFound(f"backup {ref}: no such backup (give its id or version)")
        if len(found) > 1:
            envs = ", ".join(sorted(str(r[1]) for r in found))
            raise ConfigError(f"backup {ref}: version exists in {envs}; pass the environment")
        result: UUID = found[0][0]
        return result

    def get(self, ref: UUID | str, environment: str | None = None) -> LLMBackup:
        """The backup row with its data (validated)."""
        return self.store.backups.get(self.resolve(ref, environment))

    def raw(self, ref: UUID | str, environment: str | None = None) -> RawBackup:
        """The backup row with ``backup_data`` as the raw stored JSON value."""
        backup_id = self.resolve(ref, environment)
        with self.store.connection() as conn:
            return self._raw_by_id(conn, backup_id)

    @staticmethod
    def _raw_by_id(conn: Conn, backup_id: UUID, *, lock: bool = False) -> RawBackup:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_META}, backup_data FROM llm_backups WHERE id = %s"
                + (" FOR UPDATE" if lock else ""),
                (backup_id,),
            )
            r = cur.fetchone()
        if r is None:
            raise NotFound(f"backup {backup_id}: no such backup")
        return RawBackup(
            id=r["id"],
            version=r["version"],
            environment=r["environment"],
            creator=r["creator"],
            description=r["description"],
            data_size=r["data_size"],
            hash=r["hash"],
            status=r["status"],
            created_at=r["created_at"],
            data=r["backup_data"],
        )

    def verify(self, ref: UUID | str, environment: str | None = None) -> VerifyResult:
        """Recompute the hash and size of the stored data and compare with the recorded ones."""
        raw = self.raw(ref, environment)
        actual = digest(raw.data)
        problems = integrity_problems(raw)
        if raw.status != "completed":
            problems.append(f"status is {raw.status!r}, not 'completed'")
        return VerifyResult(
            ok=not problems,
            status=raw.status,
            expected_hash=raw.hash,
            actual_hash=actual.hash,
            expected_size=raw.data_size,
            actual_size=actual.size,
            problems=problems,
        )

    # -- files --------------------------------------------------------------------------------

    def export(self, ref: UUID | str, path: str, environment: str | None = None) -> RawBackup:
        """Write the backup to ``path`` (``-``: stdout) after checking its integrity."""
        raw = self.raw(ref, environment)
        raw.check()
        _require_completed(raw)
        write_backup_file(raw, path)
        return raw

    def import_file(self, path: str | Path) -> LLMBackup:
        """Store a backup from an export file. A tampered file (data or hash) is refused;
        importing the same file twice is a no-op; id and version are the file's."""
        raw = read_backup_file(path)
        _require_completed(raw)
        _loaded(raw)  # the data must be a valid backup before it is stored
        with self.store.transaction() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (environment_lock_key("backup", raw.environment),),
            )
            same = conn.execute("SELECT hash FROM llm_backups WHERE id = %s", (raw.id,)).fetchone()
            if same is not None:
                if same[0] == raw.hash:
                    return self.store.backups.get(raw.id, conn=conn)
                raise ConfigError(f"backup {raw.id} already exists with different data")
            taken = conn.execute(
                "SELECT id FROM llm_backups WHERE environment = %s AND version = %s",
                (raw.environment, raw.version),
            ).fetchone()
            if taken is not None:
                raise ConfigError(
                    f"version {raw.version} of {raw.environment} is already backup {taken[0]}"
                )
            conn.execute(
                "INSERT INTO llm_backups (id, version, environment, backup_data, creator, "
                "description, data_size, hash, status, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'completed', %s)",
                (
                    raw.id,
                    raw.version,
                    raw.environment,
                    Jsonb(raw.data),
                    raw.creator,
                    raw.description,
                    raw.data_size,
                    raw.hash,
                    raw.created_at,
                ),
            )
            stored = self._raw_by_id(conn, raw.id)
            problems = integrity_problems(stored)
            if problems:  # raising rolls the insert back
                raise IntegrityError(
                    f"backup {raw.version}: its data does not survive storage unchanged: "
                    + "; ".join(problems)
                )
            return self.store.backups.get(raw.id, conn=conn)

    # -- restore ------------------------------------------------------------------------------

    def restore(
        self,
        source: UUID | str | Path,
        *,
        mode: RestoreMode = "merge",
        sections: Sequence[str] | None = None,
        dry_run: bool = False,
        environment: str | None = None,
        actor: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RestoreResult:
        """Restore a backup -- ``source`` is its id or version, or a :class:`~pathlib.Path` to
        an export file -- after checking its integrity (a tampered backup raises
        :class:`IntegrityError` and nothing changes). See :mod:`llmops.backup.restore`."""
        raw = (
            read_backup_file(source) if isinstance(source, Path) else self.raw(source, environment)
        )
        raw.check()
        _require_completed(raw)
        return run_restore(
            self.store,
            _loaded(raw),
            mode=mode,
            sections=sections,
            dry_run=dry_run,
            actor=actor,
            on_progress=on_progress,
        )


def _maybe_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _require_completed(raw: RawBackup) -> None:
    if raw.status != "completed":
        raise ConfigError(f"backup {raw.version} is {raw.status}; only completed backups restore")


def _loaded(raw: RawBackup) -> LoadedBackup:
    return LoadedBackup(
        version=raw.version,
        environment=raw.environment,
        created_at=raw.created_at,
        data=BackupData.model_validate(raw.data),
    )
