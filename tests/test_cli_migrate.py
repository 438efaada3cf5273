"""`llmops migrate` and the CLI's handling of user mistakes and unreachable databases."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from llmops.cli import main


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmops.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_migrate_then_status_as_json(
    fresh_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """migrate applies every file; --status --json lists them applied and none pending."""
    assert main(["--database-url", fresh_database_url, "migrate"]) == 0
    assert "applied 001_seed_schema.sql" in capsys.readouterr().out
    assert main(["--database-url", fresh_database_url, "migrate", "--status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == [] and status["changed"] == []
    assert [a["name"] for a in status["applied"]][:2] == ["seed_schema", "llmops_core"]


def test_status_of_empty_database_lists_pending(
    fresh_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--status on an empty database shows every migration as pending and changes nothing."""
    assert main(["--database-url", fresh_database_url, "migrate", "--status"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^001\s+seed_schema\s+pending", out, re.M)
    assert main(["--database-url", fresh_database_url, "migrate", "--status"]) == 0


def test_unreachable_database_is_one_line_and_nonzero() -> None:
    """A server that cannot be reached: one line on stderr, no traceback, no password, exit 3."""
    result = _run("--database-url", "postgresql://app:hunter2@127.0.0.1:1/app", "migrate")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmops: error: cannot connect to PostgreSQL")
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_no_database_configured_explains_how() -> None:
    """Without --database-url or LLMOPS_DATABASE_URL the CLI says how to provide one (exit 2)."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "LLMOPS_DATABASE_URL"}
    result = _run("migrate", env=env)
    assert result.returncode == 2
    assert "LLMOPS_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_database_url_is_accepted_after_the_command(
    fresh_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`llmops migrate --database-url URL` works like `llmops --database-url URL migrate`."""
    assert main(["migrate", "--database-url", fresh_database_url]) == 0
    assert "applied 001_seed_schema.sql" in capsys.readouterr().out
    assert main(["migrate", "--status", "--json", "--database-url", fresh_database_url]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == []


def test_database_url_given_first_is_not_reset_by_the_command(
    fresh_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --database-url before the command survives the command's own (suppressed) default."""
    assert main(["--database-url", fresh_database_url, "migrate"]) == 0
    assert "applied" in capsys.readouterr().out
