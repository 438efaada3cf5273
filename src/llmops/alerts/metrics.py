"""The metrics of alert conditions, computed in SQL over one environment's recent window.

Each metric is a per-row expression over one log table (``llm_usage_logs``,
``llm_fallback_logs`` or ``llm_circuit_breaker_events``), aggregated with the condition's
aggregation over ``(now - timeWindow, now]``. A statement whose metrics only count failed calls
reads only failed rows (the partial index ``idx_llm_usage_logs_failures``). All conditions of a rule that read the same
table are computed by one query that scans the rule's widest window once, each aggregate
restricted to its own window with ``FILTER``; the scan is an index range on ``created_at``
(``tests/test_alerts_metrics.py`` checks the plans with EXPLAIN: never a sequential scan).

An empty window is "no data": ``sum`` and ``count`` give 0, the other aggregations ``None``.
Per-provider metrics give one value per provider plus the worst one for the condition.

Provider health and quota are measured per **attempt**, not per call: a call that a fallback
rescued is a successful usage row, yet its primary failed. ``provider_failures``,
``provider_error_rate`` and ``rate_limited`` therefore expand ``llm_fallback_logs.attempted_providers``
(one JSONB element per attempt, written by the router) with ``jsonb_array_elements`` over the
window's rows, still found through the ``created_at`` indexes. An attempt fails when its
``outcome`` is ``error``, except ``errorKind`` ``cancelled`` (the caller gave up; not the
provider's fault). ``skipped`` attempts (open breaker, deadline spent) are neither failures nor
attempts: the provider was not called, and ``circuit_breaker`` rules cover open breakers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from llmops.models.alerts import METRICS, AlertCondition, AlertRule
from llmops.store._table import Conn

__all__ = [
    "METRIC_SOURCES",
    "MetricQuery",
    "MetricValue",
    "measure",
    "metric_queries",
]


@dataclass(frozen=True, slots=True)
class _Source:
    table: str
    value: str  # per-row expression; NULL rows are ignored by every aggregate but count(*)
    where: str = "TRUE"  # per-row filter, ANDed into the aggregate's FILTER
    failures_only: bool = False  # only failed calls matter: the scan can use a partial index
    attempts: bool = False  # per attempt: ``value``/``where`` read ``a``, one attempts element


_FAILED = "NOT success"
_NOT_CANCELLED = "a->>'errorKind' IS DISTINCT FROM 'cancelled'"
_ATTEMPT_FAILED = f"a->>'outcome' = 'error' AND {_NOT_CANCELLED}"
_ATTEMPTS_FROM = " CROSS JOIN LATERAL jsonb_array_elements(attempted_providers) AS a"

METRIC_SOURCES: dict[str, _Source] = {
    "total_cost": _Source("llm_usage_logs", "estimated_cost"),
    "total_tokens": _Source("llm_usage_logs", "total_tokens"),
    "input_tokens": _Source("llm_usage_logs", "input_tokens"),
    "output_tokens": _Source("llm_usage_logs", "output_tokens"),
    "response_time": _Source("llm_usage_logs", "processing_time_ms"),
    "request_count": _Source("llm_usage_logs", "1"),
    "error_rate": _Source("llm_usage_logs", "CASE WHEN success THEN 0.0 ELSE 100.0 END"),
    "success_rate": _Source("llm_usage_logs", "CASE WHEN success THEN 100.0 ELSE 0.0 END"),
    "error_count": _Source("llm_usage_logs", "1", _FAILED, failures_only=True),
    "provider_failures": _Source("llm_fallback_logs", "1", _ATTEMPT_FAILED, attempts=True),
    "provider_error_rate": _Source(
        "llm_fallback_logs",
        "CASE a->>'outcome' WHEN 'error' THEN 100.0 WHEN 'success' THEN 0.0 END",
        _NOT_CANCELLED,  # skipped attempts give NULL: not counted as attempts
        attempts=True,
    ),
    "fallback_failures": _Source("llm_fallback_logs", "1", _FAILED, failures_only=True),
    "breaker_openings": _Source("llm_circuit_breaker_events", "1", "to_state = 'open'"),
    "rate_limited": _Source(
        "llm_fallback_logs",
        "1",
        f"{_ATTEMPT_FAILED} AND (a->>'errorKind' IN ('rate_limited', 'quota_exhausted') OR a->>'statusCode' = '429')",
        attempts=True,
    ),
}
"""Where each metric of :data:`llmops.models.alerts.METRICS` comes from."""

_AGGREGATES = {
    "sum": "COALESCE(sum({v}) FILTER (WHERE {f}), 0)",
    "count": "count({v}) FILTER (WHERE {f})",
    "avg": "avg({v}) FILTER (WHERE {f})",
    "min": "min({v}) FILTER (WHERE {f})",
    "max": "max({v}) FILTER (WHERE {f})",
    "p95": "percentile_cont(0.95) WITHIN GROUP (ORDER BY {v}) FILTER (WHERE {f})",
}


@dataclass(frozen=True, slots=True)
class MetricValue:
    """The value of one condition's metric: ``value`` is None when the window had no data.

    For per-provider metrics ``by_provider`` holds each provider's value and ``value`` the one
    that decides the condition (the highest for gt/gte/eq/ne, the lowest for lt/lte).
    """

    metric: str
    aggregation: str
    window_minutes: int
    value: float | None
    by_provider: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One SQL statement computing the conditions at ``indexes`` of a rule."""

    table: str
    indexes: tuple[int, ...]
    per_provider: bool
    query: sql.Composed
    params: tuple[Any, ...]


def _aggregate(condition: AlertCondition, source: _Source, since: datetime) -> tuple[str, Any]:
    template = _AGGREGATES[condition.effective_aggregation]
    return template.format(v=source.value, f=f"created_at > %s AND ({source.where})"), since


def metric_queries(rule: AlertRule, now: datetime) -> list[MetricQuery]:
    """The statements that compute every condition of ``rule`` at ``now`` (one per table,
    rows-or-attempts and per-provider-ness). Exposed so tests and benchmarks can EXPLAIN them."""
    groups: dict[tuple[str, bool, bool], list[int]] = {}
    for i, condition in enumerate(rule.conditions):
        source = METRIC_SOURCES[condition.metric]
        per_provider = METRICS[condition.metric].per_provider
        groups.setdefault((source.table, source.attempts, per_provider), []).append(i)
    out = []
    for (table, attempts, per_provider), indexes in groups.items():
        columns: list[str] = []
        params: list[Any] = []
        widest = 0
        for i in indexes:
            condition = rule.conditions[i]
            expr, since = _aggregate(
                condition, METRIC_SOURCES[condition.metric], now - _window(condition)
            )
            columns.append(expr)
            params.append(since)
            widest = max(widest, condition.time_window)
        select = ", ".join(columns)
        provider = "a->>'provider'" if attempts else "provider"
        if per_provider:
            select = f"{provider}, " + select
        text = (
            f"SELECT {select} FROM {{table}}{_ATTEMPTS_FROM if attempts else ''} "
            "WHERE environment = %s AND created_at > %s AND created_at <= %s"
        )
        if all(METRIC_SOURCES[rule.conditions[i].metric].failures_only for i in indexes):
            text += " AND NOT success"  # idx_llm_usage_logs_failures (sql/004)
        if per_provider:
            text += f" GROUP BY {provider}"
        params += [rule.environment, now - timedelta(minutes=widest), now]
        query = sql.SQL(text).format(table=sql.Identifier(table))
        out.append(MetricQuery(table, tuple(indexes), per_provider, query, tuple(params)))
    return out


def _window(condition: AlertCondition) -> timedelta:
    return timedelta(minutes=condition.time_window)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _empty(condition: AlertCondition) -> float | None:
    return 0.0 if condition.effective_aggregation in ("sum", "count") else None


def _deciding(condition: AlertCondition, values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return _empty(condition) if not values else None
    return min(present) if condition.operator in ("lt", "lte") else max(present)


def measure(conn: Conn, rule: AlertRule, now: datetime) -> list[MetricValue]:
    """The value of every condition of ``rule`` over its window ending at ``now``, in order."""
    values: list[MetricValue | None] = [None] * len(rule.conditions)
    for mq in metric_queries(rule, now):
        rows = conn.execute(mq.query, mq.params).fetchall()
        for col, i in enumerate(mq.indexes):
            condition = rule.conditions[i]
            agg = condition.effective_aggregation
            if mq.per_provider:
                by_provider = {str(r[0]): _float(r[col + 1]) for r in rows}
                # a provider with rows in the widest window but none in this one counts as empty
                by_provider = {
                    p: (_empty(condition) if v is None else v) for p, v in by_provider.items()
                }
                value = _deciding(condition, list(by_provider.values()))
                values[i] = MetricValue(
                    condition.metric, agg, condition.time_window, value, by_provider
                )
            else:
                raw = _float(rows[0][col]) if rows else None
                values[i] = MetricValue(
                    condition.metric,
                    agg,
                    condition.time_window,
                    _empty(condition) if raw is None and agg in ("sum", "count") else raw,
                )
    return [v for v in values if v is not None]
