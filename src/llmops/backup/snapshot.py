"""Reading the sections of one environment, as a backup records them (and a restore compares).

Called inside one REPEATABLE READ transaction, so every section comes from the same snapshot.
Rows are ordered by id, so the same data always gives the same document (and hash).

A row the models refuse (written by plain SQL, or by an older version) stops the backup with a
:class:`ConfigError` naming the section, the row id and the field, rather than a bare
validation error: fix or delete that row, then back up again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from pydantic import ValidationError

from llmops.backup.redaction import redact_actions
from llmops.errors import ConfigError
from llmops.models.backup import BackupData, UsageStat
from llmops.store import PostgresStore
from llmops.store._table import Conn, Table

__all__ = ["read_rows", "read_sections", "read_usage_stats"]

_USAGE_SQL = """
SELECT provider,
       model,
       count(*) AS calls,
       count(*) FILTER (WHERE success) AS successes,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       sum(estimated_cost) AS total_cost,
       min(created_at) AS first_call,
       max(created_at) AS last_call
FROM llm_usage_logs
WHERE environment = %s
GROUP BY provider, model
ORDER BY provider, model
"""


def read_usage_stats(conn: Conn, environment: str) -> list[UsageStat]:
    """Usage of ``environment`` per provider/model, aggregated by PostgreSQL."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_USAGE_SQL, (environment,))
        rows: list[dict[str, Any]] = cur.fetchall()
    return [UsageStat.model_validate(r) for r in rows]


def _redact_rule(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "actions": redact_actions(row.get("actions"))}


def read_rows(
    section: str, repo: Table[Any], conn: Conn, environment: str, *, lock: bool = False
) -> list[Any]:
    """The rows of ``environment`` in ``repo``'s table, ordered by id, as models.

    Alert rules have their secrets redacted in the raw JSON first (a row holding a secret in
    clear, written by plain SQL, is backed up without it and never echoed in errors).
    """
    fix: Callable[[dict[str, Any]], dict[str, Any]] = (
        _redact_rule if repo.table == "alert_rules" else dict
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM {} WHERE environment = %s ORDER BY id{}").format(
                sql.SQL(", ").join(map(sql.Identifier, repo.columns)),
                sql.Identifier(repo.table),
                sql.SQL(" FOR UPDATE" if lock else ""),
            ),
            (environment,),
        )
        rows = cur.fetchall()
    out = []
    for row in rows:
        try:
            out.append(repo.model.model_validate(fix(row)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise ConfigError(
                f"{section}: row {row.get('id')} of {repo.table} is not valid ({problems}); "
                "fix or delete it first"
            ) from None
    return out


def read_sections(store: PostgresStore, conn: Conn, environment: str) -> BackupData:
    """Every section of ``environment``; alert-rule secrets redacted (see ``redaction``)."""
    return BackupData(
        llm_settings=read_rows("llmSettings", store.settings, conn, environment),
        fallback_configs=read_rows("fallbackConfigs", store.fallback_configs, conn, environment),
        ab_tests=read_rows("abTests", store.ab_tests, conn, environment),
        usage_stats=read_usage_stats(conn, environment),
        alert_rules=read_rows("alertRules", store.alert_rules, conn, environment),
    )
