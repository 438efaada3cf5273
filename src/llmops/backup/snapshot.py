"""Reading the sections of one environment, as a backup records them.

Called inside one REPEATABLE READ transaction, so every section comes from the same snapshot.
Rows are ordered by id, so the same data always gives the same document (and hash).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from llmops.backup.redaction import redact_actions
from llmops.models.alerts import AlertRule
from llmops.models.backup import BackupData, UsageStat
from llmops.store import PostgresStore
from llmops.store._table import Conn

__all__ = ["read_alert_rules", "read_sections", "read_usage_stats"]

_BY_ID = (("id", "ASC"),)

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


def read_alert_rules(
    store: PostgresStore, conn: Conn, environment: str, *, lock: bool = False
) -> list[AlertRule]:
    """The alert rules of ``environment``, secrets redacted in the raw JSON before validation
    (a row holding a secret in clear, written by plain SQL, is backed up without it)."""
    repo = store.alert_rules
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM alert_rules WHERE environment = %s ORDER BY id{}").format(
                sql.SQL(", ").join(map(sql.Identifier, repo.columns)),
                sql.SQL(" FOR UPDATE" if lock else ""),
            ),
            (environment,),
        )
        rows = cur.fetchall()
    return [AlertRule.model_validate({**r, "actions": redact_actions(r["actions"])}) for r in rows]


def read_sections(store: PostgresStore, conn: Conn, environment: str) -> BackupData:
    """Every section of ``environment``; alert-rule secrets redacted (see ``redaction``)."""
    where = {"environment": environment}
    return BackupData(
        llm_settings=store.settings.select(where, order_by=_BY_ID, conn=conn),
        fallback_configs=store.fallback_configs.select(where, order_by=_BY_ID, conn=conn),
        ab_tests=store.ab_tests.select(where, order_by=_BY_ID, conn=conn),
        usage_stats=read_usage_stats(conn, environment),
        alert_rules=read_alert_rules(store, conn, environment),
    )
