"""Applying a verified backup to the database: one transaction, a restore log, no half state.

* Everything happens in one transaction, under an advisory lock per environment (two restores
  of one environment run one after the other) and the fallback-config lock that
  ``store.fallback_configs.activate`` takes. Current rows are read ``FOR UPDATE``.
* The ``llm_restore_logs`` row (status ``completed``) is written in the same transaction.
* On any failure the transaction is rolled back -- the database is exactly as before -- and a
  restore log with status ``failed`` is written in a new transaction, its report naming the
  error.
* A dry run plans in a read-only transaction, writes nothing and logs nothing.
* When the active fallback config changes, ``CONFIG_CHANNEL`` is notified (delivered on
  commit), so routers that watch it reload.
* Every settings / fallback-config row written gets an ``llm_config_audit`` row (same
  transaction), so ``llmops config history`` shows restores like any other change.

What a restore preserves: ids, ``created_at`` and every configuration column are the backup's;
``updated_at`` is set by the database when a row is written. Alert rules' runtime columns
(``last_triggered``, ``last_evaluated_at``) keep their current value on existing rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from llmops.backup.plan import (
    RESTORABLE_SECTIONS,
    SECTION_SPECS,
    SectionPlan,
    SectionSpec,
    plan_section,
)
from llmops.backup.redaction import restore_rule_secrets
from llmops.backup.snapshot import read_rows
from llmops.configs.audit import (
    AuditAction,
    AuditDetails,
    AuditKind,
    AuditRepository,
    ConfigAuditEntry,
    default_actor,
    snapshot,
)
from llmops.configs.diff import FieldChange, diff_configs, diff_settings
from llmops.errors import ConfigError, StoreError
from llmops.models.alerts import AlertRule
from llmops.models.backup import (
    BackupData,
    LLMRestoreLog,
    RestoreChange,
    RestoreMode,
    RestoreReport,
    RestoreResult,
    SectionReport,
)
from llmops.models.fallback import FallbackConfig
from llmops.store import PostgresStore
from llmops.store._table import Conn, Table
from llmops.store.repositories import CONFIG_CHANNEL, environment_lock_key

__all__ = ["ALL_SECTIONS", "LoadedBackup", "ProgressCallback", "run_restore"]

ProgressCallback = Callable[[str, int, int], None]
"""``(step label, steps done, steps in all)``, called after each step of a long operation."""

ALL_SECTIONS: tuple[str, ...] = (*RESTORABLE_SECTIONS, "usageStats")

_ATTR = {
    "llmSettings": "llm_settings",
    "fallbackConfigs": "fallback_configs",
    "abTests": "ab_tests",
    "alertRules": "alert_rules",
}


@dataclass(frozen=True, slots=True)
class LoadedBackup:
    """A backup whose hash and size were checked, with its data validated."""

    version: str
    environment: str
    created_at: datetime
    data: BackupData


def _sections(requested: Sequence[str] | None) -> list[str]:
    if requested is None:
        return list(RESTORABLE_SECTIONS)
    unknown = [s for s in requested if s not in ALL_SECTIONS]
    if unknown:
        raise ConfigError(
            f"sections: unknown section(s) {', '.join(unknown)}; "
            f"choose from {', '.join(ALL_SECTIONS)}"
        )
    return [s for s in ALL_SECTIONS if s in requested]


def _check_environment(backup: LoadedBackup, sections: Sequence[str]) -> None:
    for name in sections:
        if name not in _ATTR:
            continue
        for i, row in enumerate(getattr(backup.data, _ATTR[name])):
            if row.environment != backup.environment:
                raise ConfigError(
                    f"{name}.{i}.environment: {row.environment!r} in a backup of "
                    f"{backup.environment!r}; a backup restores into its own environment only"
                )


def _apply(conn: Conn, repo: Table[Any], plan: SectionPlan[Any]) -> None:
    table = sql.Identifier(repo.table)
    for row in plan.deletes:
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(table), (row.id,))
    for row, fields in plan.writes():
        values = repo.to_row(row)
        if fields is None:
            values.pop("updated_at", None)
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    table,
                    sql.SQL(", ").join(map(sql.Identifier, values)),
                    sql.SQL(", ").join(sql.Placeholder() * len(values)),
                ),
                list(values.values()),
            )
        else:
            conn.execute(
                sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
                    table,
                    sql.SQL(", ").join(
                        sql.SQL("{} = %s").format(sql.Identifier(f)) for f in fields
                    ),
                ),
                [*(values.get(f) for f in fields), row.id],
            )


_AUDIT_KIND: dict[str, AuditKind] = {
    "llmSettings": "llm_settings",
    "fallbackConfigs": "fallback_config",
}


def _diff(before: Any, after: Any) -> list[FieldChange]:
    if isinstance(after, FallbackConfig):
        return diff_configs(before, after)
    return diff_settings(before, after)


def _audit(conn: Conn, store: PostgresStore, name: str, plan: SectionPlan[Any], actor: str) -> None:
    """One ``llm_config_audit`` row per settings / fallback-config row the restore wrote, in
    the restore's transaction (as ``llmops config`` does for its own changes)."""
    kind = _AUDIT_KIND.get(name)
    if kind is None or plan.empty:
        return
    repo = AuditRepository(store.pool)

    def record(row: Any, action: AuditAction, details: AuditDetails) -> None:
        repo.insert(
            ConfigAuditEntry(
                kind=kind,
                config_id=row.id,
                environment=row.environment,
                action=action,
                actor=actor,
                details=details,
            ),
            conn=conn,
        )

    for row in plan.deletes:
        record(row, "delete", AuditDetails(before=snapshot(row)))
    for row, fields in plan.writes():
        before = plan.current.get(row.id)
        if fields is None or before is None:
            record(row, "create", AuditDetails(after=snapshot(row), changes=_diff(None, row)))
            continue
        action: AuditAction = "update"
        if fields == ["is_active"]:
            action = "activate" if row.is_active else "deactivate"
        record(
            row,
            action,
            AuditDetails(before=snapshot(before), after=snapshot(row), changes=_diff(before, row)),
        )


def _plan(
    store: PostgresStore,
    conn: Conn,
    backup: LoadedBackup,
    name: str,
    mode: RestoreMode,
    *,
    lock: bool,
) -> tuple[SectionPlan[Any], Table[Any]]:
    spec: SectionSpec[Any] = SECTION_SPECS[name]
    repo: Table[Any] = getattr(store, spec.repository)
    # alert-rule secrets a plain-SQL row holds in clear are redacted here too
    current = read_rows(name, repo, conn, backup.environment, lock=lock)
    rows: list[Any] = list(getattr(backup.data, _ATTR[name]))
    errors: list[str] = []
    untouched: set[Any] = set()
    if name == "alertRules":
        by_id = {r.id: r for r in current}
        kept: list[AlertRule] = []
        for rule in rows:
            restored, messages = restore_rule_secrets(rule, by_id.get(rule.id), spec.label(rule))
            errors.extend(messages)
            if restored is None:
                untouched.add(rule.id)
            else:
                kept.append(restored)
        rows = kept
    plan = plan_section(spec, rows, current, mode, errors=errors, untouched=untouched)
    return plan, repo


def _active(store: PostgresStore, conn: Conn, environment: str) -> FallbackConfig | None:
    active = store.fallback_configs.get_active(environment, conn=conn)
    return None if active is None else active.model_copy(update={"updated_at": None})


def run_restore(
    store: PostgresStore,
    backup: LoadedBackup,
    *,
    mode: RestoreMode = "merge",
    sections: Sequence[str] | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore ``backup`` (already verified) into its environment; see the module docstring.

    ``actor`` (default: ``$LLMOPS_ACTOR`` or the OS user) is recorded in ``llm_config_audit``
    for every settings and fallback-config row written, as ``<actor> (restore of <version>)``.
    """
    if mode not in ("merge", "replace"):
        raise ConfigError(f"mode: {mode!r} is not one of 'merge', 'replace'")
    names = _sections(sections)
    _check_environment(backup, names)
    env = backup.environment
    who = f"{actor or default_actor()} (restore of {backup.version})"[:200]
    report: RestoreReport = {}
    changes: list[RestoreChange] = []
    notified = False
    current_section = names[0] if names else "restore"
    try:
        with store.transaction() as conn:
            if dry_run:
                conn.execute("SET TRANSACTION READ ONLY")
            else:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (environment_lock_key("restore", env),)
                )
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (environment_lock_key("fallback", env),)
                )
            active_before = _active(store, conn, env)
            for done, name in enumerate(names, 1):
                current_section = name
                if name == "usageStats":
                    report[name] = SectionReport(
                        skipped=len(backup.data.usage_stats),
                        errors=["usageStats records past usage; it is never restored"]
                        if sections is not None
                        else [],
                    )
                else:
                    plan, repo = _plan(store, conn, backup, name, mode, lock=not dry_run)
                    if not dry_run:
                        _apply(conn, repo, plan)
                        _audit(conn, store, name, plan, who)
                    report[name] = plan.report
                    changes.extend(plan.changes)
                if on_progress is not None:
                    on_progress(name, done, len(names))
            current_section = names[-1] if names else "restore"
            if (
                not dry_run
                and "fallbackConfigs" in names
                and _active(store, conn, env) != (active_before)
            ):
                conn.execute("SELECT pg_notify(%s, %s)", (CONFIG_CHANNEL, env))
                notified = True
            log_id = None
            if not dry_run:
                log = store.restore_logs.insert(
                    LLMRestoreLog(
                        backup_version=backup.version,
                        backup_timestamp=backup.created_at,
                        environment=env,
                        restore_report=report,
                        status="completed",
                    ),
                    conn=conn,
                )
                log_id = log.id
    except Exception as exc:
        if not dry_run:
            _log_failure(store, backup, names, current_section, exc)
        if isinstance(exc, psycopg.Error):
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(
                f"restore of backup {backup.version} failed in {current_section} and was "
                f"rolled back: {reason}"
            ) from exc
        raise
    return RestoreResult(
        backup_version=backup.version,
        environment=env,
        mode=mode,
        dry_run=dry_run,
        status="completed",
        report=report,
        changes=changes,
        restore_log_id=log_id,
        notified=notified,
    )


def _log_failure(
    store: PostgresStore,
    backup: LoadedBackup,
    names: Sequence[str],
    failed_in: str,
    exc: BaseException,
) -> None:
    """The ``failed`` restore log, in its own transaction after the rollback: nothing was
    restored, and the section where it failed names the error."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    report: RestoreReport = {name: SectionReport() for name in names}
    report[failed_in] = SectionReport(
        errors=[f"restore failed and was rolled back: {type(exc).__name__}: {reason}"]
    )
    try:
        store.restore_logs.insert(
            LLMRestoreLog(
                backup_version=backup.version,
                backup_timestamp=backup.created_at,
                environment=backup.environment,
                restore_report=report,
                status="failed",
            )
        )
    except psycopg.Error as log_exc:
        exc.add_note(f"the failed restore log could not be written either: {log_exc}")
