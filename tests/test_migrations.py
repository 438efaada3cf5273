"""The migration runner: order, idempotence, checksums, atomicity, concurrent runners."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from llmops.errors import MigrationChecksumMismatch, MigrationError
from llmops.store import PostgresStore
from llmops.store.migrations import MIGRATIONS_TABLE, discover_migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def _applied_versions(url: str) -> list[tuple[int, int]]:
    with psycopg.connect(url) as conn:
        return [
            (int(r[0]), int(r[1]))
            for r in conn.execute(
                f"SELECT version, count(*) FROM {MIGRATIONS_TABLE} GROUP BY version ORDER BY version"
            ).fetchall()
        ]


def test_discovers_numbered_files_in_order() -> None:
    """Migrations are the sql/NNN_name.sql files, ordered by number, starting with the seed."""
    migrations = discover_migrations(SQL_DIR)
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert migrations[0].name == "seed_schema"
    assert all(len(m.checksum) == 64 for m in migrations)


def test_migrate_is_idempotent_and_reports_status(fresh_database_url: str) -> None:
    """A second migrate applies nothing; status lists every migration as applied."""
    with PostgresStore.connect(fresh_database_url, max_size=1) as store:
        before = store.migration_status()
        assert before.applied == () and len(before.pending) == len(discover_migrations())
        first = store.migrate()
        second = store.migrate()
        after = store.migration_status()
    assert [m.version for m in first] == [m.version for m in discover_migrations()]
    assert second == []
    assert after.pending == () and after.changed == ()
    assert len(after.applied) == len(first)


def test_changed_applied_migration_is_refused(fresh_database_url: str, tmp_path: Path) -> None:
    """Editing an already-applied file makes migrate refuse with the file's name."""
    shutil.copy(SQL_DIR / "001_seed_schema.sql", tmp_path / "001_seed_schema.sql")
    with PostgresStore.connect(fresh_database_url, max_size=1) as store:
        store.migrate(tmp_path)
        (tmp_path / "001_seed_schema.sql").write_text(
            (tmp_path / "001_seed_schema.sql").read_text() + "\n-- edited\n"
        )
        (tmp_path / "002_more.sql").write_text("CREATE TABLE more_stuff (id int);")
        with pytest.raises(MigrationChecksumMismatch, match=r"001_seed_schema\.sql"):
            store.migrate(tmp_path)
        status = store.migration_status(tmp_path)
    assert [m.version for m in status.changed] == [1]
    assert [m.version for m in status.pending] == [2]  # nothing applied after the refusal


def test_failing_migration_applies_nothing_of_itself(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """A migration that fails part-way leaves no table of its own and is not recorded."""
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE first_ok (id int);")
    (tmp_path / "002_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nINSERT INTO no_such_table VALUES (1);"
    )
    with PostgresStore.connect(fresh_database_url, max_size=1) as store:
        with pytest.raises(MigrationError, match=r"002_broken\.sql"):
            store.migrate(tmp_path)
        with store.connection() as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            }
    assert "first_ok" in tables and "half_done" not in tables
    assert _applied_versions(fresh_database_url) == [(1, 1)]


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    """A file not named NNN_lower_snake.sql, or a duplicated number, is a MigrationError."""
    (tmp_path / "1-init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_lower_snake"):
        discover_migrations(tmp_path)
    (tmp_path / "1-init.sql").unlink()
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 1"):
        discover_migrations(tmp_path)


def test_four_concurrent_cli_runs_apply_each_migration_once(fresh_database_url: str) -> None:
    """`llmops migrate` started by 4 processes at once on an empty database: all exit 0, each
    migration applied exactly once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "llmops.cli", "--database-url", fresh_database_url, "migrate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0, 0, 0], results
    expected = [(m.version, 1) for m in discover_migrations()]
    assert _applied_versions(fresh_database_url) == expected
    applied_lines = sum(out.count("applied ") for out, _ in results)
    assert applied_lines == len(expected)  # one runner did the work, the others found nothing
