"""``llmops backup ...`` and ``llmops retention run``: output, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main
from llmops.store import PostgresStore
from tests.test_backup import (
    CLEAR_PASSWORD,
    CLEAR_TOKEN,
    CLEAR_URL,
    ENV,
    insert_clear_secret_rule,
    seed_configuration,
)


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--database-url", url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> Any:
    code, out, err = run(capsys, url, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_create_list_show_verify(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """create prints the version; list, show and verify find it by version; secrets never print."""
    seed_configuration(store)
    insert_clear_secret_rule(store)
    created = run_json(capsys, database_url, "backup", "create", "-e", ENV, "--creator", "ci")
    assert created["status"] == "completed" and created["sections"]["alertRules"] == 2
    code, out, _ = run(capsys, database_url, "backup", "create", "-e", ENV, "--creator", "ci")
    assert code == 0 and out.startswith("backup ") and "created" in out
    listed = run_json(capsys, database_url, "backup", "list", "-e", ENV)
    assert len(listed) == 2 and listed[1]["version"] == created["version"]
    code, out, _ = run(capsys, database_url, "backup", "list")
    assert code == 0 and created["version"] in out
    shown = run_json(capsys, database_url, "backup", "show", created["version"], "--data")
    assert shown["hash"] == created["hash"] and "backup_data" in shown
    code, out, _ = run(capsys, database_url, "backup", "show", created["version"], "--data")
    assert code == 0 and "sections:" in out
    for text in (json.dumps(shown), out):
        for secret in (CLEAR_URL, CLEAR_PASSWORD, CLEAR_TOKEN):
            assert secret not in text
    code, out, _ = run(capsys, database_url, "backup", "verify", created["version"])
    assert code == 0 and ": ok (" in out


def test_verify_of_a_tampered_backup_fails_in_one_line(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify exits 1 with one line on stderr; --json prints the result and exits 1 too."""
    seed_configuration(store)
    created = run_json(capsys, database_url, "backup", "create", "-e", ENV, "--creator", "ci")
    with store.connection() as conn:
        conn.execute("UPDATE llm_backups SET data_size = data_size + 1")
    code, out, err = run(capsys, database_url, "backup", "verify", created["id"])
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "size mismatch" in err and "Traceback" not in err
    code, out, _ = run(capsys, database_url, "backup", "verify", created["id"], "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_export_import_and_restore_from_file(
    store: PostgresStore, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """export writes a file; import refuses a tampered copy (exit 1) and takes the intact one;
    restore --file restores from it."""
    seeded = seed_configuration(store)
    created = run_json(capsys, database_url, "backup", "create", "-e", ENV, "--creator", "ci")
    path = tmp_path / "backup.json"
    code, out, _ = run(
        capsys, database_url, "backup", "export", created["version"], "-o", str(path)
    )
    assert code == 0 and "exported" in out
    tampered = tmp_path / "tampered.json"
    tampered.write_text(
        path.read_text(encoding="utf-8").replace("gpt-4o-mini", "gpt-4o-mino", 1), encoding="utf-8"
    )
    with store.connection() as conn:
        conn.execute("DELETE FROM llm_backups")
    code, _, err = run(capsys, database_url, "backup", "import", str(tampered))
    assert code == 1 and "hash mismatch" in err and err.count("\n") == 1
    assert store.backups.count() == 0
    imported = run_json(capsys, database_url, "backup", "import", str(path))
    assert imported["id"] == created["id"]
    store.fallback_configs.activate(seeded["configs"][0].id)
    result = run_json(capsys, database_url, "backup", "restore", "--file", str(path))
    assert result["notified"] is True and result["status"] == "completed"


def test_restore_dry_run_then_real(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """restore --dry-run reports without writing; restore then applies; text output lists changes."""
    seeded = seed_configuration(store)
    created = run_json(capsys, database_url, "backup", "create", "-e", ENV, "--creator", "ci")
    store.ab_tests.update(seeded["test"].id, {"name": "renamed"})
    dry = run_json(
        capsys,
        database_url,
        "backup",
        "restore",
        created["id"],
        "--dry-run",
        "--section",
        "abTests",
    )
    assert dry["dryRun"] is True and dry["report"]["abTests"]["restored"] == 1
    assert store.ab_tests.get(seeded["test"].id).name == "renamed"
    code, out, _ = run(
        capsys, database_url, "backup", "restore", created["version"], "--mode", "replace"
    )
    assert code == 0 and "restored backup" in out and "update" in out and "abTests" in out
    assert store.ab_tests.get(seeded["test"].id).name == "flash vs mini"


@pytest.mark.parametrize(
    "case",
    [
        (["backup", "show", "19990101000000000000"], 2, "no such backup"),
        (["backup", "verify", "00000000-0000-0000-0000-000000000000"], 2, "no such backup"),
        (["backup", "import", "/nonexistent/b.json"], 2, "cannot read"),
        (["backup", "restore", "x", "--section", "abTests", "--dry-run"], 2, "no such backup"),
        (["backup", "list", "--limit", "0"], 2, "limit"),
        (["backup", "create", "-e", "staging", "--creator", ""], 2, "at least 1 character"),
        (["retention", "run", "--batch-size", "0"], 2, "batch_size"),
        (["retention", "run", "--fallback-log-days", "-5"], 2, "fallback_log_days"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(
    store: PostgresStore,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    case: tuple[list[str], int, str],
) -> None:
    """Unknown backups, unreadable files and invalid numbers: one stderr line, no traceback."""
    argv, code, message = case
    got, out, err = run(capsys, database_url, *argv)
    assert got == code and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_unreachable_database_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    """No server at the URL: exit 3, one line, no password in it."""
    code = main(["--database-url", "postgresql://u:sekret@127.0.0.1:1/x", "backup", "list"])
    _, err = capsys.readouterr()
    assert code == 3 and "sekret" not in err and err.count("\n") == 1


def test_retention_run_dry_and_real(
    store: PostgresStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """retention run --dry-run counts, the real run deletes the same rows, per table."""
    with store.connection() as conn:
        conn.execute(
            "INSERT INTO llm_fallback_logs (primary_provider, primary_model, success, environment, "
            "created_at) SELECT 'p', 'm', true, 'local', now() - i * interval '1 day' + interval '1 hour' "
            "FROM generate_series(1, 100) i"
        )
    dry = run_json(
        capsys, database_url, "retention", "run", "--dry-run", "--fallback-log-days", "30"
    )
    fallback = next(t for t in dry["tables"] if t["table"] == "llm_fallback_logs")
    assert dry["dry_run"] is True and fallback["deleted"] == 70
    assert store.fallback_logs.count() == 100
    code, out, _ = run(
        capsys, database_url, "retention", "run", "--fallback-log-days", "30", "--batch-size", "7"
    )
    assert code == 0 and "deleted 70 rows in all (batch size 7)" in out
    assert store.fallback_logs.count() == 30
