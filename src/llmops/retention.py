"""Data retention: delete log rows past their cut-off, in small batches.

Policies (days are configurable; each cut-off is ``now - days``, computed once per run):

=============================  ======  ==================================================
table                          days    rows deleted
=============================  ======  ==================================================
llm_fallback_logs              90      ``created_at`` before the cut-off (the seed's policy)
ab_test_results                180     ``created_at`` before the cut-off, of tests that ended:
                                       ``is_active = false`` and ``end_date`` before the
                                       cut-off (the seed's policy)
alert_events                   30      ``status = 'resolved'`` and ``resolved_at`` before the
                                       cut-off (the seed's policy)
llm_usage_logs                 90      ``created_at`` before the cut-off (llmops's choice: one
                                       row per call like the fallback log, same horizon;
                                       alert windows and a backup's ``usageStats`` only see
                                       what is kept)
llm_circuit_breaker_events     90      ``created_at`` before the cut-off (llmops's choice)
ab_result_quality              180     ``recorded_at`` before the A/B cut-off and no
                                       ab_test_results row with that id any more (scores
                                       of deleted results, or whose result never arrived)
=============================  ======  ==================================================

Rows whose timestamp is NULL are never deleted. Each batch is its own short transaction::

    DELETE FROM t WHERE id IN (SELECT id FROM t WHERE <policy> LIMIT n FOR UPDATE SKIP LOCKED)

so no statement holds many locks for long, and two runs at once never wait on each other's
rows (no deadlock) nor delete a row twice (each run counts only what it deleted; the counts of
concurrent runs add up to the rows past the cut-off). A dry run counts, deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from llmops.store import PostgresStore

__all__ = [
    "RETENTION_TABLES",
    "RetentionPolicy",
    "RetentionReport",
    "TableRetention",
    "cutoffs",
    "run_retention",
]

Days = Annotated[int, Field(ge=1, le=36_500)]


class RetentionPolicy(BaseModel):
    """How long each log table keeps its rows, and how many rows one batch deletes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fallback_log_days: Days = 90
    ab_result_days: Days = 180
    alert_event_days: Days = 30
    usage_log_days: Days = 90
    breaker_event_days: Days = 90
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5_000


@dataclass(frozen=True, slots=True)
class _Rule:
    table: str
    days_field: str
    where: str  # SQL over the table's columns; %(cutoff)s is the cut-off
    key: str = "id"  # the primary key the batches select
    dry_where: str | None = None  # what a dry run counts, when deletes of earlier rules matter


RETENTION_TABLES: tuple[_Rule, ...] = (
    _Rule("llm_fallback_logs", "fallback_log_days", "created_at < %(cutoff)s"),
    _Rule(
        "ab_test_results",
        "ab_result_days",
        "created_at < %(cutoff)s AND test_id IN (SELECT id FROM ab_tests "
        "WHERE is_active = false AND end_date < %(cutoff)s)",
    ),
    _Rule(
        "alert_events",
        "alert_event_days",
        "status = 'resolved' AND resolved_at < %(cutoff)s",
    ),
    _Rule("llm_usage_logs", "usage_log_days", "created_at < %(cutoff)s"),
    _Rule("llm_circuit_breaker_events", "breaker_event_days", "created_at < %(cutoff)s"),
    _Rule(  # after ab_test_results, so the scores of the results just deleted go too
        "ab_result_quality",
        "ab_result_days",
        "recorded_at < %(cutoff)s AND NOT EXISTS "
        "(SELECT 1 FROM ab_test_results r WHERE r.id = ab_result_quality.result_id)",
        key="result_id",
        dry_where="recorded_at < %(cutoff)s AND NOT EXISTS (SELECT 1 FROM ab_test_results r "
        "WHERE r.id = ab_result_quality.result_id AND NOT coalesce(r.created_at < %(cutoff)s "
        "AND r.test_id IN (SELECT id FROM ab_tests WHERE is_active = false "
        "AND end_date < %(cutoff)s), false))",
    ),
)


class TableRetention(BaseModel):
    """What one run did (or, dry, would do) to one table."""

    model_config = ConfigDict(frozen=True)

    table: str
    days: int
    cutoff: datetime
    deleted: int
    batches: int


class RetentionReport(BaseModel):
    """What one run did: per table, in :data:`RETENTION_TABLES` order."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    now: datetime
    batch_size: int
    tables: list[TableRetention]

    @property
    def total(self) -> int:
        return sum(t.deleted for t in self.tables)


def cutoffs(policy: RetentionPolicy, now: datetime) -> dict[str, datetime]:
    """Table -> cut-off instant for ``now``."""
    return {r.table: now - timedelta(days=getattr(policy, r.days_field)) for r in RETENTION_TABLES}


def run_retention(
    store: PostgresStore,
    policy: RetentionPolicy | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> RetentionReport:
    """Apply ``policy`` (defaults above); ``now`` defaults to the database's ``now()``.

    ``on_batch(table, deleted)`` is called after each committed batch (progress display).
    """
    policy = policy or RetentionPolicy()
    with store.connection() as conn:
        if now is None:
            row = conn.execute("SELECT now()").fetchone()
            assert row is not None
            now = row[0]
        assert now is not None
        limits = cutoffs(policy, now)
        conn.commit()
        conn.autocommit = True  # each batch is its own transaction
        try:
            results = []
            for rule in RETENTION_TABLES:
                params = {"cutoff": limits[rule.table], "n": policy.batch_size}
                deleted = batches = 0
                if dry_run:
                    counted = conn.execute(
                        f"SELECT count(*) FROM {rule.table} WHERE {rule.dry_where or rule.where}",
                        params,
                    ).fetchone()
                    deleted = int(counted[0]) if counted else 0
                else:
                    query = (
                        f"DELETE FROM {rule.table} WHERE {rule.key} IN (SELECT {rule.key} "
                        f"FROM {rule.table} WHERE {rule.where} LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
                    )
                    while True:
                        n = conn.execute(query, params).rowcount
                        batches += 1
                        deleted += n
                        if on_batch is not None:
                            on_batch(rule.table, n)
                        if n < policy.batch_size:
                            break
                results.append(
                    TableRetention(
                        table=rule.table,
                        days=getattr(policy, rule.days_field),
                        cutoff=limits[rule.table],
                        deleted=deleted,
                        batches=batches,
                    )
                )
        finally:
            conn.autocommit = False
    return RetentionReport(dry_run=dry_run, now=now, batch_size=policy.batch_size, tables=results)
