"""The migrations reproduce the seed document's schema: same catalogs for the eight tables.

"The seed's own SQL" is taken from ``tests/data/seed_schema.md`` (a verbatim copy of
``shared/seed/000_e7836c200170c6f3.txt``): its complete script, then the CREATE INDEX blocks of
its per-table sections (the complete script forgot five of them), then the RLS policies it
wrote for ``llm_fallback_configs``, applied to the seven other tables as the seed says
("他のテーブルにも同様のポリシーを適用"). The partition example and the retention DELETEs are
not schema and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from llmops.store import PostgresStore

from .conftest import _create_database, _drop_database, _with_dbname

SEED = Path(__file__).parent / "data" / "seed_schema.md"
SEED_TABLES = (
    "llm_fallback_configs",
    "llm_fallback_logs",
    "ab_tests",
    "ab_test_results",
    "llm_backups",
    "llm_restore_logs",
    "alert_rules",
    "alert_events",
)

# What later llmops migrations add to the seed's tables, on purpose (each documented in its
# migration). Anything else that differs is a defect.
ALLOWED_ADDITIONS: frozenset[tuple[str, ...]] = frozenset(
    {
        # 003_ab_quality.sql: a quality score recorded before its result row links to the
        # result's test when the row arrives (one UPDATE per INSERT/COPY statement)
        (
            "trigger",
            "ab_test_results",
            "resolve_ab_result_quality",
            "CREATE TRIGGER resolve_ab_result_quality AFTER INSERT ON public.ab_test_results "
            "REFERENCING NEW TABLE AS new_ab_results FOR EACH STATEMENT "
            "EXECUTE FUNCTION resolve_ab_result_quality()",
        ),
        # 005_config_audit.sql: changes to an active config NOTIFY watching routers (hot reload)
        (
            "trigger",
            "llm_fallback_configs",
            "notify_llm_fallback_configs_change",
            "CREATE TRIGGER notify_llm_fallback_configs_change AFTER INSERT OR DELETE OR UPDATE "
            "ON public.llm_fallback_configs FOR EACH ROW "
            "EXECUTE FUNCTION notify_llm_fallback_config_change()",
        ),
        # 006_backup.sql: backup versions unique per environment; restore history by environment
        (
            "index",
            "llm_backups",
            "idx_llm_backups_environment_version",
            "CREATE UNIQUE INDEX idx_llm_backups_environment_version ON public.llm_backups "
            "USING btree (environment, version)",
        ),
        (
            "index",
            "llm_restore_logs",
            "idx_llm_restore_logs_environment",
            "CREATE INDEX idx_llm_restore_logs_environment ON public.llm_restore_logs "
            "USING btree (environment, created_at DESC)",
        ),
        # 007_ab_analysis_index.sql: covering index of the A/B analysis (index-only scan in
        # group order; its cost and size are measured in the migration's header)
        (
            "index",
            "ab_test_results",
            "idx_ab_test_results_analysis",
            "CREATE INDEX idx_ab_test_results_analysis ON public.ab_test_results USING btree "
            "(test_id, variant_id, success, processing_time) INCLUDE (estimated_cost, total_tokens)",
        ),
        # 004_alerts.sql: rule severity and reminder interval, event reminder bookkeeping, and
        # at most one open (active or acknowledged) event per rule
        ("column", "alert_events", "acknowledged_at", "timestamp with time zone", "None", "False"),
        ("column", "alert_events", "last_notified_at", "timestamp with time zone", "None", "False"),
        ("column", "alert_events", "reminder_count", "integer", "0", "True"),
        ("column", "alert_rules", "repeat_interval_minutes", "integer", "60", "False"),
        (
            "column",
            "alert_rules",
            "severity",
            "character varying(20)",
            "'medium'::character varying",
            "True",
        ),
        (
            "constraint",
            "alert_events",
            "alert_events_reminder_count_check",
            "c",
            "CHECK ((reminder_count >= 0))",
        ),
        (
            "constraint",
            "alert_rules",
            "alert_rules_repeat_interval_minutes_check",
            "c",
            "CHECK (((repeat_interval_minutes >= 1) AND (repeat_interval_minutes <= 525600)))",
        ),
        (
            "constraint",
            "alert_rules",
            "alert_rules_severity_check",
            "c",
            "CHECK (((severity)::text = ANY ((ARRAY['low'::character varying, "
            "'medium'::character varying, 'high'::character varying, "
            "'critical'::character varying])::text[])))",
        ),
        (
            "index",
            "alert_events",
            "idx_alert_events_one_open_per_rule",
            "CREATE UNIQUE INDEX idx_alert_events_one_open_per_rule ON public.alert_events "
            "USING btree (rule_id) WHERE ((status)::text <> 'resolved'::text)",
        ),
    }
)


def seed_sql() -> str:
    """The seed's SQL as described in the module docstring."""
    blocks = re.findall(r"```sql\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)
    complete = next(b for b in blocks if "CREATE TABLE IF NOT EXISTS llm_fallback_configs" in b)
    index_blocks = [
        re.sub(r"CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX IF NOT EXISTS ", b)
        for b in blocks
        if b.lstrip().startswith("CREATE") and "INDEX" in b and "CREATE TABLE" not in b
    ]
    policy = re.findall(r"CREATE POLICY .* ON llm_fallback_configs .*;", complete)
    assert len(policy) == 2
    others = [
        p.replace("ON llm_fallback_configs", f"ON {table}")
        for table in SEED_TABLES[1:]
        for p in policy
    ]
    return "\n".join([complete, *index_blocks, *others])


CATALOG_QUERIES = {
    "column": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               pg_get_expr(d.adbin, d.adrelid), a.attnotnull
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraint": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = ANY(%s)""",
    "index": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename = ANY(%s)""",
    "trigger": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relname = ANY(%s) AND NOT t.tgisinternal""",
    "policy": """
        SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE tablename = ANY(%s)""",
    "rls": """
        SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
        WHERE relname = ANY(%s) AND relkind = 'r'""",
    "comment": """
        SELECT relname, obj_description(oid, 'pg_class') FROM pg_class
        WHERE relname = ANY(%s) AND relkind = 'r'""",
    "function": """
        SELECT proname, prosrc, pg_get_function_result(oid) FROM pg_proc
        WHERE proname = 'update_updated_at_advanced' AND cardinality(%s::text[]) > 0""",
}


def catalog(url: str) -> set[tuple[str, ...]]:
    """Every catalog fact about the seed's tables, as comparable tuples."""
    facts: set[tuple[str, ...]] = set()
    with psycopg.connect(url) as conn:
        for kind, query in CATALOG_QUERIES.items():
            for row in conn.execute(query, (list(SEED_TABLES),)).fetchall():
                facts.add((kind, *(str(v) for v in row)))
    return facts


@pytest.fixture
def two_databases(database_server: str) -> Iterator[tuple[str, str]]:
    names = [
        _create_database(database_server, "llmops_seed"),
        _create_database(database_server, "llmops_mig"),
    ]
    try:
        yield _with_dbname(database_server, names[0]), _with_dbname(database_server, names[1])
    finally:
        for name in names:
            _drop_database(database_server, name)


def test_migrations_reproduce_the_seed_catalog(two_databases: tuple[str, str]) -> None:
    """Seed SQL in one database and `migrate` in another give identical catalogs for the eight tables."""
    seed_url, migrated_url = two_databases
    with psycopg.connect(seed_url, autocommit=True) as conn:
        conn.execute(seed_sql().encode())
    with PostgresStore.connect(migrated_url, max_size=1) as store:
        store.migrate()

    seed, ours = catalog(seed_url), catalog(migrated_url)
    assert len(seed) > 150  # the comparison really read the catalogs
    assert seed - ours == set(), "the migrations lack or change these seed facts"
    assert ours - seed <= ALLOWED_ADDITIONS, "undocumented additions to the seed's tables"


def test_seed_sql_names_every_index_the_issue_lists() -> None:
    """The reconstructed seed SQL holds the five indexes the complete script forgot."""
    text = seed_sql()
    for name in (
        "idx_fallback_logs_success",
        "idx_ab_test_results_session",
        "idx_llm_backups_creator",
        "idx_alert_rules_last_triggered",
        "idx_alert_events_status",
    ):
        assert name in text
        assert name in (Path(__file__).parent.parent / "sql" / "001_seed_schema.sql").read_text()


def test_every_seed_table_has_rls_and_both_policies(store: PostgresStore) -> None:
    """RLS is enabled with a read and a write policy on each of the eight tables."""
    with store.connection() as conn:
        rows = conn.execute(
            "SELECT tablename, count(*) FROM pg_policies WHERE tablename = ANY(%s) GROUP BY 1",
            (list(SEED_TABLES),),
        ).fetchall()
        rls = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relrowsecurity",
            (list(SEED_TABLES),),
        ).fetchall()
    assert dict(rows) == dict.fromkeys(SEED_TABLES, 2)
    assert {r[0] for r in rls} == set(SEED_TABLES)
